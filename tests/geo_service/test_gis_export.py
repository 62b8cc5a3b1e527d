"""GeoPackage out: stewards take everything; peers and planners their released cells only."""

from __future__ import annotations

import io
from pathlib import Path

import geopandas
import pyogrio
import pytest
import shapely
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import shape

from tests.conftest import feature
from tests.geo_service.test_publication_api import LONELY, Program, background, published

GPKG = "application/geopackage+sqlite3"


@pytest.fixture
def town(app: FastAPI, client: TestClient) -> Program:
    program = Program(app.state.store, "town")
    background(client, program)
    return program


def _layers(data: bytes, tmp_path: Path, name: str) -> tuple[Path, dict[str, str | None]]:
    path = tmp_path / f"{name}.gpkg"
    path.write_bytes(data)
    return path, {str(n): t for n, t in pyogrio.list_layers(path)}


def test_a_peer_geopackage_holds_exactly_the_released_cells(
    client: TestClient, town: Program, tmp_path: Path
) -> None:
    # one lonely report: a cell below k that no release may show
    town.post(client, [feature(*LONELY, observed_at="2025-05-03T12:00:00Z")], 0)
    answer = published(client, town.peer, kind="needle_report", period="2025-Q2")
    response = client.get(
        "/v1/published",
        params={"kind": "needle_report", "period": "2025-Q2", "format": "gpkg"},
        headers=town.peer,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GPKG
    path, layers = _layers(response.content, tmp_path, "peer")
    assert layers == {"needle_report_2025-Q2": "Polygon", "summary": None}  # no event rows

    cells = geopandas.read_file(path, layer="needle_report_2025-Q2")
    assert cells.crs.to_epsg() == 4326
    by_id = {f["id"]: f for f in answer["features"]}
    assert len(by_id) >= 2
    assert sorted(cells["feature_id"]) == sorted(by_id)
    for row in cells.itertuples():
        expected = by_id[row.feature_id]
        assert row.count == expected["properties"]["count"] >= answer["summary"]["k"]
        assert row.geometry.equals_exact(shape(expected["geometry"]), 1e-9)
    # the lonely report's own cell is not there: at most a coarser cell holding k or more
    around = cells[cells.geometry.intersects(shapely.Point(LONELY))]
    assert (around["cell_m"] > cells["cell_m"].min()).all()
    assert set(cells.columns) == {"count", "cell_m", "needles", "feature_id", "geometry"} or set(
        cells.columns
    ) == {"count", "cell_m", "feature_id", "geometry"}

    summary = pyogrio.read_dataframe(path, layer="summary")
    assert summary.loc[0, "k"] == answer["summary"]["k"]
    shown = answer["summary"]["counts"]
    assert summary.loc[0, "counts"] == "; ".join(f"{k}={v}" for k, v in shown.items())
    assert "content_hash" not in summary.columns  # the seal and true totals stay with managers


def test_peers_may_not_export_everything_nor_another_audience(
    client: TestClient, town: Program
) -> None:
    assert client.get("/v1/export?format=gpkg", headers=town.peer).status_code == 403
    assert client.get("/v1/export?format=gpkg", headers=town.planner).status_code == 403
    response = client.get(
        "/v1/published",
        params={
            "kind": "needle_report",
            "period": "2025-05",
            "format": "gpkg",
            "audience": "planner",
        },
        headers=town.peer,
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_steward_geopackage_holds_every_layer(
    client: TestClient, town: Program, tmp_path: Path
) -> None:
    site = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-101.8779, 54.7682]},
        "properties": {"name": "Drop-in", "site_type": "hr_supply", "services": ["needles"]},
    }
    sites = client.post(
        "/v1/sites", json={"type": "FeatureCollection", "features": [site]}, headers=town.steward
    )
    assert sites.status_code == 201, sites.text
    json_export = client.get("/v1/export", headers=town.steward).json()
    response = client.get("/v1/export?format=gpkg", headers=town.steward)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == GPKG
    assert 'filename="town-export.gpkg"' in response.headers["content-disposition"]
    path, layers = _layers(response.content, tmp_path, "steward")
    assert layers == {"events": "Polygon", "sites": "Point"}

    events = geopandas.read_file(path, layer="events")
    in_json = [f for f in json_export["features"] if f["properties"].get("bucket_start")]
    assert len(events) == len(in_json) > 100
    assert {"kind", "cell", "bucket_start", "bucket_end", "count"} <= set(events.columns)
    assert not {"latitude", "longitude", "lat", "lon"} & set(events.columns)
    # cells, not points: every event is a square of its cell size
    assert (events.geometry.geom_type == "Polygon").all()
    (drop_in,) = geopandas.read_file(path, layer="sites").itertuples()
    assert drop_in.services == "needles"
    assert io.BytesIO(response.content).read(16) == b"SQLite format 3\x00"
