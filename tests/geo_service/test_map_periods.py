"""The hot-spot map's window (issue 17): its selector lists every period that has a release
(peers, planners) or every finished one since the first report (managers), the selected
option is the period the title names, and managers may pick a ``datetime`` window."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from geo_service.auth import Role
from geo_service.periods import (
    Bucket,
    finished_periods,
    latest_published,
    month_of,
    period_holding,
)
from maps.words import period_words
from tests.conftest import demo_town

OPTION = re.compile(r'<option value="([^"]*)"( selected)?>([^<]*)</option>')
GROUP = re.compile(r'<optgroup label="([^"]*)">(.*?)</optgroup>', re.S)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_town(tmp_path_factory.mktemp("map-periods")) as loaded:
        yield loaded


def _page(town: dict[str, Any], role: Role, **params: str) -> tuple[int, str]:
    response = town["client"].get(
        "/maps/hotspots", params={"kind": "needle_report", **params}, headers=town["keys"][role]
    )
    return response.status_code, response.text


def _title(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page)
    assert found
    return html.unescape(found.group(1))


def _selected(page: str) -> list[str]:
    """The chosen options of the period selector (the band control has its own)."""
    found = re.search(r'<select name="(?:period|year)">(.*?)</select>', page, re.S)
    assert found, "the page has a period or year selector"
    return [value for value, chosen, _ in OPTION.findall(found.group(1)) if chosen]


def _groups(page: str) -> dict[str, list[str]]:
    return {name: [v for v, _, _ in OPTION.findall(body)] for name, body in GROUP.findall(page)}


def _latest(town: dict[str, Any], bucket: Bucket) -> str:
    return latest_published(bucket, now=time.time(), grace_days=7, tz=town["deployment"].tz)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.PEER])
def test_the_selected_period_is_the_one_the_title_names_however_old(
    town: dict[str, Any], role: Role
) -> None:
    # Nine quarters back: older than the eight the selector used to list.
    latest = _latest(town, Bucket.QUARTER)
    year, q = int(latest[:4]), int(latest[-1])
    index = year * 4 + q - 1 - 9
    old = f"{index // 4}-Q{index % 4 + 1}"
    status, page = _page(town, role, period=old)
    assert status == 200
    assert _title(page).endswith(period_words(old))
    assert _selected(page) == [old]


def test_peers_are_offered_every_period_that_may_be_released_grouped_newest_first(
    town: dict[str, Any],
) -> None:
    half, year = _latest(town, Bucket.HALF), _latest(town, Bucket.YEAR)
    status, page = _page(town, Role.PEER)
    assert status == 200
    groups = _groups(page)
    assert groups["Half-years"][0] == half and groups["Years"][0] == year
    # Every period published by now over the retention window, whether or not anyone has
    # asked for it (a release is made on the first request: listing the stored ones would
    # tell a peer what others opened).
    tz = town["deployment"].tz
    now = time.time()
    retention = town["app"].state.settings.retention_months
    retained_from = month_of(dt.datetime.fromtimestamp(now, tz)) - retention
    may_be_released = finished_periods(retained_from, now=now, grace_days=7, tz=tz)
    if town["store"].publication(town["program_id"]).bucket == Bucket.QUARTER:
        may_be_released.pop(Bucket.MONTH)
    expected = {label for labels in may_be_released.values() for label in labels}
    offered = [v for values in groups.values() for v in values]
    assert set(offered) == expected
    for values in groups.values():
        assert values == sorted(values, reverse=True)
    assert _selected(page) == [_latest(town, Bucket.QUARTER)]
    assert next(iter(groups)) == "Quarters"


def test_managers_are_offered_every_finished_period_since_the_first_report(
    town: dict[str, Any],
) -> None:
    tz = town["deployment"].tz
    first = town["store"].first_event_start(town["program_id"], "needle_report")
    since = month_of(dt.datetime.fromtimestamp(first, tz))
    expected = finished_periods(since, now=time.time(), grace_days=0, tz=tz)
    status, page = _page(town, Role.MANAGER)
    assert status == 200
    groups = _groups(page)
    assert groups["Quarters"] == expected[Bucket.QUARTER]
    assert groups["Months"] == expected[Bucket.MONTH]
    assert groups["Years"] == expected[Bucket.YEAR]
    assert groups["Quarters"][-1] == period_holding(Bucket.QUARTER, since)


def _window(town: dict[str, Any]) -> str:
    """The last 60 days before the latest finished month's end, as an RFC 3339 interval."""
    tz = town["deployment"].tz
    month = _latest(town, Bucket.MONTH)
    end = dt.datetime(int(month[:4]), int(month[5:]), 1, tzinfo=tz) + dt.timedelta(days=40)
    end = end.replace(day=1)
    start = end - dt.timedelta(days=60)
    return f"{start.isoformat()}/{(end - dt.timedelta(seconds=1)).isoformat()}"


def test_a_managers_map_shows_the_datetime_window_it_was_asked_for(
    town: dict[str, Any],
) -> None:
    window = _window(town)
    client, manager = town["client"], town["keys"][Role.MANAGER]
    status, page = _page(town, Role.MANAGER, datetime=window)
    assert status == 200
    start = dt.datetime.fromisoformat(window.split("/")[0])
    last = dt.datetime.fromisoformat(window.split("/")[1])
    words = f"{start.day} {start:%B} {start.year} to {last.day} {last:%B} {last.year}"
    assert _title(page) == f"Hot spots of needle reports, {words}"
    assert _selected(page) == [""]  # the window itself leads the list, selected
    params = {"kind": "needle_report", "datetime": window}
    download = client.get("/maps/hotspots.geojson", params=params, headers=manager)
    api = client.get("/v1/hotspots", params=params, headers=manager)
    assert download.status_code == api.status_code == 200
    assert download.json()["features"] == api.json()["features"]
    default = client.get(
        "/maps/hotspots.geojson", params={"kind": "needle_report"}, headers=manager
    )
    assert download.json()["features"] != default.json()["features"]


@pytest.mark.parametrize(
    ("role", "params", "needle"),
    [
        (Role.MANAGER, {"datetime": "yesterday"}, "RFC 3339"),
        (Role.MANAGER, {"datetime": "2026-01-01T00:00:00"}, "time-zone offset"),
        (Role.MANAGER, {"datetime": "2026-03-01T00:00:00Z/2026-01-01T00:00:00Z"}, "ends before"),
        (Role.MANAGER, {"datetime": "2026-01-01T00:00:00Z/..", "period": "2025-Q2"}, "either"),
        (Role.PEER, {"datetime": "2026-01-01T00:00:00Z/.."}, "instead of datetime"),
    ],
)
def test_a_bad_datetime_is_refused_as_the_api_refuses_it(
    town: dict[str, Any], role: Role, params: dict[str, str], needle: str
) -> None:
    status, page = _page(town, role, **params)
    api = town["client"].get(
        "/v1/hotspots", params={"kind": "needle_report", **params}, headers=town["keys"][role]
    )
    assert status == api.status_code == 400
    assert needle in api.json()["detail"] and api.json()["detail"] in html.unescape(page)
    assert "yesterday" not in page


def test_the_trends_year_list_runs_from_the_first_report_and_holds_the_chosen_year(
    town: dict[str, Any],
) -> None:
    tz = town["deployment"].tz
    first = town["store"].first_event_start(town["program_id"], "needle_report")
    first_year = dt.datetime.fromtimestamp(first, tz).year
    client, manager = town["client"], town["keys"][Role.MANAGER]
    page = client.get(f"/maps/trends?kind=needle_report&year={first_year}", headers=manager)
    assert page.status_code == 200
    years = re.search(r'<select name="year">(.*?)</select>', page.text, re.S)
    assert years
    offered = [value for value, _, _ in OPTION.findall(years.group(1))]
    assert offered == [str(y) for y in range(dt.datetime.now(tz).year, first_year - 1, -1)]
    assert _selected(page.text) == [str(first_year)]
    old = client.get("/maps/trends?kind=needle_report&year=2015", headers=manager).text
    assert _selected(old) == ["2015"] and "2015" in _title(old)
