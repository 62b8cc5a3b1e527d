"""Releases made ahead of their first reader (issue 20): when a period's grace window ends the
service makes its release in the background, so a peer's first page reads a stored one.
What gets made, and when, must follow the clock only, and must equal what a reader makes."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

from geo_service.auth import Role, create_key
from geo_service.deployment import Deployment
from geo_service.periods import DAY_S, Period, parse_period
from geo_service.services.releases import choice as choosing
from geo_service.services.releases import get_release, late_rows
from geo_service.services.releases.ahead import ReleaseMaker, due_periods
from geo_service.services.releases.making import make_release
from geo_service.settings import EventKind
from geo_service.storage import BatchRecord, EventRows
from geo_service.storage.sql import SqlStore, open_store
from tests.conftest import make_settings

MAY = "2025-05"


def rows_at(deployment: Deployment, when: int, cells: list[int]) -> Any:
    kind = "needle_report"
    ix, iy = deployment.study_cells(deployment.cell_m(EventKind(kind)))
    n = len(cells)
    none: list[Any] = [None] * n
    return EventRows(
        kind=[kind] * n, cell_m=np.full(n, deployment.cell_m(EventKind(kind)), np.int64),
        cell_ix=ix[cells], cell_iy=iy[cells], bucket_start=np.full(n, when, np.int64),
        bucket_hours=np.ones(n, np.int64), count=np.ones(n, np.int64),
        source=none, fatal=none, naloxone_doses=none, place_type=none,
    )  # fmt: skip


def send(store: SqlStore, deployment: Deployment, program: str, rows: EventRows) -> None:
    """``rows`` sent by a new peer key of ``program``, checked for lateness as ingest does."""
    key_id, _ = create_key(store, program=program, role=Role.PEER)
    program_id = store.program_id(program)
    assert program_id is not None
    import dataclasses

    rows = dataclasses.replace(rows, late=late_rows(store, deployment, program_id, rows))
    record = BatchRecord(uuid.uuid4().hex, program_id, key_id, "events", None, "x", "2025-06-01")
    store.store_events(record, rows)


def busy_month(store: SqlStore, deployment: Deployment, program: str = "town") -> None:
    """Six keys × six reports in one square in May, and a few in other squares."""
    may_10 = int(parse_period(MAY, deployment).start) + 9 * DAY_S
    for reporter in range(6):
        send(store, deployment, program, rows_at(deployment, may_10 + reporter * 3600, [7] * 6))
    send(store, deployment, program, rows_at(deployment, may_10, [1, 2, 3]))


def pid(store: SqlStore, name: str) -> int:
    program_id = store.program_id(name)
    assert program_id is not None
    return program_id


def after_grace(period: Period, hours: float = 1.0, grace_days: int = 7) -> float:
    return period.end + grace_days * DAY_S + hours * 3600


@pytest.fixture
def town(tmp_path: Path) -> Any:
    settings = make_settings(tmp_path)
    store = open_store(settings.database_url)
    yield store, Deployment(settings)
    store.close()


def test_a_period_is_made_when_its_grace_ends_without_any_reader(town: Any) -> None:
    store, deployment = town
    busy_month(store, deployment)
    program_id = pid(store, "town")
    may = parse_period(MAY, deployment)
    maker = ReleaseMaker(store, deployment, every_s=0)
    assert maker.tick(now=after_grace(may, hours=-1)) == []  # still in its grace window
    assert store.released_periods(program_id) == set()
    outcomes = maker.tick(now=after_grace(may))
    assert {(o.kind, o.period, o.result) for o in outcomes} == {
        (kind.value, MAY, "made") for kind in EventKind
    }
    stored = store.release(program_id, "needle_report", MAY)
    assert stored is not None
    assert orjson.loads(stored.body)["cells"][0][3] == 36  # the busy square, all six keys
    assert [o.result for o in maker.tick(now=after_grace(may, 2))] == ["stored"] * 3
    # A report sent now for May is late: it enters no release, as after a reader's visit.
    late = rows_at(deployment, int(may.start) + 86_400, [7])
    assert late_rows(store, deployment, program_id, late).all()


def test_periods_long_past_are_left_to_their_first_reader(town: Any) -> None:
    """Importing a program's history must not find its periods frozen (empty) already."""
    store, deployment = town
    busy_month(store, deployment)
    may = parse_period(MAY, deployment)
    later = after_grace(may) + 8 * DAY_S  # a whole grace window after May was published
    assert [p.label for p in due_periods(deployment, store.publication(1), now=later)] == []
    assert ReleaseMaker(store, deployment, every_s=0).tick(now=later) == []


def test_a_release_made_ahead_is_the_one_a_reader_would_make(tmp_path: Path) -> None:
    made = []
    for name, ahead in (("ahead", True), ("reader", False)):
        (tmp_path / name).mkdir()
        settings = make_settings(tmp_path / name)
        store = open_store(settings.database_url)
        deployment = Deployment(settings)
        busy_month(store, deployment)
        may = parse_period(MAY, deployment)
        if ahead:
            ReleaseMaker(store, deployment, every_s=0).tick(now=after_grace(may))
        release = get_release(
            store, deployment, settings, program_id=pid(store, "town"),
            kind=EventKind.NEEDLE_REPORT, period=may, now=after_grace(may, 5),
        )  # fmt: skip
        made.append((release.content_hash, release.features, release.by_hour))
        store.close()
    assert made[0] == made[1]


def test_two_makers_at_once_end_with_one_release(any_store: SqlStore, tmp_path: Path) -> None:
    """Two workers (two stores on one database) make May at the same moment: both compute
    before either stores; one release is stored, made once, and both read it back."""
    url = any_store.engine.url.render_as_string(hide_password=False)
    deployment = Deployment(make_settings(tmp_path))  # the defaults; the store is any_store
    busy_month(any_store, deployment)
    other = open_store(url)
    both_computed = threading.Barrier(2, timeout=30)
    original = make_release

    def racing(*args: Any, **kwargs: Any) -> Any:
        candidate = original(*args, **kwargs)
        both_computed.wait()
        return candidate

    may = parse_period(MAY, deployment)
    results: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(choosing, "make_release", racing)
        threads = [
            threading.Thread(
                target=lambda s=store: results.append(
                    ReleaseMaker(s, deployment, every_s=0).tick(now=after_grace(may))
                )
            )
            for store in (any_store, other)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    try:
        assert len(results) == 2
        program_id = pid(any_store, "town")
        mine, theirs = (s.release(program_id, "needle_report", MAY) for s in (any_store, other))
        assert mine is not None and mine == theirs
        made = [e for e in any_store.audit_rows(program_id) if e.action == "release.made"]
        assert len(made) == len(EventKind)  # once per kind, not once per maker
    finally:
        other.close()


def test_when_releases_are_made_tells_nothing_about_anyones_reports(town: Any) -> None:
    """Attack: a peer sends a backdated report to learn, from whether it comes back late,
    whether (and so when) others reported. Two programs, one busy in May and one whose only
    report is a single old one, get the same periods made at the same moments."""
    store, deployment = town
    busy_month(store, deployment, "busy")
    january = int(parse_period("2025-01", deployment).start) + DAY_S
    send(store, deployment, "quiet", rows_at(deployment, january, [4]))
    may = parse_period(MAY, deployment)
    maker = ReleaseMaker(store, deployment, every_s=0)
    for now in (after_grace(may, -1), after_grace(may), after_grace(may, 30)):
        maker.tick(now=now)
        made = {name: store.released_periods(pid(store, name)) for name in ("busy", "quiet")}
        assert made["busy"] == made["quiet"]
        probe = rows_at(deployment, int(may.start) + DAY_S, [9])
        assert (
            late_rows(store, deployment, pid(store, "busy"), probe).tolist()
            == late_rows(store, deployment, pid(store, "quiet"), probe).tolist()
        )


def test_geo_service_releases_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cron command makes the latest published periods (here the year holding May, with
    its months) and says what it did; a second run makes nothing new."""
    from geo_service.cli import app
    from geo_service.settings import get_settings

    settings = make_settings(tmp_path)
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    store = open_store(settings.database_url)
    busy_month(store, Deployment(settings))
    runner = CliRunner()
    first = runner.invoke(app, ["releases", "make"])
    assert first.exit_code == 0, first.output
    assert "town needle_report 2025: made" in first.output
    program_id = pid(store, "town")
    year = store.release(program_id, "needle_report", "2025")
    assert year is not None and orjson.loads(year.body)["events"] == 39
    assert ("needle_report", MAY) in store.released_periods(program_id)
    again = runner.invoke(app, ["releases", "make", "--program", "town"])
    assert again.exit_code == 0 and ": made" not in again.output
    assert "0 made" in again.output
    unknown = runner.invoke(app, ["releases", "make", "--program", "nowhere"])
    assert unknown.exit_code == 2
    store.close()
    get_settings.cache_clear()


def test_the_server_makes_them_at_start_up(tmp_path: Path) -> None:
    """A worker started once May's grace has ended makes May's release by itself; stopping
    the app stops its maker."""
    import types

    from fastapi.testclient import TestClient

    from geo_service.main import create_app
    from geo_service.services.releases import ahead

    settings = make_settings(tmp_path, releases_ahead_minutes=60)
    store = open_store(settings.database_url)
    deployment = Deployment(settings)
    busy_month(store, deployment)
    may = parse_period(MAY, deployment)
    clock = types.SimpleNamespace(time=lambda: after_grace(may))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ahead, "time", clock)
        with TestClient(create_app(settings)):
            for _ in range(200):
                if ("needle_report", MAY) in store.released_periods(pid(store, "town")):
                    break
                threading.Event().wait(0.05)
    assert ("needle_report", MAY) in store.released_periods(pid(store, "town"))
    assert not any(t.name == "releases" for t in threading.enumerate())
    store.close()
