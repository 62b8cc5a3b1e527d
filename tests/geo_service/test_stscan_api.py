"""GET /v1/hotspots?method=stscan: managers only, the oracle (analysis.space_time_scan on the
same events and seed), bad options refused without echo."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

from analysis.stscan import ScanLimits, space_time_scan
from geo_service.deployment import Deployment
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore
from tests.conftest import collection, feature, problem
from tests.geo_service.test_emerging_api import block, cell_lonlat

Keys = dict[str, dict[str, str]]
EPOCH = dt.date(1970, 1, 1)


@pytest.fixture
def deployment(settings: Settings) -> Deployment:
    return Deployment(settings)


@pytest.fixture
def burst(client: TestClient, keys: Keys, deployment: Deployment) -> dict[str, Any]:
    """60 days of scattered reports over a 6 × 6 block, and 15 in one cell on the last day."""
    rng = np.random.default_rng(7)
    now = time.time() - 3600
    last_day = dt.datetime.fromtimestamp(now, deployment.tz).date()
    cells = block(deployment, 6)
    rows = []
    for _ in range(300):
        lon, lat = cell_lonlat(deployment, *cells[int(rng.integers(len(cells)))])
        moment = now - float(rng.uniform(1, 60)) * 86_400
        rows.append(feature(lon, lat, observed_at=_iso(moment, deployment)))
    target = cells[20]
    lon, lat = cell_lonlat(deployment, *target)
    rows += [feature(lon, lat, observed_at=_iso(now, deployment)) for _ in range(15)]
    response = client.post("/v1/events", json=collection(*rows), headers=keys["manager"])
    assert response.status_code == 201, response.text
    return {"last_day": last_day, "target": (lon, lat), "events": len(rows)}


def _iso(moment: float, deployment: Deployment) -> str:
    return dt.datetime.fromtimestamp(moment, deployment.tz).isoformat()


def scan(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    params = {"kind": "needle_report", "method": "stscan", **params}
    return client.get("/v1/hotspots", params=params, headers=headers)


def oracle(
    store: SqlStore, deployment: Deployment, last_day: dt.date, *, permutations: int, seed: int
) -> Any:
    """The scan run here on the store's events, one row per event and local day."""
    tz = deployment.tz
    first = last_day - dt.timedelta(days=364)
    start = int(dt.datetime(first.year, first.month, first.day, tzinfo=tz).timestamp())
    after = last_day + dt.timedelta(days=1)
    end = int(dt.datetime(after.year, after.month, after.day, tzinfo=tz).timestamp())
    (group,) = store.event_buckets(1, "needle_report", start=start, end=end)
    days = [(dt.datetime.fromtimestamp(int(s), tz).date() - EPOCH).days for s in group.bucket_start]
    n = group.count
    return space_time_scan(
        np.repeat(group.ix, n),
        np.repeat(group.iy, n),
        np.repeat(days, n),
        cell_m=125,
        limits=ScanLimits(max_days=7, max_cells=None, max_radius_m=500.0),
        last_day=(last_day - EPOCH).days,
        permutations=permutations,
        seed=seed,
    )


def test_manager_clusters_are_the_analysis_of_the_same_events(
    client: TestClient, keys: Keys, store: SqlStore, deployment: Deployment, burst: Any
) -> None:
    last_day = burst["last_day"]
    response = scan(client, keys["manager"], permutations=99, seed=5, last_day=last_day)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = oracle(store, deployment, last_day, permutations=99, seed=5)
    assert len(body["features"]) == min(20, len(expected.clusters))
    for rank, (got, want) in enumerate(zip(body["features"], expected.clusters, strict=False), 1):
        props = got["properties"]
        assert props["rank"] == rank
        assert props["observed"] == want.observed
        assert props["expected"] == pytest.approx(want.expected, abs=1e-6)
        assert props["llr"] == pytest.approx(want.llr, abs=1e-6)
        assert props["p"] == want.p
        assert props["recurrence_interval"] == pytest.approx(1 / want.p, abs=1e-6)
        assert props["days"] == want.days
        assert props["radius_m"] == want.radius_m
        assert props["cells"] == len(want.cells)
        first = last_day - dt.timedelta(days=want.days - 1)
        assert props["window"] == [first.isoformat(), last_day.isoformat()]
    best = body["features"][0]
    assert shape(best["geometry"]).contains(Point(*burst["target"]))
    assert best["properties"]["observed"] >= 15
    assert best["properties"]["p"] == pytest.approx(0.01)  # beats all 99 shuffles
    summary = body["summary"]
    assert summary["counts"]["events"] == burst["events"]
    assert summary["parameters"]["seed"] == 5
    assert summary["study_days"][1] == last_day.isoformat()


def test_p_values_follow_the_seed(
    client: TestClient, keys: Keys, store: SqlStore, deployment: Deployment, burst: Any
) -> None:
    last_day = burst["last_day"]
    for seed in (1, 2):
        body = scan(client, keys["manager"], permutations=19, seed=seed, last_day=last_day).json()
        again = oracle(store, deployment, last_day, permutations=19, seed=seed)
        assert [f["properties"]["p"] for f in body["features"]] == [
            c.p for c in again.clusters[:20]
        ]


@pytest.mark.usefixtures("burst")
def test_defaults_are_999_permutations_a_week_and_500_m(client: TestClient, keys: Keys) -> None:
    body = scan(client, keys["manager"]).json()
    parameters = body["summary"]["parameters"]
    assert parameters["permutations"] == 999
    assert parameters["max_days"] == 7
    assert parameters["max_radius_m"] == 500.0
    assert all(f["properties"]["radius_m"] <= 500 for f in body["features"])
    assert all(f["properties"]["days"] <= 7 for f in body["features"])


@pytest.mark.parametrize("role", ["peer", "planner"])
def test_only_managers_and_stewards_may_scan(client: TestClient, keys: Keys, role: str) -> None:
    body = problem(scan(client, keys[role]), 403)
    assert "managers" in body["detail"]
    # Refused before any option is read: a bad option gets the same answer.
    assert problem(scan(client, keys[role], permutations=5000), 403) == body


def test_the_public_has_no_scan(client: TestClient) -> None:
    response = scan(client, {})
    assert response.status_code == 401


def test_steward_may_scan(client: TestClient, keys: Keys) -> None:
    response = scan(client, keys["steward"], permutations=9)
    assert response.status_code == 200, response.text
    assert response.json()["features"] == []
    assert "nothing to scan" in " ".join(response.json()["summary"]["warnings"])


@pytest.mark.parametrize(
    "params",
    [
        {"permutations": 5000},
        {"max_days": 0},
        {"max_radius_m": 99999},
        {"last_day": "2999-01-01"},
        {"last_day": "0001-01-01"},
        {"last_day": "</script>${x}`"},
        {"period": "2025-05"},
        {"eps_m": 300},
        {"time_step": "week"},
    ],
)
def test_bad_options_are_refused_without_echo(
    client: TestClient, keys: Keys, params: dict[str, Any]
) -> None:
    response = scan(client, keys["manager"], **params)
    assert response.status_code in (400, 422)
    problem(response, response.status_code)
    for value in params.values():
        if isinstance(value, str):
            assert value not in response.text


def test_small_cells_read_by_a_manager_are_audited(
    client: TestClient, keys: Keys, store: SqlStore, burst: Any
) -> None:
    scan(client, keys["manager"], permutations=9, last_day=burst["last_day"])
    rows = [r for r in store.audit_rows() if r.action == "small_cells.read"]
    assert rows, "a cluster of fewer than k events shown to a manager is audited"
