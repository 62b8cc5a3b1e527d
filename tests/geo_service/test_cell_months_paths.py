"""Every way events come in keeps the cell months equal to the events: a batch through the
API, a phone report, a CLI import and the demo town."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.cli import app as cli
from geo_service.deployment import Deployment
from geo_service.settings import get_settings
from geo_service.storage.sql import SqlStore, open_store
from tests.conftest import collection, feature
from tests.geo_service.test_cell_months import _expected, _table
from tests.geo_service.test_reports_api import report, send

Keys = dict[str, dict[str, str]]


def _agrees(store: SqlStore, program: str, timezone: str = "America/Winnipeg") -> int:
    program_id = store.program_id(program)
    assert program_id is not None
    table = _table(store, program_id)
    assert table == _expected(store, program_id, timezone)
    return sum(int(row[5]) for row in table)  # type: ignore[call-overload]


def test_a_batch_through_the_api_and_a_phone_report_are_counted(
    app: FastAPI, client: TestClient, store: SqlStore, keys: Keys
) -> None:
    times = ["2025-05-31T23:30:00-05:00", "2025-06-01T00:30:00-05:00", "2025-05-01T13:45:00-05:00"]
    body: dict[str, Any] = collection(*(feature(observed_at=t, count=3) for t in times))
    response = client.post("/v1/events", json=body, headers=keys["manager"])
    assert response.status_code == 201, response.text
    assert _agrees(store, "town") == 3
    assert send(client, report(app), keys["peer"]).status_code in (200, 201)
    assert _agrees(store, "town") == 4


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _store() -> SqlStore:
    settings = get_settings()
    return open_store(settings.database_url, grid_record=Deployment(settings).grid_record())


def test_a_cli_import_and_the_demo_town_are_counted(env: Path) -> None:
    runner = CliRunner()
    path = env / "events.csv"
    lines = ["kind,observed_at,latitude,longitude"] + [
        f"needle_report,2025-0{m}-0{d}T0{h}:00:00Z,54.7682,-101.8779"
        for m in (5, 6)
        for d in (1, 2)
        for h in (1, 5)
    ]
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(cli, ["ingest", "events", str(path), "--program", "city"])
    assert result.exit_code == 0, result.output
    demo = runner.invoke(cli, ["demo"])
    assert demo.exit_code == 0, demo.output
    store = _store()
    try:
        assert _agrees(store, "city") == 8
        assert _agrees(store, "demo") > 5000
    finally:
        store.close()
