"""The geo-service command: keys, ingest of real data, and the demo town."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.deployment import Deployment
from geo_service.services.invites import join
from geo_service.settings import get_settings
from geo_service.storage.sql import SqlStore, open_existing_store, open_store
from tests.conftest import SHARED_DATA

runner = CliRunner()
BOSTON = {
    "GEO_SERVICE_SERVICE_AREA_BBOX": "-71.20,42.22,-70.98,42.40",
    "GEO_SERVICE_TIMEZONE": "America/New_York",
    "GEO_SERVICE_RETENTION_MONTHS": "240",  # the 2015 history is older than the default 24
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _store() -> SqlStore:
    settings = get_settings()
    return open_store(settings.database_url, grid_record=Deployment(settings).grid_record())


@pytest.mark.usefixtures("env")
def test_keys_create_list_revoke() -> None:
    created = runner.invoke(app, ["keys", "create", "--role", "peer", "--program", "north-end"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("gs_") and len(key) > 40
    listed = runner.invoke(app, ["keys", "list"])
    assert "north-end\tpeer" in listed.stdout and key not in listed.stdout
    store = _store()
    [record] = store.list_keys("north-end")
    assert store.key_by_hash(key) is None  # only the hash is stored
    store.close()
    assert runner.invoke(app, ["keys", "revoke", str(record.id)]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"]).stdout
    assert runner.invoke(app, ["keys", "revoke", str(record.id)]).exit_code == 2
    bad = runner.invoke(app, ["keys", "create", "--role", "peer", "--program", "Bad Name!"])
    assert bad.exit_code == 2


def test_ingest_real_boston_needle_pickups(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BOSTON.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    rejects = env / "rejects.csv"
    result = runner.invoke(
        app,
        [
            "ingest",
            "events",
            str(SHARED_DATA / "boston_needle_pickups_2015.csv"),
            "--program",
            "boston",
            "--set",
            "kind=needle_report",
            "--column",
            "observed_at=opened",
            "--ignore",
            "source",
            "--set",
            "source=city",
            "--time-format",
            "%m/%d/%Y %I:%M:%S %p",
            "--rejects",
            str(rejects),
        ],
    )
    assert result.exit_code == 0, result.output
    store = _store()
    stored = store.count_rows(store.program_id("boston") or 0)["events"]
    store.close()
    rejected = rejects.read_text().splitlines()[1:] if rejects.exists() else []
    assert stored + len(rejected) == 606
    assert stored > 590
    assert f"Stored {stored} events" in result.stdout


def test_ingest_refuses_a_file_with_nothing_valid(env: Path) -> None:
    bad = env / "bad.csv"
    bad.write_text("kind,observed_at,latitude,longitude\noverdose,yesterday,54.77,-101.88\n")
    result = runner.invoke(app, ["ingest", "events", str(bad)])
    assert result.exit_code == 2
    assert "Nothing was stored" in result.output and "invalid_timestamp" in result.output


@pytest.mark.usefixtures("env")
def test_demo_loads_a_synthetic_town_with_hot_spots() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("gs_") == 4
    # A phone's way in: the printed link's code signs a peer in once.
    link = re.search(r"/join\?code=([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})", result.stdout)
    assert link, result.stdout
    store = _store()
    program_id = store.program_id("demo") or 0
    joined = join(store, link.group(1), now=int(time.time()))
    assert joined is not None and join(store, link.group(1), now=int(time.time())) is None
    counts = store.count_rows(program_id)
    assert counts["events"] > 5000 and counts["sites"] == 15 and counts["context"] == 13
    with store.engine.connect() as conn:
        kinds: dict[str, int] = dict(
            conn.exec_driver_sql("SELECT kind, count(*) FROM events GROUP BY kind").all()
        )
        busiest = conn.exec_driver_sql(
            "SELECT sum(count) FROM events WHERE kind='needle_report' "
            "GROUP BY cell_ix, cell_iy ORDER BY 1 DESC LIMIT 1"
        ).scalar_one()
        median = conn.exec_driver_sql(
            "SELECT sum(count) FROM events WHERE kind='needle_report' "
            "GROUP BY cell_ix, cell_iy ORDER BY 1 LIMIT 1 OFFSET "
            "(SELECT count(DISTINCT cell_ix || ':' || cell_iy) FROM events "
            " WHERE kind='needle_report') / 2"
        ).scalar_one()
    assert set(kinds) == {"needle_report", "overdose", "cleanup"}
    assert busiest > 10 * median  # hot spots stand out from the background
    store.close()
    again = runner.invoke(app, ["demo"])  # re-running replaces, never doubles
    assert again.exit_code == 0
    store = _store()
    assert store.count_rows(program_id) == counts
    assert sum(k.revoked_on is None and k.label == "demo" for k in store.list_keys("demo")) == 4
    store.close()


@pytest.mark.usefixtures("env")
def test_ingest_sites_from_the_real_philadelphia_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_SERVICE_SERVICE_AREA_BBOX", "-75.30,39.86,-74.95,40.14")
    get_settings.cache_clear()
    result = runner.invoke(
        app,
        [
            "ingest",
            "sites",
            str(SHARED_DATA / "philadelphia_syringe_exchange_sites.csv"),
            "--program",
            "phl",
            "--column",
            "name=site_location",
            "--column",
            "latitude=lat",
            "--column",
            "longitude=lng",
            "--set",
            "site_type=hr_supply",
            "--set",
            "services=needles;naloxone",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Stored 17 sites" in result.stdout
    assert "missing_coordinates 9" in result.output


def test_ingest_candidates_and_exclusions_like_the_api(env: Path) -> None:
    from tests.conftest import TOWN

    lon, lat = TOWN
    table = env / "candidates.csv"
    table.write_text(
        "name,candidate_type,power,shelter,host_consent,notes,latitude,longitude\n"
        f"Rink wall,locker,yes,no,unknown,,{lat},{lon}\n"
        f"Far away,locker,yes,no,unknown,,45.0,{lon}\n"
        f"Library,vending_machine,yes,yes,yes,staff agree,{lat + 0.001},{lon}\n"
    )
    result = runner.invoke(app, ["ingest", "candidates", str(table), "--program", "town"])
    assert result.exit_code == 0, result.output
    assert "Stored 2 candidates" in result.stdout
    assert "45.0" not in result.output  # the refused row is named, never echoed
    zones = env / "zones.geojson"
    ring = [[lon, lat], [lon + 0.002, lat], [lon + 0.002, lat + 0.001], [lon, lat]]
    zones.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", '
        f'"geometry": {{"type": "Polygon", "coordinates": [{ring}]}}, '
        '"properties": {"name": "School yard", "exclusion_type": "school"}}]}'
    )
    for _ in range(2):  # replacing twice leaves one layer, not two
        result = runner.invoke(
            app, ["ingest", "exclusions", str(zones), "--program", "town", "--replace"]
        )
        assert result.exit_code == 0, result.output
    store = _store()
    program_id = store.get_or_create_program("town")
    names = sorted(f.name for f in store.list_context(program_id, "candidate"))
    assert names == ["Library", "Rink wall"]
    [zone] = store.list_context(program_id, "exclusion")
    assert zone.name == "School yard" and zone.buffer_m == 200.0 and zone.geometry
    store.close()
    # Column mapping is for events and sites; a layer takes the schema's own columns.
    timed = runner.invoke(app, ["ingest", "exclusions", str(zones), "--time-format", "%Y"])
    assert timed.exit_code == 2 and "No such option" in timed.output
    mapped = runner.invoke(app, ["ingest", "candidates", str(table), "--set", "power=yes"])
    assert mapped.exit_code == 2


def test_every_command_closes_the_store_also_when_it_refuses(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geo_service.cli.common as cli

    opened: list[SqlStore] = []
    closed: list[SqlStore] = []

    def tracked_open(*args: Any, **kwargs: Any) -> SqlStore:
        opened.append(open_store(*args, **kwargs))
        return opened[-1]

    def tracked_open_existing(*args: Any, **kwargs: Any) -> SqlStore:
        opened.append(open_existing_store(*args, **kwargs))
        return opened[-1]

    def tracked_close(store: SqlStore) -> None:
        closed.append(store)
        store.engine.dispose()

    monkeypatch.setattr(cli, "open_store", tracked_open)
    monkeypatch.setattr(cli, "open_existing_store", tracked_open_existing)
    monkeypatch.setattr(SqlStore, "close", tracked_close)
    table = env / "events.csv"
    table.write_text("kind,observed_at,latitude,longitude\n")
    refused = [
        (["network", "import", str(env / "streets.osm.pbf"), "--program", "nobody"], "nobody"),
        (["ingest", "events", str(table), "--column", "no-equals-sign"], "FIELD=VALUE"),
        (["keys", "revoke", "999"], "no active key"),
        (["keys", "create", "--role", "peer", "--program", "Bad Name!"], ""),
        (["audit", "list", "--program", "nobody"], "no program named nobody"),
        (["program", "publication", "--program", "nobody"], "no program named nobody"),
        (["program", "export", "--program", "nobody", "--out", str(env / "x")], "nobody"),
        (["program", "delete-data", "--program", "nobody", "--yes"], "nobody"),
    ]
    for args, message in refused:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert runner.invoke(app, ["keys", "list"]).exit_code == 0
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert len(opened) == len(refused) + 2
    assert all(any(store is c for c in closed) for store in opened)
