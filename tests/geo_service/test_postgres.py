"""The same service on PostgreSQL: migrations, COPY ingest, the per-cell sums, hot spots.

Runs when GEO_SERVICE_TEST_POSTGRES_URL names a server we may create databases on (CI sets
it; see .ci/run). Each test gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from geo_service.settings import Settings
from tests.conftest import bearer, collection, feature, fresh_postgres_database, make_settings
from tests.geo_service.test_hotspots_api import town_events

SERVER = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not SERVER, reason="set GEO_SERVICE_TEST_POSTGRES_URL to run"),
]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    assert SERVER is not None
    with fresh_postgres_database(SERVER) as url:
        yield url


def run_town(settings: Settings) -> dict[str, Any]:
    """Ingest the test town through the API and return what a manager and a peer see."""
    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.store
        manager = bearer(create_key(store, program="t", role=Role.MANAGER)[1])
        steward = bearer(create_key(store, program="t", role=Role.STEWARD)[1])
        peer = bearer(create_key(store, program="t", role=Role.PEER)[1])
        rows = town_events()
        for half, headers in ((rows[::2], manager), (rows[1::2], steward)):
            posted = client.post("/v1/events", json=collection(*half), headers=headers)
            assert posted.status_code == 201, posted.text
        version = store.data_version(store.program_id("t"))
        out = {"version": version}
        for method in ("gi_star", "dbscan", "hdbscan", "density"):
            for role, headers in (("manager", manager), ("peer", peer)):
                window = "&period=2025-Q2" if role == "peer" else ""
                response = client.get(
                    f"/v1/hotspots?kind=needle_report&method={method}{window}", headers=headers
                )
                assert response.status_code == 200, response.text
                out[f"{method}/{role}"] = response.json()
        events = client.get("/v1/events?limit=1000", headers=manager).json()
        for period in ("2025-05", "2025-Q2"):
            response = client.get(f"/v1/published?kind=needle_report&period={period}", headers=peer)
            assert response.status_code == 200, response.text
            out[f"published/{period}"] = response.json()
        out["events"] = sorted(
            (f["properties"]["cell"], f["properties"]["bucket_start"], f["properties"]["count"])
            for f in events["features"]
        )
        client.post("/v1/events", json=collection(feature()), headers=manager)
        out["version_after"] = store.data_version(store.program_id("t"))
    return out


def test_postgres_answers_exactly_as_sqlite(postgres_url: str, tmp_path: Path) -> None:
    on_postgres = run_town(Settings(database_url=postgres_url))
    on_sqlite = run_town(make_settings(tmp_path))
    assert on_postgres["events"] and on_postgres["events"] == on_sqlite["events"]
    for key in on_sqlite:
        assert on_postgres[key] == on_sqlite[key], key
    assert on_postgres["version_after"] == on_postgres["version"] + 1


def test_postgres_refuses_a_changed_grid(postgres_url: str) -> None:
    from geo_service.errors import ConfigurationError
    from geo_service.storage.sql import open_store

    first = Settings(database_url=postgres_url)
    from geo_service.deployment import Deployment

    open_store(postgres_url, grid_record=Deployment(first).grid_record()).close()
    changed = Settings(database_url=postgres_url, cell_m_overdose=500)
    with pytest.raises(ConfigurationError, match="cell_m"):
        open_store(postgres_url, grid_record=Deployment(changed).grid_record())


def test_postgres_keeps_one_audit_chain_under_concurrent_writers(postgres_url: str) -> None:
    import threading

    from geo_service.audit import record, verify_chain
    from geo_service.deployment import Deployment
    from geo_service.storage.sql import open_store

    store = open_store(postgres_url, grid_record=Deployment(Settings()).grid_record())
    try:

        def write(worker: int) -> None:
            for i in range(15):
                record(store, "test", actor="cli", worker=worker, n=i)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        check = verify_chain(store.audit_rows(), store.audit_head())
        assert check.verified and check.rows == 75
    finally:
        store.close()
