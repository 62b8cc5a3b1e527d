"""GIS files in: GeoPackage, Shapefile (plain and zipped), KML and GeoJSON naming a CRS are
reprojected to WGS 84 and then judged, blurred and stored exactly like GeoJSON in WGS 84."""

from __future__ import annotations

import dataclasses
import warnings
import zipfile
from pathlib import Path

import geopandas
import orjson
import pandas as pd
import pytest
import shapely
from fastapi import FastAPI
from typer.testing import CliRunner

from geo_service.cli import app as cli_app
from geo_service.ingest.batches import Sender
from geo_service.ingest.tabular import ColumnMap
from geo_service.services.imports import (
    Imported,
    body_upload,
    gis_file_upload,
    import_events,
    import_layer,
    import_sites,
)
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN

UTM14 = "EPSG:32614"  # Flin Flon's UTM zone: metres, not degrees
OFFSETS = [(0.0, 0.0), (0.0031, 0.0017), (-0.0043, 0.0029), (0.0071, -0.0052)]


def _observed() -> str:
    when = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=3)
    return when.floor("s").isoformat()


def _events_frame(crs: str) -> geopandas.GeoDataFrame:
    lon, lat = TOWN
    points = [shapely.Point(lon + dx, lat + dy) for dx, dy in OFFSETS]
    frame = geopandas.GeoDataFrame(
        {
            "kind": ["needle_report", "overdose", "needle_report", "cleanup"],
            "observed_at": [_observed()] * 4,
            "count": [3, 1, 2, 5],
        },
        geometry=points,
        crs="EPSG:4326",
    )
    return frame.to_crs(crs)


def _as_geojson_body(frame: geopandas.GeoDataFrame) -> bytes:
    text: str = frame.to_crs(4326).to_json(drop_id=True)
    return text.encode()


def _write(frame: geopandas.GeoDataFrame, folder: Path, fmt: str) -> Path:
    folder.mkdir()
    if fmt == "gpkg":
        path = folder / "events.gpkg"
        frame.to_file(path, driver="GPKG", layer="events")
    elif fmt in ("shp", "zip"):
        path = folder / "events.shp"
        with warnings.catch_warnings():  # dBase cuts observed_at to observed_a: read back whole
            warnings.simplefilter("ignore")
            frame.to_file(path, driver="ESRI Shapefile")
        if fmt == "zip":
            zipped = folder / "events.zip"
            with zipfile.ZipFile(zipped, "w") as archive:
                for part in folder.glob("events.*"):
                    if part != zipped:
                        archive.write(part, part.name)
                        part.unlink()
            path = zipped
    elif fmt == "kml":
        path = folder / "events.kml"
        frame.to_file(path, driver="KML")
    else:
        path = folder / "events.geojson"
        frame.to_file(path, driver="GeoJSON")
    return path


def _cells(store: SqlStore, program: str) -> list[tuple[object, ...]]:
    events = store.all_events(store.program_id(program) or 0)
    return sorted((e.kind, e.cell_m, e.cell_ix, e.cell_iy, e.bucket_start, e.count) for e in events)


def _import_file(app: FastAPI, store: SqlStore, program: str, path: Path) -> Imported:
    upload = gis_file_upload(path, "events", ColumnMap(ignore_unknown=True))
    assert upload is not None, path
    sender = Sender(store.get_or_create_program(program))
    return import_events(store, app.state.deployment, sender, upload)


@pytest.mark.parametrize(
    ("fmt", "crs", "named"),
    [
        ("gpkg", UTM14, "EPSG:32614"),
        ("shp", "EPSG:3857", "EPSG:3857"),
        ("zip", UTM14, "EPSG:32614"),
        ("geojson", UTM14, "EPSG:32614"),
        ("kml", "EPSG:4326", "EPSG:4326"),  # KML is WGS 84 by definition
    ],
)
def test_each_format_stores_the_cells_of_the_same_points_sent_as_geojson(
    app: FastAPI, store: SqlStore, tmp_path: Path, fmt: str, crs: str, named: str
) -> None:
    frame = _events_frame(crs)
    body = body_upload("json", _as_geojson_body(frame), max_rows=100)
    plain = import_events(
        store, app.state.deployment, Sender(store.get_or_create_program("plain")), body
    )
    assert plain.accepted == 4
    assert "source_crs" not in plain.answer

    done = _import_file(app, store, "gis", _write(frame, tmp_path / fmt, fmt))

    assert done.accepted == 4
    assert done.rejected == []
    assert done.answer["source_crs"] == named
    assert _cells(store, "gis") == _cells(store, "plain")
    assert len({c[2:4] for c in _cells(store, "gis")}) > 1  # not all in one cell by accident


def test_a_polygon_event_is_refused_by_feature_not_by_csv_line(
    app: FastAPI, store: SqlStore, tmp_path: Path
) -> None:
    frame = _events_frame(UTM14)
    frame.loc[1, "geometry"] = frame.geometry.iloc[1].buffer(50)
    done = _import_file(app, store, "p", _write(frame, tmp_path / "g", "gpkg"))
    assert done.accepted == 3
    assert done.rejected == [
        {
            "index": 1,
            "code": "invalid_geometry",
            "detail": "feature 2 of events.gpkg: the geometry is not a point",
        }
    ]


def test_a_bad_row_is_named_by_feature_and_nothing_of_it_is_echoed(
    app: FastAPI, store: SqlStore, tmp_path: Path
) -> None:
    frame = _events_frame(UTM14)
    frame.loc[2, "kind"] = "secret-name-of-a-person"
    done = _import_file(app, store, "p", _write(frame, tmp_path / "g", "gpkg"))
    assert [(r["index"], r["code"]) for r in done.rejected] == [(2, "invalid_value")]
    assert done.rejected[0]["detail"].startswith("feature 3 of events.gpkg: ")
    assert "secret" not in orjson.dumps(done.answer).decode()


def test_columns_not_in_the_schema_are_never_read(
    app: FastAPI, store: SqlStore, tmp_path: Path
) -> None:
    frame = _events_frame(UTM14)
    frame["client_name"] = "Jane Doe"
    frame["type"] = frame.pop("kind")
    path = _write(frame, tmp_path / "g", "gpkg")
    upload = gis_file_upload(path, "events", ColumnMap(rename={"kind": "type"}))
    assert upload is not None
    text = "".join(upload.lines)
    assert text.startswith("observed_at,count,type,latitude,longitude\n")
    assert "client_name" not in text and "Jane" not in text
    sender = Sender(store.get_or_create_program("renamed"))
    upload = dataclasses.replace(upload, lines=text.splitlines(keepends=True))
    assert import_events(store, app.state.deployment, sender, upload).accepted == 4


def test_polygon_exclusions_and_point_candidates_and_sites(
    app: FastAPI, store: SqlStore, tmp_path: Path
) -> None:
    lon, lat = TOWN
    school = shapely.box(lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001)
    exclusions = geopandas.GeoDataFrame(
        {"name": ["School", "Park"], "exclusion_type": ["school", "playground"]},
        geometry=[school, shapely.Point(lon + 0.01, lat)],
        crs="EPSG:4326",
    ).to_crs(UTM14)
    (tmp_path / "x").mkdir()
    exclusions.to_file(tmp_path / "x" / "ex.gpkg", driver="GPKG")
    upload = gis_file_upload(tmp_path / "x" / "ex.gpkg", "exclusions", ColumnMap())
    assert upload is not None
    program_id = store.get_or_create_program("layers")
    done = import_layer(store, app.state.deployment, Sender(program_id), upload, "exclusion")
    assert done.accepted == 2 and done.answer["source_crs"] == "EPSG:32614"
    stored = {f.name: f for f in store.list_context(program_id, "exclusion")}
    polygon = shapely.from_geojson(stored["School"].geometry or "")
    assert polygon.geom_type == "Polygon"
    assert polygon.symmetric_difference(school).area < 1e-12  # the same square, back in degrees

    candidates = geopandas.GeoDataFrame(
        {"name": ["Corner store"], "candidate_type": ["locker"]},
        geometry=[shapely.Point(lon, lat)],
        crs="EPSG:4326",
    ).to_crs(UTM14)
    with warnings.catch_warnings():  # candidate_type is cut to candidate_; read back whole
        warnings.simplefilter("ignore")
        candidates.to_file(tmp_path / "x" / "cand.shp")
    upload = gis_file_upload(tmp_path / "x" / "cand.shp", "candidates", ColumnMap())
    assert upload is not None
    done = import_layer(store, app.state.deployment, Sender(program_id), upload, "candidate")
    assert done.accepted == 1
    (corner,) = store.list_context(program_id, "candidate")
    assert (corner.lon, corner.lat) == pytest.approx(TOWN, abs=1e-9)

    sites = geopandas.GeoDataFrame(
        {"name": ["Drop-in"], "site_type": ["hr_supply"], "services": ["naloxone;needles"]},
        geometry=[shapely.Point(lon, lat)],
        crs="EPSG:4326",
    ).to_crs(UTM14)
    sites.to_file(tmp_path / "x" / "sites.gpkg")
    upload = gis_file_upload(tmp_path / "x" / "sites.gpkg", "sites", ColumnMap())
    assert upload is not None
    done = import_sites(store, app.state.deployment, Sender(program_id), upload)
    assert done.accepted == 1, done.rejected
    (site,) = store.list_sites(program_id)
    assert (site.lon, site.lat) == pytest.approx(TOWN, abs=1e-9)


def test_plain_geojson_and_csv_take_the_old_path(tmp_path: Path) -> None:
    plain = tmp_path / "plain.geojson"
    plain.write_bytes(b'{"type": "FeatureCollection", "features": []}')
    (tmp_path / "e.csv").write_text("kind,observed_at,latitude,longitude\n")
    assert gis_file_upload(plain, "events", ColumnMap()) is None
    assert gis_file_upload(tmp_path / "e.csv", "events", ColumnMap()) is None


def test_cli_bad_gis_files_are_one_clear_message_and_nothing_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    runner = CliRunner()
    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"not a geopackage at all")
    result = runner.invoke(cli_app, ["ingest", "events", str(broken), "--program", "p"])
    assert result.exit_code == 2
    assert "broken.gpkg: geopandas cannot read this file" in result.output
    assert "not a geopackage" not in result.output

    frame = _events_frame(UTM14)
    (tmp_path / "s").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame.to_file(tmp_path / "s" / "e.shp")
    (tmp_path / "s" / "e.prj").unlink()
    result = runner.invoke(cli_app, ["ingest", "events", str(tmp_path / "s" / "e.shp")])
    assert result.exit_code == 2
    assert "e.shp: the file names no coordinate reference system" in result.output

    empty = frame.iloc[0:0]
    empty.to_file(tmp_path / "empty.gpkg")
    result = runner.invoke(cli_app, ["ingest", "events", str(tmp_path / "empty.gpkg")])
    assert result.exit_code == 2
    assert "the layer has no features" in result.output

    good = tmp_path / "good.gpkg"
    frame.to_file(good)
    result = runner.invoke(cli_app, ["ingest", "events", str(good), "--program", "p"])
    assert result.exit_code == 0, result.output
    assert "Stored 4 events" in result.output
    assert "Read in EPSG:32614" in result.output
