"""Shared fixtures: an app built by the factory on a temporary SQLite database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore

# CI replays a fixed set of examples so main cannot turn red by luck; run
# `GEO_SERVICE_HYPOTHESIS=thorough make test` to search far wider before a change lands.
# No deadline: a busy CI machine can stall any one example for a second (seen: 866 ms).
hypothesis_settings.register_profile("default", derandomize=True, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=5000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("GEO_SERVICE_HYPOTHESIS", "default"))


def _shared_data() -> Path:
    """The project's shared real datasets: $GEO_SERVICE_SHARED_DATA or ../shared/data."""
    configured = os.environ.get("GEO_SERVICE_SHARED_DATA")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    raise RuntimeError(
        "the real datasets in shared/data were not found beside the checkout; set "
        "GEO_SERVICE_SHARED_DATA to their folder"
    )


SHARED_DATA = _shared_data()
TOWN = (-101.8779, 54.7682)  # inside the default (Flin Flon) service area


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    # Fixed 2025 dates stay inside the retention window for years to come; the retention
    # tests set their own.
    overrides.setdefault("retention_months", 240)
    return Settings(database_url=f"sqlite:///{tmp_path}/test.sqlite3", **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def store(app: FastAPI, client: TestClient) -> SqlStore:
    store: SqlStore = app.state.store
    return store


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(store: SqlStore) -> dict[str, dict[str, str]]:
    """Headers for each role in program 'town', plus a manager of program 'other'."""
    out = {role.value: bearer(create_key(store, program="town", role=role)[1]) for role in Role}
    out["other_manager"] = bearer(create_key(store, program="other", role=Role.MANAGER)[1])
    return out


def feature(lon: Any = TOWN[0], lat: Any = TOWN[1], **props: Any) -> dict[str, Any]:
    props.setdefault("kind", "needle_report")
    props.setdefault("observed_at", "2025-05-01T13:45:00-05:00")
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def service_site(
    name: str, services: list[str], hours: str | None, lon: float = TOWN[0], lat: float = TOWN[1]
) -> dict[str, Any]:
    props: dict[str, Any] = {"name": name, "site_type": "hr_supply", "services": services}
    if hours:
        props["opening_hours"] = hours
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert a problem+json answer with the given status and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["code"]
    return body


def batch_record(target: str, program_id: int) -> Any:
    """A batch record for rows a test stores directly."""
    import uuid

    from geo_service.storage import BatchRecord

    return BatchRecord(uuid.uuid4().hex, program_id, None, target, None, "x", "2026-01-01", {})


@contextmanager
def demo_town(tmp: Path) -> Iterator[dict[str, Any]]:
    """The demo town (events, sites, context layers, streets) behind an app, with a key per
    role: what `geo-service demo` loads, for tests that need a whole program."""
    import pandas as pd

    from geo_service.demo import demo_context, demo_events, demo_sites, demo_streets

    settings = make_settings(tmp, rate_limit_per_key=0, rate_limit_per_address=0)
    app = create_app(settings)
    with TestClient(app) as client:
        store: SqlStore = app.state.store
        deployment = app.state.deployment
        program_id = store.get_or_create_program("town")
        rows = demo_events(deployment, end=pd.Timestamp.now(tz="UTC").floor("h")).rows
        store.store_events(batch_record("events", program_id), rows)
        store.store_sites(batch_record("sites", program_id), demo_sites())
        store.store_context(program_id, demo_context())
        store.replace_network(program_id, source="demo streets", rows=demo_streets(deployment),
                              area_share=1.0)  # fmt: skip
        keys = {r: bearer(create_key(store, program="town", role=r)[1]) for r in Role}
        yield {"client": client, "store": store, "keys": keys, "app": app,
               "deployment": deployment, "program_id": program_id}  # fmt: skip
