"""Community ownership: export, delete, retention, and the steward's CLI."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.cli import app as cli
from geo_service.services.stewardship import run_retention
from geo_service.storage.sql import SqlStore
from tests.conftest import collection, feature, problem
from tests.geo_service.test_cli import (
    _store,
    env,  # noqa: F401  (the CLI's database fixture)
)

Keys = dict[str, dict[str, str]]
RAW = (-101.8812345, 54.7712345)


def post(client: TestClient, keys: Keys, *rows: dict[str, object]) -> None:
    response = client.post("/v1/events", json=collection(*rows), headers=keys["manager"])
    assert response.status_code == 201, response.text


def test_stewards_export_geojson_and_csv_and_it_is_audited(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    post(
        client,
        keys,
        feature(*RAW, count=3),
        feature(*RAW, kind="overdose", naloxone_doses=2, naloxone_given=True),
    )
    geojson = client.get("/v1/export", headers=keys["steward"])
    assert geojson.status_code == 200
    assert "attachment" in geojson.headers["content-disposition"]
    features = geojson.json()["features"]
    assert sorted(f["properties"]["kind"] for f in features) == ["needle_report", "overdose"]
    table = client.get("/v1/export?format=csv", headers=keys["steward"])
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [r["record"] for r in rows] == ["event", "event"]
    assert {r["count"] for r in rows} == {"3", "1"}
    # Every stored field comes out: a steward's export is the program's whole record.
    overdose = next(r for r in rows if r["kind"] == "overdose")
    assert (overdose["naloxone_given"], overdose["time_precision"]) == ("true", "hour")
    for text in (geojson.text, table.text):
        assert "8812345" not in text and "7712345" not in text
    exports = [r for r in store.audit_rows() if r.action == "export"]
    assert len(exports) == 2 and '"events":2' in exports[0].detail
    for role in ("peer", "planner", "manager"):
        problem(client.get("/v1/export", headers=keys[role]), 403)


def test_deleting_needs_the_programs_name_and_leaves_keys_and_audit(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    post(client, keys, *[feature(*RAW) for _ in range(6)])
    wrong = client.delete("/v1/program/data?confirm=towns", headers=keys["steward"])
    assert "nothing was deleted" in problem(wrong, 400)["detail"]
    program_id = store.program_id("town") or 0
    assert store.count_rows(program_id)["events"] == 6
    problem(client.delete("/v1/program/data?confirm=town", headers=keys["manager"]), 403)
    done = client.delete("/v1/program/data?confirm=town", headers=keys["steward"])
    assert done.status_code == 200 and done.json()["deleted"]["events"] == 6
    assert store.count_rows(program_id)["events"] == 0
    body = client.get("/v1/hotspots?kind=needle_report", headers=keys["manager"]).json()
    assert body["features"] == []  # no cached answer outlives the deletion
    deletions = [r for r in store.audit_rows() if r.action == "data.delete"]
    assert len(deletions) == 1 and '"events":6' in deletions[0].detail
    assert client.get("/v1/sites", headers=keys["peer"]).status_code == 200  # keys still work


def test_a_role_that_may_not_export_or_delete_is_refused_before_its_options_are_read(
    client: TestClient, keys: Keys
) -> None:
    # The role gate runs first: a bad or missing option does not tell a manager anything.
    delete = client.delete("/v1/program/data", headers=keys["manager"])
    assert problem(delete, 403)["detail"].startswith("deleting the program's data needs one of")
    export = client.get("/v1/export?format=pdf", headers=keys["manager"])
    assert problem(export, 403)["detail"].startswith("exporting the program's data needs one of")
    problem(client.delete("/v1/program/data", headers=keys["steward"]), 422)


def test_retention_folds_old_events_into_monthly_aggregates(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    old = [feature(*RAW, observed_at="2023-03-10T12:00:00Z", count=2) for _ in range(3)]
    old += [feature(*RAW, observed_at="2023-04-02T12:00:00Z")]
    recent = [feature(*RAW, observed_at="2025-05-01T12:00:00Z")]
    post(client, keys, *old, *recent)
    program_id = store.program_id("town") or 0
    deployment = app.state.deployment
    now = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    cutoff, result = run_retention(store, deployment, months=24, now=now)
    assert dt.datetime.fromtimestamp(cutoff, deployment.tz).date() == dt.date(2024, 11, 1)
    assert result.events_removed == 4 and result.aggregate_rows == 2
    aggregates = store.aggregates(program_id)
    assert [(a.month, a.kind, a.count) for a in aggregates] == [
        ("2023-03", "needle_report", 6),
        ("2023-04", "needle_report", 1),
    ]
    assert store.count_rows(program_id)["events"] == 1  # the recent one stays
    again = run_retention(store, deployment, months=24, now=now)[1]
    assert again.events_removed == 0
    post(client, keys, feature(*RAW, observed_at="2023-03-20T12:00:00Z"))  # a late old report
    run_retention(store, deployment, months=24, now=now)
    assert store.aggregates(program_id)[0].count == 7  # added to the month, not duplicated
    table = client.get("/v1/export?format=csv", headers=keys["steward"]).text
    assert table.count("monthly_aggregate") == 2
    assert [r.action for r in store.audit_rows()].count("retention.run") == 3


def test_the_steward_cli_sets_publication_exports_and_runs_retention(
    env: Path,  # noqa: F811
) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--role", "steward", "--program", "north"])
    assert created.exit_code == 0
    shown = runner.invoke(cli, ["program", "publication", "--program", "north"])
    assert "k = peer 5, planner 5, public 10" in shown.stdout
    raised = runner.invoke(
        cli,
        ["program", "publication", "--program", "north", "--k-peer", "8", "--bucket", "quarter"],
    )
    assert raised.exit_code == 0 and "peer 8" in raised.stdout and "bucket quarter" in raised.stdout
    low = runner.invoke(cli, ["program", "publication", "--program", "north", "--k-peer", "3"])
    assert low.exit_code != 0 and "never set below the deployment's floor of 5" in low.output
    out = env / "north.csv"
    exported = runner.invoke(
        cli, ["program", "export", "--program", "north", "--out", str(out), "--format", "csv"]
    )
    assert exported.exit_code == 0 and out.read_text().startswith("record,kind")
    assert runner.invoke(cli, ["program", "delete-data", "--program", "north"]).exit_code != 0
    assert (
        runner.invoke(cli, ["program", "delete-data", "--program", "north", "--yes"]).exit_code == 0
    )
    ran = runner.invoke(cli, ["retention"])
    assert ran.exit_code == 0 and "Folded 0 events" in ran.stdout
    store = _store()
    actions = [r.action for r in store.audit_rows()]
    store.close()
    for action in ("publication.change", "export", "data.delete", "retention.run"):
        assert action in actions
