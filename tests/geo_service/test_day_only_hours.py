"""Events with a date but no time of day (time_precision 'day') are left out of every
hour-of-week table, and the answer says how many: 88 % of one real EMS file was date-only,
and counted at midnight it made every hour table meaningless (issue 16 part 6)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.periods import parse_period
from geo_service.services.releases import get_release
from geo_service.settings import EventKind
from tests.conftest import collection, feature, service_site
from tests.geo_service.test_insider_attacks_round2 import peers
from tests.geo_service.test_insiders import HOT, store_as


def _coverage(client: TestClient, headers: dict[str, str]) -> Any:
    answer = client.get(
        "/v1/coverage?service=naloxone&kind=needle_report&minutes=5&period=2025-05",
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    return result


def test_coverage_leaves_dates_without_times_out_of_its_hour_tables(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    sites = collection(service_site("Office", ["naloxone"], "Mo-Fr 09:00-17:00"))
    assert client.post("/v1/sites", json=sites, headers=keys["manager"]).status_code == 201
    events = collection(
        feature(observed_at="2025-05-05T02:30:00-05:00"),  # a Monday, 2:30 a.m.
        feature(observed_at="2025-05-06"),  # a Tuesday, hour unknown
        feature(observed_at="2025-05-06"),
    )
    assert client.post("/v1/events", json=events, headers=keys["manager"]).status_code == 201
    result = _coverage(client, keys["manager"])
    by_hour = result["by_hour"]
    # Only the timed report is in the week table: at midnight the two would be Tuesday 0h.
    assert sum(sum(day) for day in by_hour["events"]) == 1.0
    assert by_hour["events"][0][2] == 1.0 and by_hour["events"][1][0] == 0.0
    assert result["events"] == 1.0 and result["share_open"] == 0.0
    assert by_hour["left_out"] == (
        "2 events with a date but no time of day are left out of the hour-of-week tables "
        "and the open-hours shares"
    )


def test_without_dates_only_the_answer_has_no_left_out_note(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    sites = collection(service_site("Office", ["naloxone"], "24/7"))
    client.post("/v1/sites", json=sites, headers=keys["manager"])
    events = collection(feature(observed_at="2025-05-05T02:30:00-05:00"))
    client.post("/v1/events", json=events, headers=keys["manager"])
    assert "left_out" not in _coverage(client, keys["manager"])["by_hour"]


def _release(app: FastAPI) -> Any:
    store = app.state.store
    return get_release(
        store,
        app.state.deployment,
        app.state.settings,
        program_id=store.get_or_create_program("town"),
        kind=EventKind.NEEDLE_REPORT,
        period=parse_period("2025-05", app.state.deployment),
        now=time.time(),
    )


@pytest.mark.usefixtures("client")  # the app's lifespan is running
def test_a_release_profiles_hours_from_timed_reports_only(app: FastAPI) -> None:
    crews = peers(app, 9)
    for headers in crews[:6]:  # six peers, Monday 10:xx
        store_as(app, headers, [feature(*HOT, observed_at="2025-05-05T10:15:00-05:00")])
    for headers in crews[6:]:  # three peers, a date only
        store_as(app, headers, [feature(*HOT, observed_at="2025-05-06")])
    release = _release(app)
    assert release.day_only == 3
    assert sum(c.count for c in release.features) >= 9  # all nine are released
    # The profile holds the six timed reports, none of the three at Tuesday midnight.
    assert round(sum(release.by_hour), 6) == 6.0
    assert release.by_hour[24] < 1.0  # Tuesday 0h: only the pooled remainder, if any


def test_a_planner_is_told_about_left_out_reports_only_in_safe_numbers() -> None:
    """Attack: the note's count is a subset of released reports; below k it would be a small
    number of its own, so a planner sees 'fewer than k' instead."""
    from geo_service.services.coverage import HourShares

    week: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    assert HourShares(week, week, None, 5, 2.0).left_out == (
        "fewer than 5 events with a date but no time of day are left out of the hour-of-week "
        "tables and the open-hours shares"
    )
    assert HourShares(week, week, None, 5, 7.0).left_out is not None
    assert "7 events" in str(HourShares(week, week, None, 5, 7.0).left_out)
    assert HourShares(week, week, None, 5, 0.0).left_out is None


def test_a_manager_reads_precision_and_naloxone_given_back(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    events = collection(
        feature(kind="overdose", observed_at="2025-05-06", naloxone_given=True),
        feature(kind="overdose", observed_at="2025-05-05T02:30:00-05:00", naloxone_given=False),
    )
    sent = client.post("/v1/events", json=events, headers=keys["manager"])
    assert sent.status_code == 201, sent.text
    read = client.get("/v1/events", params={"kind": "overdose"}, headers=keys["manager"])
    props = sorted(
        (f["properties"]["time_precision"], f["properties"]["naloxone_given"])
        for f in read.json()["features"]
    )
    assert props == [("day", True), ("hour", False)]
