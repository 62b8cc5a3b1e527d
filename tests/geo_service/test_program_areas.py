"""``geo-service program create|show|list|update``: areas from GIS files, CRS and time zone
defaults, the rules that protect stored events, and one clear line for every bad input."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas
import pytest
from shapely.geometry import LineString, Point, Polygon, box
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.settings import get_settings
from geo_service.storage.sql import open_existing_store
from tests.conftest import TOWN

runner = CliRunner()
BOSTON = box(-71.19, 42.23, -70.98, 42.40)
FLIN_FLON = box(-101.93, 54.74, -101.83, 54.80)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/areas.sqlite3")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _write(folder: Path, name: str, shapes: list[Any], crs: str | None = "EPSG:4326") -> Path:
    path = folder / name
    frame = geopandas.GeoDataFrame({"name": [f"part {i}" for i in range(len(shapes))]},
                                   geometry=shapes, crs=crs)  # fmt: skip
    driver = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".kml": "KML"}.get(path.suffix, "GeoJSON")
    with warnings.catch_warnings():  # writing a file without a CRS is what some tests want
        warnings.simplefilter("ignore", UserWarning)
        frame.to_file(path, driver=driver, engine="pyogrio")
    return path


def _programs() -> dict[str, Any]:
    store = open_existing_store(get_settings().database_url)
    try:
        return {p.name: p for p in store.list_programs()}
    finally:
        store.close()


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".kml", ".geojson"])
def test_create_reads_any_polygon_file_in_any_crs(env: Path, suffix: str) -> None:
    # Boston drawn in Massachusetts State Plane (metres) where the format allows another CRS.
    crs = "EPSG:4326" if suffix in (".kml", ".geojson") else "EPSG:26986"
    frame = geopandas.GeoDataFrame(geometry=[BOSTON], crs="EPSG:4326").to_crs(crs)
    area = _write(env, f"boston{suffix}", list(frame.geometry), crs=crs)
    result = runner.invoke(app, ["program", "create", "boston", "--area", str(area)])
    assert result.exit_code == 0, result.output
    assert "EPSG:32619" in result.stdout and "America/New_York" in result.stdout
    shown = runner.invoke(app, ["program", "show", "boston"])
    assert shown.exit_code == 0 and "west -71.19" in shown.stdout
    assert "boston" in runner.invoke(app, ["program", "list"]).stdout


def test_the_union_of_all_polygons_is_the_area(env: Path) -> None:
    halves = [box(-71.19, 42.23, -71.08, 42.40), box(-71.08, 42.23, -70.98, 42.40)]
    area = _write(env, "halves.geojson", halves)
    result = runner.invoke(app, ["program", "create", "boston", "--area", str(area)])
    assert result.exit_code == 0, result.output
    assert "polygon of" in result.stdout and "east -70.98" in result.stdout


def test_an_area_across_time_zones_needs_a_chosen_one(env: Path) -> None:
    # From Regina (America/Regina) to Winnipeg (America/Winnipeg).
    wide = _write(env, "prairie.geojson", [box(-104.7, 49.9, -97.0, 50.6)])
    refused = runner.invoke(app, ["program", "create", "prairie", "--area", str(wide)])
    assert refused.exit_code == 2
    assert "America/Regina" in refused.output and "America/Winnipeg" in refused.output
    assert "--timezone" in refused.output
    assert "prairie" not in _programs()
    chosen = runner.invoke(
        app, ["program", "create", "prairie", "--area", str(wide), "--timezone", "America/Regina"]
    )
    assert chosen.exit_code == 0 and "America/Regina" in chosen.stdout


BAD_AREAS: list[tuple[str, Any, str]] = [
    ("point.geojson", [Point(TOWN)], "must be polygons"),
    ("line.geojson", [LineString([(0, 0), (1, 1)])], "must be polygons"),
    ("flat.geojson", [Polygon([(-101.9, 54.75), (-101.88, 54.75), (-101.86, 54.75)])], "no area"),
    ("huge.geojson", [box(-110.0, 49.0, -90.0, 60.0)], "more than a province"),
]


@pytest.mark.parametrize(("name", "shapes", "message"), BAD_AREAS)
def test_bad_areas_are_one_clear_line_and_nothing_is_created(
    env: Path, name: str, shapes: list[Any], message: str
) -> None:
    area = _write(env, name, shapes)
    result = runner.invoke(
        app, ["program", "create", "town", "--area", str(area), "--timezone", "America/Winnipeg"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and str(area) in result.output
    assert "Traceback" not in result.output
    assert "town" not in _programs()


def test_unreadable_empty_and_crs_less_files_are_refused(env: Path) -> None:
    garbage = env / "garbage.gpkg"
    garbage.write_bytes(b"not a geopackage")
    empty = env / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    no_crs = _write(env, "nocrs.shp", [FLIN_FLON], crs=None)
    cases = [
        (garbage, "geopandas cannot read"),
        (empty, "no features"),
        (no_crs, "names no coordinate reference system"),
        (env / "missing.geojson", "no such file"),
    ]
    for path, message in cases:
        result = runner.invoke(
            app,
            ["program", "create", "town", "--area", str(path), "--timezone", "America/Winnipeg"],
        )
        assert result.exit_code == 2, (path, result.output)
        assert message in result.output and str(path) in result.output
    assert "town" not in _programs()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--crs", "EPSG:4326", "projected CRS in metres"),
        ("--crs", "EPSG:999999", "not a known coordinate reference system"),
        ("--timezone", "Central Time", "not an IANA time zone"),
        ("--timezone", "Mars/Olympus", "not an IANA time zone"),
    ],
)
def test_bad_crs_and_time_zones_are_refused(
    env: Path, option: str, value: str, message: str
) -> None:
    area = _write(env, "ff.geojson", [FLIN_FLON])
    result = runner.invoke(app, ["program", "create", "town", "--area", str(area), option, value])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "town" not in _programs()


def _ingest_town(env: Path) -> None:
    table = env / "events.csv"
    table.write_text(
        "kind,observed_at,latitude,longitude\n"
        f"needle_report,2025-05-01T10:00:00-05:00,{TOWN[1]},{TOWN[0]}\n"
    )
    result = runner.invoke(app, ["ingest", "events", str(table), "--program", "town"])
    assert result.exit_code == 0, result.output


def test_update_grows_the_area_but_keeps_grid_and_zone_once_events_exist(env: Path) -> None:
    small = _write(env, "small.geojson", [box(-101.90, 54.75, -101.86, 54.78)])
    created = runner.invoke(
        app, ["program", "create", "town", "--area", str(small), "--timezone", "America/Winnipeg"]
    )
    assert created.exit_code == 0, created.output
    # No events yet: anything may change.
    moved = runner.invoke(app, ["program", "update", "town", "--crs", "EPSG:3158"])
    assert moved.exit_code == 0 and "EPSG:3158" in moved.stdout
    assert runner.invoke(app, ["program", "update", "town", "--crs", "EPSG:32614"]).exit_code == 0
    _ingest_town(env)
    for option, value in (("--timezone", "America/Regina"), ("--crs", "EPSG:3158")):
        refused = runner.invoke(app, ["program", "update", "town", option, value])
        assert refused.exit_code == 2 and "fixed" in refused.output, refused.output
    elsewhere = _write(env, "elsewhere.geojson", [box(-101.84, 54.79, -101.83, 54.80)])
    shrunk = runner.invoke(app, ["program", "update", "town", "--area", str(elsewhere)])
    assert shrunk.exit_code == 2 and "leaves out 1 cells" in shrunk.output
    grown = _write(env, "grown.geojson", [FLIN_FLON])
    assert runner.invoke(app, ["program", "update", "town", "--area", str(grown)]).exit_code == 0
    shown = runner.invoke(app, ["program", "show", "town"])
    assert "EPSG:32614" in shown.stdout and "America/Winnipeg" in shown.stdout
    assert "west -101.93" in shown.stdout and "1 events" in shown.stdout


def test_a_program_made_by_ingest_keeps_the_defaults_it_was_made_with(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ingest_town(env)
    monkeypatch.setenv("GEO_SERVICE_SERVICE_AREA_BBOX", "-101.95,54.70,-101.80,54.85")
    get_settings.cache_clear()
    shown = runner.invoke(app, ["program", "show", "town"])
    assert shown.exit_code == 0 and "west -101.9300" in shown.stdout  # not the new default
    assert "own area" in runner.invoke(app, ["program", "list"]).stdout


def test_read_only_commands_create_no_database(env: Path) -> None:
    for args in (
        ["keys", "list"],
        ["program", "list"],
        ["program", "show", "x"],
        ["audit", "list"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "geo-service migrate" in result.output, result.output
    assert not (env / "areas.sqlite3").exists()
