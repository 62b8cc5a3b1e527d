"""Rules evaluated at ingest, with known answers on hand-built programs: fixed windows and
their edges, naloxone doses, EARS C2 and EWMA against analysis on the same series, the
minimum-count guard, one alert per rule/area/day, the release rule's ``releasable``, and
auto_send that one reporting key can never trigger."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from analysis.ears import HISTORY_DAYS, Method, detect_ears
from analysis.ewma import detect_ewma, ewma_history_days
from geo_service.auth import Role, create_key
from geo_service.services.alerts import evaluate
from geo_service.services.alerts.areas import coarse_cell_m
from geo_service.services.alerts.evaluate import evaluate_rules
from geo_service.storage.alert_records import PROGRAM_AREA, StoredAlert
from tests.conftest import fresh_postgres_database
from tests.geo_service.alert_fixtures import (
    DAY,
    HOUR,
    NOW,
    Town,
    add_rule,
    alert_town,
    cell,
    rows,
    store_rows,
)


@pytest.fixture
def town(tmp_path: Path) -> Iterator[Town]:
    with alert_town(tmp_path) as opened:
        yield opened


EARS: dict[str, Method] = {"ears_c1": "C1", "ears_c2": "C2", "ears_c3": "C3"}


def run(town: Town, now: int = NOW) -> list[StoredAlert]:
    return evaluate_rules(
        town.store, town.deployment, town.program_id, now=now, settings=town.settings
    )


def coarse_key(town: Town, where: tuple[int, int, int]) -> str:
    size, ix, iy = where
    factor = coarse_cell_m(town.deployment.grid) // size
    return f"cell:{size * factor}:{ix // factor}:{iy // factor}"


def daily_rows(town: Town, counts: list[int], where: tuple[int, int, int]) -> None:
    """``counts[i]`` overdoses on the local day ``len(counts) - 1 - i`` days before NOW's,
    each in the 06:00 block (before NOW, noon)."""
    starts = []
    for back, n in enumerate(reversed(counts)):
        starts += [NOW - 6 * HOUR - back * DAY] * n
    store_rows(town, rows("overdose", starts, where))


# -- fixed rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "drafted"), [(3, 1), (4, 0)])
def test_three_overdoses_in_24_hours(town: Town, threshold: int, drafted: int) -> None:
    where = cell(town.deployment, "overdose")
    add_rule(town, "count", threshold=threshold, areas="cells")
    store_rows(town, rows("overdose", [NOW - 6 * HOUR, NOW - 12 * HOUR, NOW - 18 * HOUR], where))
    alerts = run(town)
    assert len(alerts) == drafted
    if drafted:
        (alert,) = alerts
        assert alert.area == coarse_key(town, where)
        assert alert.observed == 3
        assert alert.status == "drafted"
        assert alert.day == "2026-06-15"
        assert (alert.window_start, alert.window_end) == (NOW - 24 * HOUR, NOW)
        assert "km" in alert.area_name or "centre" in alert.area_name


def test_a_bucket_ending_24_hours_ago_is_outside_the_window(town: Town) -> None:
    where = cell(town.deployment, "overdose")
    add_rule(town, "count", threshold=3, areas="program")
    # The block 06:00-12:00 yesterday ends exactly where the window opens: not counted.
    store_rows(town, rows("overdose", [NOW - 6 * HOUR, NOW - 12 * HOUR, NOW - 30 * HOUR], where))
    assert run(town) == []
    # The block 12:00-18:00 yesterday overlaps it: counted.
    store_rows(town, rows("overdose", [NOW - 24 * HOUR], where))
    (alert,) = run(town)
    assert (alert.area, alert.observed) == (PROGRAM_AREA, 3)


def test_one_hour_window_on_needle_reports(town: Town) -> None:
    where = cell(town.deployment, "needle_report")
    add_rule(town, "count", kind="needle_report", threshold=3, window_hours=1, areas="program")
    store_rows(town, rows("needle_report", [NOW - HOUR] * 2 + [NOW - 2 * HOUR] * 5, where))
    assert run(town) == []  # two in the last hour; the five an hour before are outside
    store_rows(town, rows("needle_report", [NOW - HOUR], where))
    (alert,) = run(town)
    assert alert.observed == 3
    assert alert.window_start == NOW - HOUR


@pytest.mark.parametrize(("threshold", "drafted"), [(5, True), (6, False)])
def test_naloxone_doses_rule(town: Town, threshold: int, drafted: bool) -> None:
    where = cell(town.deployment, "overdose")
    add_rule(town, "naloxone", threshold=threshold, areas="program")
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 3, where, naloxone=[2, 3, None]))
    alerts = run(town)
    assert bool(alerts) is drafted
    if drafted:
        assert alerts[0].observed == 5
        assert alerts[0].releasable == 2  # 3 reports, each its own reporter, less the largest


# -- daily rules ---------------------------------------------------------------------------------


def test_ears_c2_equals_analysis_on_the_same_series(town: Town) -> None:
    series = [2, 2, 2, 2, 2, 2, 2, 9, 9, 4]  # C2 on the last day: (4 - 2) / 0.5 = 4
    daily_rows(town, series, cell(town.deployment, "overdose"))
    add_rule(town, "ears_c2", threshold=3, areas="program")
    (alert,) = run(town)
    expected = detect_ears(np.array([series], dtype=float), method="C2")
    assert alert.statistic == pytest.approx(float(expected.statistic[0, -1]))
    assert alert.statistic == pytest.approx(4.0)
    assert alert.expected == pytest.approx(2.0)
    assert (alert.observed, alert.level, alert.area) == (4, 2, PROGRAM_AREA)
    day_start = NOW - 12 * HOUR  # local midnight
    assert (alert.window_start, alert.window_end) == (day_start, NOW)
    assert len(series) == HISTORY_DAYS["C2"]


@pytest.mark.parametrize("method", ["ears_c1", "ears_c2", "ears_c3"])
@pytest.mark.parametrize(
    ("series", "options"),
    [
        ([1, 0, 2, 1, 0, 1, 2, 0, 1, 0, 1, 6], {}),
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], {}),  # C3 = 3: the three-day sum of C2 - 1
        ([3, 1, 2, 1, 3, 2, 1, 2, 3, 2, 1, 4], {"threshold": 1.5, "min_sigma": 1.0}),
        ([3, 1, 2, 1, 3, 2, 1, 2, 3, 2, 1, 4], {"threshold": "high", "min_sigma": -1}),
    ],
)
def test_each_ears_method_drafts_what_analysis_says(
    town: Town, method: str, series: list[int], options: dict[str, object]
) -> None:
    daily_rows(town, series, cell(town.deployment, "overdose"))
    add_rule(town, method, threshold=1, areas="program", options=options)
    alerts = run(town)
    usable = {k: v for k, v in options.items() if isinstance(v, float)}  # bad ones: defaults
    expected = detect_ears(
        np.array([series], dtype=float),
        method=EARS[method],
        min_sigma=usable.get("min_sigma", 0.5),
        threshold=usable.get("threshold"),
    )
    assert len(alerts) == int(expected.alarm[0, -1])
    if alerts:
        assert alerts[0].statistic == pytest.approx(float(expected.statistic[0, -1]))
        assert alerts[0].observed == series[-1]


@pytest.mark.parametrize(
    ("today", "alarm_at", "level"), [(3, "yellow", 1), (4, "red", 2), (3, "red", 0)]
)
def test_ewma_yellow_and_red(town: Town, today: int, alarm_at: str, level: int) -> None:
    base = [
        1,
        2,
        1,
        0,
        2,
        1,
        1,
        3,
        1,
        0,
        2,
        1,
        2,
        1,
        0,
        1,
        2,
        1,
        1,
        2,
        0,
        1,
        2,
        1,
        1,
        2,
        1,
        0,
        1,
        2,
    ]
    daily_rows(town, [*base, today], cell(town.deployment, "overdose"))
    add_rule(town, "ewma", threshold=3, areas="program", options={"alarm_at": alarm_at})
    alerts = run(town)
    padded = np.array([[0] * (ewma_history_days() - len(base) - 1) + base + [today]], dtype=float)
    assert int(detect_ewma(padded, last_days=1).level[0, -1]) >= level
    assert [a.level for a in alerts] == ([level] if level else [])


@pytest.mark.parametrize(("today", "drafted"), [(2, False), (3, True)])
def test_minimum_count_guard(town: Town, today: int, drafted: bool) -> None:
    # C1 of 2 after seven empty days is (2 - 0) / 0.5 = 4 >= 3, but 2 < the rule's 3.
    daily_rows(town, [0] * 7 + [today], cell(town.deployment, "overdose"))
    add_rule(town, "ears_c1", threshold=3, areas="program")
    assert bool(run(town)) is drafted


def test_a_second_batch_the_same_day_drafts_no_second_alert(town: Town) -> None:
    where = cell(town.deployment, "overdose")
    add_rule(town, "count", threshold=3, areas="program")
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 3, where))
    assert len(run(town)) == 1
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 2, where))
    assert run(town, NOW + HOUR) == []
    assert len(town.store.list_alerts(town.program_id)) == 1
    # The next local day is a new day.
    assert len(run(town, NOW + DAY - 6 * HOUR)) == 1


# -- releasable and auto_send --------------------------------------------------------------------


def _peer(town: Town) -> int:
    key_id, _ = create_key(town.store, program="town", role=Role.PEER)
    return key_id


def test_releasable_leaves_out_the_largest_reporting_key(town: Town) -> None:
    where = cell(town.deployment, "overdose")
    add_rule(town, "count", threshold=3, areas="program")
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 5, where), key_id=_peer(town))
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 3, where))  # key-less: 3 reporters
    (alert,) = run(town)
    assert (alert.observed, alert.releasable) == (8, 3)


def test_auto_send_with_one_key_stays_a_draft(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(evaluate, "deliver_alert", lambda *a: sent.append(a[3]))
    add_rule(town, "count", threshold=3, areas="program", auto_send=True)
    where = cell(town.deployment, "overdose")
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 9, where), key_id=_peer(town))
    (alert,) = run(town)
    assert (alert.status, alert.releasable, sent) == ("drafted", 0, [])


def test_auto_send_with_enough_reporters_sends_and_delivers(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(evaluate, "deliver_alert", lambda *a: sent.append(a[3]))
    add_rule(town, "count", threshold=3, areas="program", auto_send=True)
    where = cell(town.deployment, "overdose")
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 6, where))  # six key-less reports
    (alert,) = run(town)
    # 6 reports less the largest reporter's 1 = 5 = k for peers (the floor): sent.
    assert (alert.status, alert.releasable, alert.decided_at) == ("sent", 5, NOW)
    assert sent == [alert.id]
    assert town.store.alert(town.program_id, alert.id).status == "sent"  # type: ignore[union-attr]
    audit = [row.action for row in town.store.audit_rows(town.program_id)]
    assert "alert.auto_send" in audit


@pytest.mark.parametrize(("drop", "status", "left"), [(None, "sent", 6), (2, "drafted", 0)])
def test_an_insider_with_two_keys_needs_the_stewards_two_key_rule(
    town: Town, monkeypatch: pytest.MonkeyPatch, drop: int | None, status: str, left: int
) -> None:
    from geo_service.storage import ProgramPublication

    monkeypatch.setattr(evaluate, "deliver_alert", lambda *_: None)
    town.store.set_publication(town.program_id, ProgramPublication(drop_top_keys=drop))
    add_rule(town, "count", threshold=3, areas="program", auto_send=True)
    where = cell(town.deployment, "overdose")
    for _ in range(2):  # one person, two peer keys, six reports each
        store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 6, where), key_id=_peer(town))
    (alert,) = run(town)
    # The default drops the largest key (as releases do); a steward may drop the two largest.
    assert (alert.status, alert.releasable) == (status, left)


def test_auto_send_below_k_stays_a_draft(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate, "deliver_alert", lambda *_: pytest.fail("delivered"))
    add_rule(town, "count", threshold=3, areas="program", auto_send=True)
    store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 5, cell(town.deployment, "overdose")))
    (alert,) = run(town)
    assert (alert.status, alert.releasable) == ("drafted", 4)  # 4 < k = 5


# -- at ingest, through HTTP ---------------------------------------------------------------------


def _overdoses_now(n: int) -> dict[str, object]:
    from tests.conftest import collection, feature

    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    return collection(*[feature(kind="overdose", observed_at=at) for _ in range(n)])


def _http_rule(store: object, program_id: int) -> None:
    from geo_service.storage.alert_records import NewAlertRule

    store.add_alert_rule(  # type: ignore[attr-defined]
        NewAlertRule(program_id, "3 in 24 h", "overdose", "count", 24, 3, "program", False, "{}", 0)
    )


def test_a_burst_posted_to_the_api_drafts_an_alert(
    client: TestClient, store: object, keys: dict[str, dict[str, str]]
) -> None:
    _http_rule(store, store.program_id("town"))  # type: ignore[attr-defined]
    response = client.post("/v1/events", json=_overdoses_now(3), headers=keys["manager"])
    assert response.status_code in (200, 201), response.text
    evaluate.settled()  # evaluated in the background: the answer never waits for it
    alerts = store.list_alerts(store.program_id("town"))  # type: ignore[attr-defined]
    assert [(a.area, a.observed, a.status) for a in alerts] == [(PROGRAM_AREA, 3, "drafted")]


def test_an_error_in_evaluation_leaves_the_batch_stored(
    client: TestClient,
    store: object,
    keys: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: object, **__: object) -> list[StoredAlert]:
        raise RuntimeError("secret detail 54.7682")

    monkeypatch.setattr(evaluate, "evaluate_rules", broken)
    program_id = store.program_id("town")  # type: ignore[attr-defined]
    _http_rule(store, program_id)
    response = client.post("/v1/events", json=_overdoses_now(3), headers=keys["manager"])
    assert response.status_code in (200, 201), response.text
    evaluate.settled()
    assert response.json()["accepted"] == 3
    assert store.count_rows(program_id)["events"] == 3  # type: ignore[attr-defined]
    assert store.list_alerts(program_id) == []  # type: ignore[attr-defined]
    assert "RuntimeError" in caplog.text
    assert "54.7682" not in caplog.text and "secret detail" not in caplog.text


# -- PostgreSQL too ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_end_to_end_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    sent: list[int] = []
    monkeypatch.setattr(evaluate, "deliver_alert", lambda *a: sent.append(a[3]))
    with fresh_postgres_database(server) as url, alert_town(tmp_path, url) as town:
        where = cell(town.deployment, "overdose")
        add_rule(town, "count", threshold=3, areas="program", auto_send=True)
        daily_rows(town, [2, 2, 2, 2, 2, 2, 2, 9, 9, 4], where)
        add_rule(town, "ears_c2", threshold=3, areas="program")
        store_rows(town, rows("overdose", [NOW - 6 * HOUR] * 5, where), key_id=_peer(town))
        alerts = {a.rule_id: a for a in run(town)}
        assert len(alerts) == 2
        count, c2 = alerts[1], alerts[2]
        # Today's 06:00 block (4 + the peer's 5); yesterday's ends where the window opens.
        assert (count.observed, count.releasable, count.status) == (9, 4, "drafted")
        assert (c2.observed, c2.level) == (9, 2)
        assert c2.statistic == pytest.approx(14.0)
        assert sent == []
