"""Two communities in one database (issue 16): Flin Flon (UTM 14N, America/Winnipeg) and
Boston (UTM 19N, America/New_York), each placed, bucketed, analysed and released in its own
geography, and nothing of one reaching a key of the other."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, shape
from typer.testing import CliRunner

from analysis.grid import snap_to_cells
from analysis.projection import to_metres
from geo_service.auth import Role, create_key
from geo_service.cli import app as cli
from geo_service.main import create_app
from geo_service.settings import Settings, get_settings
from tests.conftest import SHARED_DATA, TOWN, bearer, fresh_postgres_database

runner = CliRunner()
BOSTON_CSV = SHARED_DATA / "boston_needle_pickups_2015.csv"
BOSTON_AREA = box(-71.19, 42.23, -70.98, 42.40)
FLIN_FLON_AREA = box(-101.93, 54.74, -101.83, 54.80)
BOSTON_IMPORT = [
    "--set", "kind=needle_report", "--column", "observed_at=opened", "--ignore", "source",
    "--set", "source=city", "--time-format", "%m/%d/%Y %I:%M:%S %p",
]  # fmt: skip

NAIVE = ["--time-format", "%Y-%m-%d %H:%M:%S"]  # local times, read in the program's zone


def _area_file(folder: Path, name: str, area: Any) -> Path:
    path = folder / f"{name}.geojson"
    feature = {"type": "Feature", "properties": {}, "geometry": area.__geo_interface__}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


def _flin_flon_csv(folder: Path) -> Path:
    """Sixty reports in one block of Flin Flon in May 2015, naive local times."""
    path = folder / "flinflon.csv"
    rows = ["kind,observed_at,latitude,longitude"]
    for i in range(60):
        rows.append(f"needle_report,2015-05-{1 + i % 28:02d} 0{i % 10}:15:00,{TOWN[1]},{TOWN[0]}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/two.sqlite3"
        return
    server = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    with fresh_postgres_database(server) as url:
        yield url


@pytest.fixture
def two_programs(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """Both programs made and filled through the CLI, then served by one app."""
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", database_url)
    monkeypatch.setenv("GEO_SERVICE_RETENTION_MONTHS", "240")  # the 2015 history
    get_settings.cache_clear()
    boston_area = _area_file(tmp_path, "boston", BOSTON_AREA)
    flin_flon_area = _area_file(tmp_path, "ff", FLIN_FLON_AREA)
    flin_flon_csv = str(_flin_flon_csv(tmp_path))
    commands = [
        ["program", "create", "boston", "--area", str(boston_area)],
        ["program", "create", "flinflon", "--area", str(flin_flon_area), "--timezone",
         "America/Winnipeg"],
        ["ingest", "events", str(BOSTON_CSV), "--program", "boston", *BOSTON_IMPORT],
        ["ingest", "events", flin_flon_csv, "--program", "flinflon", *NAIVE],
    ]  # fmt: skip
    made = [runner.invoke(cli, command) for command in commands]
    for result in made:
        assert result.exit_code == 0, result.output
    # Flin Flon's reports are outside Boston's area: refused there, all of them.
    crossed = runner.invoke(
        cli, ["ingest", "events", str(_flin_flon_csv(tmp_path)), "--program", "boston", *NAIVE]
    )
    assert crossed.exit_code == 2 and "outside" in crossed.output
    get_settings.cache_clear()
    settings = Settings(
        database_url=database_url,
        retention_months=240,
        rate_limit_per_key=0,
        rate_limit_per_address=0,
    )
    application = create_app(settings)
    with TestClient(application) as client:
        store = application.state.store
        keys = {
            (program, role): bearer(create_key(store, program=program, role=role)[1])
            for program in ("boston", "flinflon")
            for role in (Role.PEER, Role.MANAGER)
        }
        yield {"client": client, "app": application, "store": store, "keys": keys}


def _coordinates(body: dict[str, Any]) -> np.ndarray:
    points = [
        np.asarray(shape(f["geometry"]).centroid.coords[0])
        for f in body["features"]
        if f["geometry"]
    ]
    return np.asarray(points).reshape(-1, 2)


def test_each_program_places_its_events_in_its_own_grid_crs_and_time_zone(
    two_programs: dict[str, Any],
) -> None:
    services = two_programs["app"].state.services
    store = two_programs["store"]
    boston, flin_flon = store.program_id("boston"), store.program_id("flinflon")
    assert (services.deployment_for(boston).crs, str(services.deployment_for(boston).tz)) == (
        "EPSG:32619",
        "America/New_York",
    )
    assert services.deployment_for(flin_flon).crs == "EPSG:32614"
    stored = store.count_rows(boston)["events"]
    assert stored > 590 and store.count_rows(flin_flon)["events"] == 60
    # Boston's naive times are New York's; its cells are UTM 19N's.
    frame = pd.read_csv(BOSTON_CSV)
    local = pd.to_datetime(frame["opened"], format="%m/%d/%Y %I:%M:%S %p")
    starts = local.dt.tz_localize("America/New_York").dt.floor("h").astype("int64") // 10**9
    x, y = to_metres(frame["longitude"], frame["latitude"], crs="EPSG:32619")
    ix, iy = snap_to_cells(x, y, grid=services.deployment_for(boston).grid, cell_m=125)
    expected = set(zip(ix.tolist(), iy.tolist(), starts.tolist(), strict=True))
    cells = store.stored_cells(boston)
    assert len(cells) > 100
    assert {(cx, cy) for _, cx, cy in cells} <= {(a, b) for a, b, _ in expected}
    client, keys = two_programs["client"], two_programs["keys"]
    listed = client.get(
        "/v1/events", params={"kind": "needle_report"}, headers=keys[("boston", Role.MANAGER)]
    )
    assert listed.status_code == 200, listed.text
    shown = _coordinates(listed.json())
    assert len(shown) and BOSTON_AREA.buffer(0.01).contains(shape(_hull(shown)))


def _hull(points: np.ndarray) -> dict[str, Any]:
    from shapely.geometry import MultiPoint

    hull: dict[str, Any] = MultiPoint([tuple(p) for p in points]).convex_hull.__geo_interface__
    return hull


@pytest.mark.parametrize("path", ["/v1/hotspots", "/v1/published"])
def test_identical_requests_answer_each_program_from_its_own_data(
    two_programs: dict[str, Any], path: str
) -> None:
    client, keys = two_programs["client"], two_programs["keys"]
    params = {"kind": "needle_report", "period": "2015-05"}
    if path == "/v1/hotspots":
        params["method"] = "density"
    answers = {}
    for program, area in (("boston", BOSTON_AREA), ("flinflon", FLIN_FLON_AREA)):
        for role in (Role.PEER, Role.MANAGER):
            response = client.get(path, params=params, headers=keys[(program, role)])
            assert response.status_code == 200, response.text
            body = response.json()
            points = _coordinates(body)
            assert all(area.buffer(0.01).contains(shape({"type": "Point", "coordinates": p}))
                       for p in points.tolist())  # fmt: skip
            answers[(program, role)] = response.content
    for role in (Role.PEER, Role.MANAGER):
        assert answers[("boston", role)] != answers[("flinflon", role)]
    # The other way round again, after both are cached: still each its own.
    again = client.get(path, params=params, headers=keys[("flinflon", Role.PEER)])
    assert again.content == answers[("flinflon", Role.PEER)]


def test_the_study_region_is_each_programs_own_polygon(two_programs: dict[str, Any]) -> None:
    services = two_programs["app"].state.services
    store = two_programs["store"]
    for name, area in (("boston", BOSTON_AREA), ("flinflon", FLIN_FLON_AREA)):
        deployment = services.deployment_for(store.program_id(name))
        assert deployment.service_area.equals(area)
        ix, _iy = deployment.study_cells(500)
        # About the area's size in 500 m cells (plus a ring of edge cells), not the other's.
        expected = deployment.service_area_m.area / 500**2
        assert expected <= len(ix) <= expected * 1.5
