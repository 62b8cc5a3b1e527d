"""GET /v1/hotspots?method=emerging: the oracle (analysis.find_emerging_hot_spots on the same
cube), known patterns on a hand-built town, releases only below manager, refusals."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from analysis.emerging import PEER_NAMES, Pattern, find_emerging_hot_spots
from analysis.grid import cell_centres
from analysis.projection import to_lonlat
from geo_service.auth import Role, create_key
from geo_service.deployment import Deployment
from geo_service.main import create_app
from geo_service.periods import DAY_S, month_of, month_start
from geo_service.services.hotspots.emerging import pattern_code
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore
from tests.conftest import bearer, collection, feature, make_settings, problem

Keys = dict[str, dict[str, str]]
CELL_M = 125  # needle reports' stored size
ORIGIN = (0, 0)  # cell offsets are from the cell holding the town's centre
GRACE_DAYS = 7


def month_index(now: float, tz: dt.tzinfo) -> int:
    return month_of(dt.datetime.fromtimestamp(now, tz))


def cell_lonlat(deployment: Deployment, ix: int, iy: int) -> tuple[float, float]:
    x, y = cell_centres([ix], [iy], grid=deployment.grid, cell_m=CELL_M)
    lon, lat = to_lonlat(x, y, crs=deployment.crs)
    return round(float(lon[0]), 7), round(float(lat[0]), 7)


def town_cell(deployment: Deployment) -> tuple[int, int]:
    """The cell holding the middle of the service area (the block is built around it)."""
    xmin, ymin, xmax, ymax = deployment.service_area_m.bounds
    g = deployment.grid
    return (
        int((xmin + xmax) / 2 - g.origin_x_m) // CELL_M,
        int((ymin + ymax) / 2 - g.origin_y_m) // CELL_M,
    )


def reports(
    deployment: Deployment, cell: tuple[int, int], month: int, n: int
) -> list[dict[str, Any]]:
    """``n`` needle reports in one cell, mid-month (local noon on the 15th)."""
    lon, lat = cell_lonlat(deployment, *cell)
    year, month0 = divmod(month, 12)
    when = dt.datetime(year, month0 + 1, 15, 12, tzinfo=deployment.tz).isoformat()
    return [feature(lon, lat, observed_at=when) for _ in range(n)]


def block(deployment: Deployment, side: int) -> list[tuple[int, int]]:
    cx, cy = town_cell(deployment)
    return [(cx + dx, cy + dy) for dy in range(side) for dx in range(side)]


def send(client: TestClient, rows: list[dict[str, Any]], keys: list[dict[str, str]]) -> None:
    """Rows sent by the keys in turn (the release rule drops the busiest key's reports)."""
    for i, headers in enumerate(keys):
        part = rows[i :: len(keys)]
        for start in range(0, len(part), 2000):
            response = client.post(
                "/v1/events", json=collection(*part[start : start + 2000]), headers=headers
            )
            assert response.status_code == 201, response.text


def emerging(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    params = {"kind": "needle_report", "method": "emerging", **params}
    response = client.get("/v1/hotspots", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    return response


def features_by_cell(body: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    out = {}
    for f in body["features"]:
        _, ix, iy = f["id"].split(":")
        out[int(ix), int(iy)] = f["properties"]
    return out


# -- managers: the oracle -----------------------------------------------------------------------


@pytest.fixture
def deployment(settings: Settings) -> Deployment:
    return Deployment(settings)


@pytest.fixture
def new_hot_town(client: TestClient, keys: Keys, deployment: Deployment) -> tuple[int, int]:
    """A 6 × 6 block with 2 reports a cell each month for 12 months; one cell gets 60 more
    in the last finished month only. Returns that cell."""
    last = month_index(time.time(), deployment.tz) - 1
    cells = block(deployment, 6)
    rows = [
        r for m in range(last - 11, last + 1) for c in cells for r in reports(deployment, c, m, 2)
    ]
    target = cells[14]
    rows += reports(deployment, target, last, 60)
    send(client, rows, [keys["manager"]])
    return target


def oracle_cube(
    store: SqlStore, deployment: Deployment, now: float, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cube built here from the store's buckets, independently of the service."""
    tz = deployment.tz
    last = month_index(now, tz) - 1
    starts = [month_start(m, tz) for m in range(last - steps + 1, last + 2)]
    (group,) = store.event_buckets(1, "needle_report", start=starts[0], end=starts[-1])
    cells = sorted({(int(x), int(y)) for x, y in zip(group.ix, group.iy, strict=True)})
    row = {c: i for i, c in enumerate(cells)}
    cube = np.zeros((len(cells), steps))
    for x, y, start, n in zip(group.ix, group.iy, group.bucket_start, group.count, strict=True):
        step = int(np.searchsorted(starts, start, side="right")) - 1
        cube[row[int(x), int(y)], step] += n
    ix = np.array([c[0] for c in cells])
    iy = np.array([c[1] for c in cells])
    return ix, iy, cube


@pytest.mark.usefixtures("new_hot_town")
def test_manager_answer_is_the_analysis_of_the_same_cube(
    client: TestClient, keys: Keys, store: SqlStore, deployment: Deployment
) -> None:
    body = emerging(client, keys["manager"]).json()
    summary = body["summary"]
    distance_m = summary["parameters"]["distance_m"]
    assert summary["parameters"]["distance_rule"] == "automatic"
    ix, iy, cube = oracle_cube(store, deployment, time.time(), 12)
    found = find_emerging_hot_spots(ix, iy, cube, cell_m=CELL_M, distance_m=distance_m)
    expected = {
        (int(x), int(y)): (pattern_code(Pattern(int(p))), float(z))
        for x, y, p, z in zip(ix, iy, found.pattern, found.trend.z, strict=True)
        if p != 0
    }
    got = features_by_cell(body)
    assert {c: p["pattern"] for c, p in got.items()} == {c: v[0] for c, v in expected.items()}
    for c, props in got.items():
        assert props["trend_z"] == pytest.approx(expected[c][1], abs=1e-6)
        assert props["label"] == PEER_NAMES[Pattern[_name(props["pattern"])]]
    assert summary["counts"]["events"] == int(cube.sum())
    assert len(summary["time_steps"]) == 12
    assert summary["basis"]["share"] == 1.0


def _name(code: str) -> str:
    return code.removesuffix("_spot").upper()


def test_a_cell_busy_only_in_the_last_month_is_newly_busy(
    client: TestClient, keys: Keys, new_hot_town: tuple[int, int]
) -> None:
    body = emerging(client, keys["manager"], distance_m=130).json()
    got = features_by_cell(body)
    assert got[new_hot_town]["pattern"] == "new_hot_spot"
    assert got[new_hot_town]["label"] == "newly busy"
    assert got[new_hot_town]["hot_share"] == pytest.approx(1 / 12, abs=1e-4)
    assert body["summary"]["parameters"]["distance_rule"] == "given"
    # Gi* counts the neighbourhood: the cell and the four within the 130 m band, no other.
    x, y = new_hot_town
    around = {(x, y), (x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)}
    assert {c for c, p in got.items() if p["pattern"] == "new_hot_spot"} == around


def test_labels_follow_the_request_language(
    client: TestClient, keys: Keys, new_hot_town: tuple[int, int]
) -> None:
    english = emerging(client, keys["manager"], distance_m=130)
    french = emerging(client, {**keys["manager"], "Accept-Language": "fr"}, distance_m=130)
    assert features_by_cell(french.json())[new_hot_town]["label"] == "nouvellement fréquenté"
    assert features_by_cell(english.json())[new_hot_town]["label"] == "newly busy"
    assert "Accept-Language" in french.headers["vary"]
    # Only the words differ: the patterns are the same.
    assert [f["properties"]["pattern"] for f in english.json()["features"]] == [
        f["properties"]["pattern"] for f in french.json()["features"]
    ]


@pytest.mark.usefixtures("new_hot_town")
def test_few_steps_are_said_in_plain_words(client: TestClient, keys: Keys) -> None:
    body = emerging(client, keys["manager"], steps=4, distance_m=130).json()
    assert len(body["summary"]["time_steps"]) == 4
    assert any("only 4 time steps" in w for w in body["summary"]["warnings"])


@pytest.mark.usefixtures("new_hot_town")
def test_weeks_for_managers(client: TestClient, keys: Keys) -> None:
    body = emerging(client, keys["manager"], time_step="week").json()
    steps = body["summary"]["time_steps"]
    assert len(steps) == 26
    mondays = [dt.date.fromisoformat(s) for s in steps]
    assert all(d.weekday() == 0 for d in mondays)
    assert all((b - a).days == 7 for a, b in itertools.pairwise(mondays))


def test_empty_program_answers_nothing_with_a_reason(client: TestClient, keys: Keys) -> None:
    body = emerging(client, keys["manager"]).json()
    assert body["features"] == []
    assert any("nothing to analyse" in w for w in body["summary"]["warnings"])


@pytest.mark.parametrize(
    "params",
    [
        {"eps_m": 200},
        {"period": "2025-05"},
        {"cell_m": 250},
        {"max_days": 3},
        {"steps": 1},
        {"steps": 30},
        {"time_step": "day"},
        {"alpha": 0.5},
        {"time_step_interval": 12, "steps": 12},
    ],
)
def test_bad_options_are_refused_without_echo(
    client: TestClient, keys: Keys, params: dict[str, Any]
) -> None:
    response = client.get(
        "/v1/hotspots",
        params={"kind": "needle_report", "method": "emerging", **params},
        headers=keys["manager"],
    )
    # Out-of-range values are the app's 422 (as every route answers them); our own checks 400.
    assert response.status_code in (400, 422)
    problem(response, response.status_code)
    for value in params.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in response.text


# -- peers and planners: releases only ----------------------------------------------------------


@pytest.fixture
def uncached(tmp_path: Path) -> Iterator[tuple[TestClient, SqlStore, Deployment]]:
    """An app that keeps no answers: every peer answer is computed again."""
    settings = make_settings(tmp_path, hotspot_cache_entries=0)
    with TestClient(create_app(settings)) as test_client:
        store: SqlStore = test_client.app.state.store  # type: ignore[attr-defined]
        yield test_client, store, Deployment(settings)


def latest_published_month(now: float, tz: dt.tzinfo) -> int:
    return month_of(dt.datetime.fromtimestamp(now - GRACE_DAYS * DAY_S, tz)) - 1


def test_peer_answer_is_a_function_of_releases_only(
    uncached: tuple[TestClient, SqlStore, Deployment],
) -> None:
    client, store, deployment = uncached
    peer = bearer(create_key(store, program="town", role=Role.PEER)[1])
    planner = bearer(create_key(store, program="town", role=Role.PLANNER)[1])
    senders = [bearer(create_key(store, program="town", role=Role.MANAGER)[1]) for _ in range(3)]
    now = time.time()
    last = latest_published_month(now, deployment.tz)
    cells = block(deployment, 5)
    rows = [
        r for m in range(last - 11, last + 1) for c in cells for r in reports(deployment, c, m, 9)
    ]
    hot, quiet = cells[12], block(deployment, 7)[-1]  # quiet: outside the 5 × 5 block
    rows += reports(deployment, hot, last, 90)
    # 3 reports a month in the quiet cell: below the rule every month, never released.
    rows += [r for m in range(last - 11, last + 1) for r in reports(deployment, quiet, m, 3)]
    send(client, rows, senders)

    first = emerging(client, peer)
    body = first.json()
    got = features_by_cell(body)
    assert got[hot]["pattern"] == "new_hot_spot"
    assert set(got[hot]) == {"pattern", "label"}  # no statistics below manager
    assert quiet not in got
    summary = body["summary"]
    assert summary["time_steps"][-1] == f"{last // 12}-{last % 12 + 1:02d}"
    assert "released" in summary["audience"]
    assert summary["basis"]["reports_released"] is not None
    assert "X-Analysis-Cache" not in first.headers

    # An insider with a peer key sends reports into unreleased time (today, and days ago that
    # may fall in last month, still in its grace window); a manager backdates more into the
    # latest released month. Nothing in the answer moves.
    for hours in (1, 30, 100, 160):
        moment = dt.datetime.fromtimestamp(now - hours * 3600, deployment.tz).isoformat()
        for cell in (quiet, hot):
            lon, lat = cell_lonlat(deployment, *cell)
            send(client, [feature(lon, lat, observed_at=moment) for _ in range(10)], [peer])
    send(client, reports(deployment, quiet, last, 40), senders)
    again = emerging(client, peer)
    assert again.content == first.content
    assert emerging(client, planner).json()["features"] == body["features"]


@pytest.mark.parametrize("option", ["time_step", "steps", "alpha", "time_step_interval"])
def test_emerging_options_are_refused_with_other_methods(
    client: TestClient, keys: Keys, option: str
) -> None:
    value = {"time_step": "week", "steps": "6", "alpha": "0.01", "time_step_interval": "2"}[option]
    response = client.get(
        "/v1/hotspots",
        params={"kind": "needle_report", "method": "gi_star", option: value},
        headers=keys["manager"],
    )
    assert "method=emerging" in problem(response, 400)["detail"]


def test_weeks_are_refused_for_peers_with_the_reason(client: TestClient, keys: Keys) -> None:
    response = client.get(
        "/v1/hotspots",
        params={"kind": "needle_report", "method": "emerging", "time_step": "week"},
        headers=keys["peer"],
    )
    body = problem(response, 400)
    assert "month" in body["detail"] and "released" in body["detail"]


def test_peer_with_nothing_released_gets_nothing(client: TestClient, keys: Keys) -> None:
    body = emerging(client, keys["peer"]).json()
    assert body["features"] == []
    assert body["summary"]["warnings"]


def test_the_public_has_no_emerging_answer(client: TestClient) -> None:
    response = client.get("/v1/hotspots", params={"kind": "needle_report", "method": "emerging"})
    assert response.status_code == 401


@pytest.mark.usefixtures("new_hot_town")
def test_steps_past_the_retention_period_are_said(client: TestClient, keys: Keys) -> None:
    # The test settings keep 240 months; 24 monthly steps stay inside them, no warning.
    body = emerging(client, keys["manager"], steps=24, distance_m=130).json()
    assert not any("retention" in w for w in body["summary"]["warnings"])


def test_a_short_retention_is_said(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, retention_months=12))) as client:
        store: SqlStore = client.app.state.store  # type: ignore[attr-defined]
        manager = bearer(create_key(store, program="town", role=Role.MANAGER)[1])
        body = emerging(client, manager, steps=24).json()
        assert any("retention" in w for w in body["summary"]["warnings"])
        body = emerging(client, manager, steps=6).json()
        assert not any("retention" in w for w in body["summary"]["warnings"])
