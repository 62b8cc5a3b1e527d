"""An HTTP fuzz run: schemathesis sends 100 generated requests to every operation of the
OpenAPI schema (a fixed seed, so every run sends the same ones); none may answer 5xx."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, seed, settings

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from tests.conftest import bearer, collection, feature, make_settings

# The schema is read at import time, from an app whose database lives in a temporary folder.
WORKDIR = Path(tempfile.mkdtemp(prefix="geo-service-fuzz-"))
APP = create_app(make_settings(WORKDIR, rate_limit_per_key=0, rate_limit_per_address=0))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def steward() -> Iterator[dict[str, str]]:
    with TestClient(APP) as client:  # runs the lifespan: the store stays open on app.state
        store = APP.state.store
        steward = bearer(create_key(store, program="fuzz", role=Role.STEWARD)[1])
        manager = bearer(create_key(store, program="fuzz", role=Role.MANAGER)[1])
        rows = [feature(observed_at=f"2025-05-{d:02d}T10:00:00Z") for d in range(1, 29)]
        for headers in (steward, manager):
            posted = client.post("/v1/events", json=collection(*rows), headers=headers)
            assert posted.status_code == 201
        yield steward
    shutil.rmtree(WORKDIR, ignore_errors=True)


@schema.parametrize()
@seed(20261122)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_the_service_fail(case: Any, steward: dict[str, str]) -> None:
    response = case.call(headers={**(case.headers or {}), **steward})
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
