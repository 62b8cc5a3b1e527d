"""Shared helpers: settings on a temporary SQLite database copied from a migrated template.

This file stays light: `tests/analysis` loads it too, and must not pay for importing the app
(FastAPI, SQLAlchemy, the routes: seconds per pytest process). Anything from `geo_service` is
imported inside the helper that needs it; the app fixtures live in tests/geo_service/conftest.py.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings as hypothesis_settings

if TYPE_CHECKING:
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

# One migrated database per grid record (the grid settings a database is frozen to), made on
# first use in this process: copying it costs a millisecond, migrating a new file ~0.3 s.
_TEMPLATES: dict[str, Path] = {}
_TEMPLATE_FOLDER: list[Path] = []


def _migrated_template(record: dict[str, Any]) -> Path:
    from geo_service.storage.sql import open_store

    if not _TEMPLATE_FOLDER:
        folder = Path(tempfile.mkdtemp(prefix="geo-service-templates-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _TEMPLATE_FOLDER.append(folder)
    path = _TEMPLATE_FOLDER[0] / f"template-{len(_TEMPLATES)}.sqlite3"
    open_store(f"sqlite:///{path}", grid_record=record).close()
    # Everything into the main file, so copying that one file copies the whole database.
    with sqlite3.connect(path) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    conn.close()
    assert busy == 0, "the template database is still in use"
    return path


def _copy_template(settings: Settings, path: Path) -> None:
    """Start `path` as a copy of a database migrated for these grid settings; the app's own
    migrate then finds it at head. A test that reuses a folder keeps the database it has."""
    from geo_service.deployment import Deployment

    if path.exists() or not path.parent.is_dir():
        return
    try:
        record = Deployment(settings).grid_record()
    except Exception:  # settings the app must refuse: let it meet them as before
        return
    key = json.dumps(record, sort_keys=True)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = _migrated_template(record)
    # Created owner-only first, as the service creates its files; copyfile keeps the mode.
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    shutil.copyfile(_TEMPLATES[key], path)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    from geo_service.settings import Settings

    # Fixed 2025 dates stay inside the retention window for years to come; the retention
    # tests set their own.
    overrides.setdefault("retention_months", 240)
    # No releases made ahead behind a test's back: the tests that need it turn it on.
    overrides.setdefault("releases_ahead_minutes", 0)
    settings = Settings(database_url=f"sqlite:///{tmp_path}/test.sqlite3", **overrides)
    _copy_template(settings, tmp_path / "test.sqlite3")
    return settings


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


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
    from fastapi.testclient import TestClient

    from geo_service.auth import Role, create_key
    from geo_service.demo import demo_context, demo_events, demo_sites, demo_streets
    from geo_service.main import create_app

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


@pytest.fixture
def steady_minute(monkeypatch: pytest.MonkeyPatch) -> float:
    """Hold the rate limiter's clock half-way through a minute, so a test's requests all
    fall in one fixed window whenever it runs. Returns that moment."""
    from geo_service import security

    moment = (time.time() // 60) * 60 + 30.0
    monkeypatch.setattr(security, "_now", lambda: moment)
    return moment


@contextmanager
def fresh_postgres_database(server: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL ``server`` for one test; dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = f"geo_service_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        sa.engine.make_url(server).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A new, migrated store on SQLite and (when GEO_SERVICE_TEST_POSTGRES_URL is set) on a
    fresh PostgreSQL database: a storage test runs on both backends."""
    from geo_service.storage.sql import open_store

    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path}/any.sqlite3")
        yield opened
        opened.close()
        return
    server = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    with fresh_postgres_database(server) as fresh:
        opened = open_store(fresh)
        yield opened
        opened.close()
