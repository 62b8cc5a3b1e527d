"""Issue 20 made making a release faster; what it stores must not change by one byte. The
path as it was (``release_oracle``: its row fetch, once per period made, its month rebuild,
the dense differencing check) makes the same releases from the same random reports, and
both must store the same body and content hash."""

from __future__ import annotations

import dataclasses
import functools
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_service.auth import Role, create_key
from geo_service.deployment import Deployment
from geo_service.periods import DAY_S, parse_period
from geo_service.services.releases import ReleaseWithheld, get_release, late_rows, making
from geo_service.settings import EventKind
from geo_service.storage import BatchRecord, EventRows, ProgramPublication
from geo_service.storage.sql import SqlStore, open_store
from tests.analysis.test_publication import dense_leak
from tests.conftest import make_settings
from tests.geo_service.release_oracle import old_event_atoms, old_rebuild, old_within

NOW = time.time()
SQUARES = 4  # neighbouring squares, so that failing ones roll up together


@contextmanager
def old_path(store: SqlStore) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(making, "_rebuild", old_rebuild)
        patch.setattr(making, "find_differencing_leak", dense_leak)
        patch.setattr(store, "event_atoms", functools.partial(old_event_atoms, store))
        patch.setattr(making.PeriodRows, "within", old_within)
        yield


# A burst of reports: (reporter or None for an import without a key, month, square, hour,
# day-only) × how many; most in the second quarter, so that months release squares and
# quarters nest on them.
burst = st.tuples(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 3)),
        st.one_of(st.integers(3, 5), st.integers(3, 5), st.integers(0, 11)),
        st.integers(0, SQUARES - 1),
        st.integers(0, 700),
        st.booleans(),
    ),
    st.integers(1, 9),
)
report = burst.map(lambda b: [(*b[0][:3], b[0][3] + i * 5, b[0][4]) for i in range(b[1])])
reports = st.lists(report, max_size=25).map(lambda bursts: [r for b in bursts for r in b])
scenario = st.fixed_dictionaries(
    {
        "reports": reports.filter(bool),
        "late": st.lists(report, max_size=2).map(
            lambda bursts: [r for b in bursts for r in b]
        ),  # sent after the first release was made
        "drop": st.sampled_from([1, 2]),
        "period": st.sampled_from(["2025-05", "2025-Q2", "2025-H1", "2025"]),
        "first": st.sampled_from(["2025-04", "2025-05", "2025-06"]),  # made before 'late'
    }
)


def rows_of(deployment: Deployment, reports: list[tuple[Any, ...]]) -> EventRows:
    ix, iy = deployment.study_cells(deployment.cell_m(EventKind.NEEDLE_REPORT))
    centre = len(ix) // 2
    n = len(reports)
    year = parse_period("2025", deployment).start
    start = [int(year + month * 31 * DAY_S // 1 + hour * 3600) for _, month, _, hour, _ in reports]
    none: list[Any] = [None] * n
    return EventRows(
        kind=["needle_report"] * n, cell_m=np.full(n, 125, np.int64),
        cell_ix=ix[[centre + r[2] for r in reports]], cell_iy=iy[[centre + r[2] for r in reports]],
        bucket_start=np.array(start, np.int64), bucket_hours=np.ones(n, np.int64),
        count=np.array([1 + r[3] % 4 for r in reports], np.int64),
        source=none, fatal=none, naloxone_doses=none, place_type=none,
    )  # fmt: skip


def send(store: SqlStore, deployment: Deployment, keys: list[int], batch: list[Any]) -> None:
    """Each report as its own batch, from its key (None: an import without one)."""
    program_id = store.program_id("town")
    assert program_id is not None
    for one in batch:
        rows = rows_of(deployment, [one])
        day_only = one[4]
        rows = dataclasses.replace(rows, late=late_rows(store, deployment, program_id, rows))
        if day_only:  # a date only: out of the hour-of-week profile
            rows = dataclasses.replace(rows, time_precision=["day"])
        key = None if one[0] is None else keys[one[0]]
        record = BatchRecord(uuid.uuid4().hex, program_id, key, "events", None, "x", "2025-06-01")
        store.store_events(record, rows)


def releases_made(tmp: Path, case: dict[str, Any], old: bool) -> dict[str, Any]:
    settings = make_settings(tmp)
    store = open_store(settings.database_url)
    deployment = Deployment(settings)
    keys = [create_key(store, program="town", role=Role.PEER)[0] for _ in range(4)]
    program_id = store.program_id("town")
    assert program_id is not None
    store.set_publication(program_id, ProgramPublication(drop_top_keys=case["drop"]))
    made: dict[str, Any] = {}

    def make(label: str) -> None:
        try:
            release = get_release(
                store, deployment, settings, program_id=program_id,
                kind=EventKind.NEEDLE_REPORT, period=parse_period(label, deployment), now=NOW,
            )  # fmt: skip
            made[label] = release.content_hash
        except ReleaseWithheld:
            made[label] = "withheld"

    try:
        with old_path(store) if old else _nothing():
            send(store, deployment, keys, case["reports"])
            make(case["first"])
            send(store, deployment, keys, case["late"])  # late, or racing a longer period
            make(case["period"])
        stored = {label: store.release(program_id, "needle_report", label) for _, label in
                  store.released_periods(program_id)}  # fmt: skip
        made["stored"] = {k: (v.body, v.content_hash) for k, v in stored.items() if v}
    finally:
        store.close()
    return made


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=scenario)
def test_the_new_path_stores_exactly_what_the_old_one_did(
    tmp_path: Path, case: dict[str, Any]
) -> None:
    run = tmp_path / uuid.uuid4().hex
    (run / "new").mkdir(parents=True)
    (run / "old").mkdir()
    new = releases_made(run / "new", case, old=False)
    old = releases_made(run / "old", case, old=True)
    assert new == old
    assert new["stored"]  # something was made each time


def test_a_year_made_from_nothing_reads_its_rows_once(tmp_path: Path) -> None:
    """Its half-years, quarters and months are made from the same read (19 reads before)."""
    settings = make_settings(tmp_path)
    store = open_store(settings.database_url)
    deployment = Deployment(settings)
    keys = [create_key(store, program="town", role=Role.PEER)[0] for _ in range(4)]
    send(store, deployment, keys, [(r % 4, 4, 0, r, False) for r in range(12)])
    reads: list[tuple[int | None, int | None]] = []
    read = store.event_atoms

    def counted(*args: Any, start: int | None, end: int | None) -> Any:
        reads.append((start, end))
        return read(*args, start=start, end=end)

    year = parse_period("2025", deployment)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "event_atoms", counted)
        release = get_release(
            store, deployment, settings, program_id=store.program_id("town") or 0,
            kind=EventKind.NEEDLE_REPORT, period=year, now=NOW,
        )  # fmt: skip
    assert reads == [(year.start, year.end)]
    assert release.total == 12 and len(store.released_periods(store.program_id("town") or 0)) == 19
    store.close()
