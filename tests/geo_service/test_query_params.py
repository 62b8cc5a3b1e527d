"""Every GET route refuses a query parameter it does not declare, naming it but not its value.

The routes are discovered from the app, so a route added later is covered without editing
this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel

from geo_service.main import create_app
from geo_service.settings import Settings
from tests.conftest import problem

Keys = dict[str, dict[str, str]]
MISSPELT = "perod"
VALUE = "2025-Q2"
# A plausible value for each required parameter, so the only thing wrong is the misspelling.
SAMPLES = {
    "kind": "needle_report",
    "period": "2025-05",
    "service": "needles",
    "program": "town",
    "site_id": "1",
    "fmt": "geojson",
}


def _required_query(dependant: Dependant) -> list[str]:
    names, pending = [], [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):  # a query model
                names += [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
            elif field.field_info.is_required():
                names.append(field.alias)
        pending.extend(current.dependencies)
    return names


def _get_routes() -> list[tuple[str, str]]:
    """(path with its parameters filled, required query string) of every GET route."""
    # Building the app opens nothing; the database is only touched by its lifespan.
    app = create_app(Settings(database_url="sqlite:///unused.sqlite3"))
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or "GET" not in (context.methods or ()):
            continue
        path = str(context.path)
        for param in route.dependant.path_params:
            path = path.replace(f"{{{param.alias}}}", SAMPLES.get(param.alias, "x"))
        query = "&".join(f"{n}={SAMPLES.get(n, 'x')}" for n in _required_query(route.dependant))
        found.append((path, query))
    return found


GET_ROUTES = _get_routes()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/test.sqlite3", retention_months=240)


@pytest.mark.parametrize(("path", "query"), GET_ROUTES, ids=[p for p, _ in GET_ROUTES])
def test_an_unknown_parameter_is_named_and_its_value_is_not_echoed(
    client: TestClient, keys: Keys, path: str, query: str
) -> None:
    asked = f"{path}?{query + '&' if query else ''}{MISSPELT}={VALUE}"
    response = client.get(asked, headers=keys["steward"], follow_redirects=False)
    # OGC API - Features answers 400 to any bad parameter, unknown ones too (issue 20).
    body = problem(response, 400 if path.startswith("/ogc") else 422)
    assert body["code"] == "unknown_parameter"
    assert MISSPELT in body["detail"]
    assert body["errors"] == [{"location": ["query", MISSPELT], "problem": "extra_forbidden"}]
    assert VALUE not in response.text


@pytest.mark.parametrize("stray", ["perod", "datetime"])
def test_coverage_no_longer_falls_back_to_its_default_window(
    client: TestClient, keys: Keys, stray: str
) -> None:
    # Before, both were ignored and the answer was the last 365 days as if asked for.
    assert ("/v1/coverage", "service=needles") in GET_ROUTES  # the discovery sees it too
    response = client.get(f"/v1/coverage?service=needles&{stray}={VALUE}", headers=keys["planner"])
    body = problem(response, 422)
    assert body["code"] == "unknown_parameter"
    assert body["detail"].startswith(f"{stray} is not recognised")
    assert "period" in body["detail"]  # the route says what it does take
    assert VALUE not in response.text
    # The same question without the stray name is not refused for its names.
    answer = client.get("/v1/coverage?service=needles&period=2025-05", headers=keys["planner"])
    assert answer.json().get("code") != "unknown_parameter", answer.text


def test_a_name_that_does_not_look_like_a_parameter_is_not_repeated(
    client: TestClient, keys: Keys
) -> None:
    response = client.get(
        "/v1/coverage?service=needles&<script>alert(1)</script>=1", headers=keys["planner"]
    )
    body = problem(response, 422)
    assert body["code"] == "unknown_parameter"
    assert "script" not in response.text
