"""``geo-service alerts ...``: the steward's rules and areas, a manager's review and the
poster's phone number from the command line, with the same checks as the API."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.deployment import Deployment
from geo_service.services.alerts import delivery
from geo_service.settings import get_settings
from geo_service.storage.sql import SqlStore, open_store
from tests.geo_service.alerting import REF, UNKNOWN_REF, draft, square, stored

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    made = runner.invoke(app, ["keys", "create", "--role", "steward", "--program", "town"])
    assert made.exit_code == 0, made.output
    yield tmp_path
    get_settings.cache_clear()


def _store() -> SqlStore:
    settings = get_settings()
    return open_store(settings.database_url, grid_record=Deployment(settings).grid_record())


def run(*args: str) -> Any:
    return runner.invoke(app, ["alerts", *args])


@pytest.mark.usefixtures("env")
def test_rules_are_added_listed_and_removed() -> None:
    added = run("rules", "add", "--program", "town", "--name", "3 in 24h", "--threshold", "3")
    assert added.exit_code == 0, added.output
    rule = json.loads(added.stdout)
    assert (rule["method"], rule["threshold"], rule["window_hours"]) == ("count", 3, 24)
    trend = run("rules", "add-trend", "--program", "town", "--name", "Unusual day", "--method",
                "ears_c2", "--option", "threshold=2.5", "--option", "min_sigma=1")  # fmt: skip
    assert trend.exit_code == 0, trend.output
    assert json.loads(trend.stdout)["options"] == {"threshold": 2.5, "min_sigma": 1.0}
    ewma = run("rules", "add-trend", "--program", "town", "--name", "EWMA", "--method", "ewma",
               "--option", "alarm_at=yellow", "--kind", "needle_report")  # fmt: skip
    assert json.loads(ewma.stdout)["options"] == {"alarm_at": "yellow"}
    listed = run("rules", "list", "--program", "town")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == [
        "3 in 24h", "Unusual day", "EWMA",
    ]  # fmt: skip
    assert run("rules", "delete", str(rule["id"]), "--program", "town").exit_code == 0
    again = run("rules", "delete", str(rule["id"]), "--program", "town")
    assert again.exit_code == 2 and "no rule" in again.output
    assert len(run("rules", "list", "--program", "town").stdout.splitlines()) == 2


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["add", "--threshold", "3", "--window", "1"], "6-hour blocks"),
        (["add", "--threshold", "3", "--method", "naloxone", "--kind", "needle_report"],
         "kind overdose only"),
        (["add", "--threshold", "0"], "threshold is a whole number"),
        (["add-trend", "--method", "ears_c1", "--option", "xyzzy=1"], "takes threshold"),
        (["add-trend", "--method", "ears_c1", "--option", "novalue"], "NAME=VALUE"),
        (["add-trend", "--method", "count"], "needs a threshold"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_and_nothing_is_stored(args: list[str], said: str) -> None:
    refused = run("rules", *args, "--program", "town", "--name", "x")
    assert refused.exit_code == 2
    assert said in refused.output and "xyzzy" not in refused.output
    assert run("rules", "list", "--program", "town").stdout == ""


@pytest.mark.usefixtures("env")
def test_a_rule_for_an_unknown_program_is_refused() -> None:
    refused = run("rules", "add", "--program", "nowhere", "--name", "x", "--threshold", "3")
    assert refused.exit_code == 2 and "no program named nowhere" in refused.output


def test_named_areas_are_added_from_a_file_listed_and_removed(env: Path) -> None:
    good, tiny = env / "downtown.geojson", env / "tiny.geojson"
    good.write_text(json.dumps({"type": "FeatureCollection", "features": [square("ignored")]}))
    tiny.write_text(json.dumps(square("ignored", half_lon=0.002, half_lat=0.001)))
    added = run("areas", "add", str(good), "--name", "Downtown", "--program", "town")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == "Added area 1: Downtown"
    refused = run("areas", "add", str(tiny), "--name", "Tiny", "--program", "town")
    assert refused.exit_code == 2 and "at least 0.25 km²" in refused.output
    unnamed = run("areas", "add", str(good), "--name", " ", "--program", "town")
    assert unnamed.exit_code == 2 and "1 to 100 characters" in unnamed.output
    assert run("areas", "list", "--program", "town").stdout == "1\tDowntown\n"
    assert run("areas", "delete", "1", "--program", "town").exit_code == 0
    assert run("areas", "delete", "1", "--program", "town").exit_code == 2
    assert run("areas", "list", "--program", "town").stdout == ""


@pytest.mark.usefixtures("env")
def test_drafts_are_listed_confirmed_once_and_dismissed(monkeypatch: pytest.MonkeyPatch) -> None:
    delivered: list[tuple[int, int]] = []
    monkeypatch.setattr(delivery, "deliver_alert", lambda _s, _t, p, a: delivered.append((p, a)))
    rule = json.loads(run("rules", "add", "--program", "town", "--name", "3 in 24h",
                          "--threshold", "3").stdout)  # fmt: skip
    store = _store()
    program_id = store.program_id("town")
    assert program_id is not None
    old = draft(
        store, program_id, rule["id"], day="2026-11-01", drafted_at=int(time.time()) - 9 * 86400
    )
    first = draft(store, program_id, rule["id"], day="2026-11-29")
    second = draft(store, program_id, rule["id"], day="2026-11-30")
    first_id = stored(store, program_id, first).id
    store.close()
    listed = run("list", "--program", "town").stdout.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [
        [second, "drafted"], [first, "drafted"],
    ]  # fmt: skip
    assert all(re.fullmatch(REF, line.split("\t")[0]) for line in listed)
    # The store's id names no alert here either: only the reference the list shows does.
    by_id = run("confirm", str(first_id), "--program", "town")
    assert by_id.exit_code == 2 and "no alert" in by_id.output
    assert "4 seen (expected 1.5)" in listed[0] and "rule 1: 3 in 24h" in listed[0]
    confirmed = run("confirm", str(first), "--program", "town")
    assert (confirmed.exit_code, confirmed.stdout) == (0, f"Alert {first} sent.\n")
    assert delivered == [(program_id, first_id)]
    again = run("confirm", str(first), "--program", "town")
    assert again.exit_code == 2 and "already confirmed or dismissed" in again.output
    assert run("dismiss", str(second), "--program", "town").stdout == f"Alert {second} dismissed.\n"
    assert run("confirm", str(second), "--program", "town").exit_code == 2
    assert run("confirm", UNKNOWN_REF, "--program", "town").exit_code == 2
    assert delivered == [(program_id, first_id)]
    history = run("list", "--program", "town", "--all").stdout.splitlines()
    assert [line.split("\t")[:2] for line in history] == [
        [second, "dismissed"], [first, "sent"], [old, "drafted"],
    ]  # fmt: skip
    store = _store()
    actions = [r.action for r in store.audit_rows(program_id, after_id=0, limit=100)]
    store.close()
    assert {"alert_rule.add", "alert.confirm", "alert.dismiss"} <= set(actions)


@pytest.mark.usefixtures("env")
def test_the_posters_phone_number() -> None:
    assert run("phone", "+1 204 555 0100", "--program", "town").stdout == (
        "The poster gives +1 204 555 0100.\n"
    )
    refused = run("phone", "call me maybe", "--program", "town")
    assert refused.exit_code == 2 and "digits, spaces" in refused.output
    store = _store()
    program_id = store.program_id("town")
    assert program_id is not None and store.alert_phone(program_id) == "+1 204 555 0100"
    store.close()
    assert run("phone", "", "--program", "town").stdout == "The poster gives no phone number.\n"
