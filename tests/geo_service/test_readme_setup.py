"""README "Set up your own program", run verbatim: the fenced commands are read from README.md
and run one by one in an empty folder holding only a Boston polygon (at the path the README
uses) and Boston's real 2015 needle pickups; `serve` is the app under a TestClient, and the map
the README names is fetched with the key `keys create` printed (issue 16 part 7)."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Polygon
from typer.testing import CliRunner

from geo_service.cli import app as cli
from geo_service.main import create_app
from geo_service.settings import get_settings
from tests.conftest import SHARED_DATA, bearer

README = Path(__file__).resolve().parents[2] / "README.md"
BOSTON_CSV = SHARED_DATA / "boston_needle_pickups_2015.csv"
# Boston drawn roughly along its limits (Charlestown and East Boston to Hyde Park), not a bbox.
BOSTON = Polygon(
    [
        (-71.191, 42.283), (-71.160, 42.258), (-71.130, 42.228), (-71.093, 42.227),
        (-71.060, 42.265), (-71.040, 42.300), (-70.995, 42.330), (-70.985, 42.385),
        (-71.030, 42.395), (-71.075, 42.390), (-71.118, 42.372), (-71.167, 42.362),
        (-71.178, 42.330),
    ]
)  # fmt: skip
runner = CliRunner()


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def commands(text: str) -> list[list[str]]:
    """The first ```sh block's commands, continuation lines joined, comments dropped."""
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)
    assert block is not None
    joined = block.group(1).replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder with the two files the README starts from."""
    if not BOSTON_CSV.is_file():
        pytest.skip(f"{BOSTON_CSV} is not here (set GEO_SERVICE_SHARED_DATA)")
    for name in list(os.environ):
        if name.startswith("GEO_SERVICE_") and name != "GEO_SERVICE_SHARED_DATA":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    feature = {
        "type": "Feature",
        "properties": {"name": "Boston"},
        "geometry": BOSTON.__geo_interface__,
    }
    collection = {"type": "FeatureCollection", "features": [feature]}
    (tmp_path / "boston.geojson").write_text(json.dumps(collection))
    (tmp_path / BOSTON_CSV.name).write_bytes(BOSTON_CSV.read_bytes())
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.mark.usefixtures("folder")
def test_set_up_your_own_program_in_five_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    text = section("Set up your own program")
    steps = commands(text)
    assert len(steps) == 5, steps
    outputs: dict[str, str] = {}
    served = False
    for argv in steps:
        if argv[0] == "export":
            name, _, value = argv[1].partition("=")
            monkeypatch.setenv(name, value)
            get_settings.cache_clear()
            continue
        assert argv[0] == ".venv/bin/geo-service", argv
        if argv[1] == "serve":
            served = True
            continue
        result = runner.invoke(cli, argv[1:], terminal_width=200)
        assert result.exit_code == 0, (argv, result.output)
        outputs[argv[1]] = result.output
    assert served
    # What each step said, on the real file.
    assert "EPSG:32619" in outputs["program"] and "America/New_York" in outputs["program"]
    ingest = outputs["ingest"]
    assert "Left out 8 rows by --where." in ingest
    # 606 rows: 8 at the placeholder, 1 on the Dorchester shore the rough polygon cuts, 19 repeats.
    assert "Rejected 1 rows (outside_service_area 1)." in ingest
    assert "Dropped 19 duplicates" in ingest and "Stored 578 events" in ingest
    key = outputs["keys"].strip().splitlines()[0]
    assert key.startswith("gs_")
    # The map the README names, as `serve` would answer it.
    match = re.search(r"http://127\.0\.0\.1:8000(/maps/\S+)", text)
    assert match is not None
    with TestClient(create_app(get_settings())) as client:
        page = client.get(match.group(1), headers=bearer(key))
    assert page.status_code == 200, page.text[:500]
    assert "Hot spots of needle reports, July–September 2015" in page.text
    assert "-71.191, 42.283" in page.text  # the program's own outline, not Flin Flon's
