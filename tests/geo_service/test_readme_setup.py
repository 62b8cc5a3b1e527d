"""README "Set up your own program", run verbatim: the fenced commands are read from README.md
and run one by one in an empty folder holding only a Boston polygon (at the path the README
uses) and Boston's real 2015 needle pickups; `serve` is the app under a TestClient, and the map
the README names is fetched with the key `keys create` printed (issue 16 part 7)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Polygon
from typer.testing import CliRunner

from geo_service.cli import app as cli
from geo_service.main import create_app
from geo_service.periods import Bucket, latest_published
from geo_service.services.releases import DEFAULT_GRACE_DAYS
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


# -- examples that stay true as the dates move (issue 17) ------------------------------------

# A fixed month, quarter or year: 2026-Q3, 2026-05, 2026. The spellings YYYY-Qn, YYYY-MM stay.
FIXED_DATE = re.compile(r"(?<![\w%])(?:19|20)\d\d(?:-Q[1-4]|-[01]\d)?(?![\w])")
PERCENT = re.compile(r"\d+(?:\.\d+)?\s?%")
PERIOD_LINE = re.compile(r"^PERIOD=(.*)$", re.M)


def runnable_examples(text: str) -> list[str]:
    """Every fenced block, inline code span and link to the local service."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    links = re.findall(r"http://127\.0\.0\.1:8000/\S*", text)
    return blocks + spans + links


def test_runnable_examples_name_relative_periods_only() -> None:
    text = README.read_text(encoding="utf-8")
    own_program = section("Set up your own program")  # Boston's file is 2015's: its own dates
    fixed = [
        (example, found)
        for example in runnable_examples(text.replace(own_program, ""))
        for found in FIXED_DATE.findall(example)
    ]
    assert fixed == []
    assert "$PERIOD" in text and PERIOD_LINE.search(text) is not None


def paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


def test_the_readme_quotes_no_percentage_about_the_demo_town() -> None:
    """The town moves with today's date: its shares are printed by `make demo`, not written
    here. Only a measured table that names the bench printing it may quote them."""
    parts = paragraphs(README.read_text(encoding="utf-8"))
    quoted = [
        p
        for before, p in zip(["", *parts], parts, strict=False)
        if "demo" in p and PERCENT.search(p) and "bench/" not in before + p
    ]
    assert quoted == []


def shell_period(stub_date: str | None = None) -> str:
    """The README's PERIOD line run by bash (``date`` replaced by ``stub_date`` if given)."""
    match = PERIOD_LINE.search(README.read_text(encoding="utf-8"))
    assert match is not None
    stub = f"date() {{ echo '{stub_date}'; }}; " if stub_date else ""
    script = f"{stub}PERIOD={match.group(1)}; echo $PERIOD"
    env = {**os.environ, "TZ": "America/Winnipeg"}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("month", range(1, 13))
def test_the_readmes_period_is_the_last_published_quarter(month: int) -> None:
    tz = ZoneInfo("America/Winnipeg")
    seven_days_ago = dt.datetime(2027, month, 15, 12, tzinfo=tz)
    now = seven_days_ago.timestamp() + DEFAULT_GRACE_DAYS * 86_400
    expected = latest_published(Bucket.QUARTER, now=now, grace_days=DEFAULT_GRACE_DAYS, tz=tz)
    assert shell_period(f"2027 {month:02d}") == expected


def printed_share(output: str, before: str) -> str:
    match = re.search(re.escape(before) + r" ?(\d+%)", output)
    assert match is not None, (before, output)
    return match.group(1)


def night_share(by_hour: dict[str, Any]) -> float:
    events = [row[:6] for row in by_hour["events"]]
    shares = [row[:6] for row in by_hour["share_open"]]
    total = sum(sum(row) for row in events)
    covered = sum(
        e * (s or 0.0)
        for er, sr in zip(events, shares, strict=True)
        for e, s in zip(er, sr, strict=True)
    )
    return float(covered / total)


@pytest.fixture
def demo_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in list(os.environ):
        if name.startswith("GEO_SERVICE_") and name != "GEO_SERVICE_SHARED_DATA":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/demo.sqlite3")
    monkeypatch.setenv("GEO_SERVICE_MAP_TILES", "none")
    get_settings.cache_clear()
    result = runner.invoke(cli, ["demo"], terminal_width=300)
    assert result.exit_code == 0, result.output
    yield result.output
    get_settings.cache_clear()


def test_the_demo_prints_the_numbers_it_computes(demo_output: str) -> None:
    """What `geo-service demo` prints is what the API answers for the town it just made."""
    out = demo_output
    keys = dict(re.findall(r"^  (peer|planner|manager|steward) +(gs_\S+)$", out, re.M))
    quarter_match = re.search(r"The last finished quarter is (\d{4}-Q[1-4])\.", out)
    assert quarter_match is not None
    quarter = quarter_match.group(1)
    assert shell_period() == quarter  # the README's examples name the quarter the demo prints
    with TestClient(create_app(get_settings())) as client:
        found = re.findall(r"http://127\.0\.0\.1:8000(/\S+)", out)
        (invite,) = [link for link in found if link.startswith("/join?code=")]
        links = [link for link in found if link != invite]
        assert len(links) == 3 and all(f"period={quarter}" in link for link in links)
        for link in links:
            assert client.get(link, headers=bearer(keys["peer"])).status_code == 200, link
        # The phone's invite link opens the join page with its code filled in.
        code = invite.removeprefix("/join?code=")
        assert f'value="{code}"' in client.get(invite).text
        coverage = client.get(
            "/v1/coverage?service=naloxone&kind=overdose&minutes=10",
            headers=bearer(keys["manager"]),
        ).json()
        (result,) = coverage["results"]
        lockers = client.post(
            "/v1/siting/lockers",
            json={"p": 3, "service": "needles"},
            headers=bearer(keys["planner"]),
        ).json()
    assert printed_share(out, "naloxone site:") == f"{result['share_open']:.0%}"
    assert printed_share(out, "while it was open,") == f"{result['share_anytime']:.0%}"
    assert printed_share(out, "if hours did not matter,") == f"{night_share(result['by_hour']):.0%}"
    assert printed_share(out, "coverage") == f"{lockers['coverage_before']:.0%}"
    assert printed_share(out, "->") == f"{lockers['coverage_after']:.0%}"
    assert f"({lockers['solver']['status']})" in out
    for left_out in lockers["excluded"]:
        assert f"left out: {left_out['name']} ({left_out['reason']})" in out
    # The shares the README's prose describes, on the town the demo made.
    assert result["share_open"] < result["share_anytime"]
    assert lockers["coverage_after"] > lockers["coverage_before"]
