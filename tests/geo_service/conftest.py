"""The app fixtures: an app built by the factory on a temporary SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore
from tests.conftest import bearer, make_settings


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
    _ = client  # requested for its effect: the app's lifespan is running
    store: SqlStore = app.state.store
    return store


@pytest.fixture
def keys(store: SqlStore) -> dict[str, dict[str, str]]:
    """Headers for each role in program 'town', plus a manager of program 'other'."""
    out = {role.value: bearer(create_key(store, program="town", role=role)[1]) for role in Role}
    out["other_manager"] = bearer(create_key(store, program="other", role=Role.MANAGER)[1])
    return out
