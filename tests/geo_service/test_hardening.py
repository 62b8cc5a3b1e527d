"""Security headers, keys kept out of URLs, rate limits, CORS allow-list, self-hosted docs."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from geo_service.security import CONTENT_SECURITY_POLICY
from tests.conftest import bearer, make_settings, problem

Keys = dict[str, dict[str, str]]


def app_client(tmp_path: Path, **overrides: Any) -> tuple[TestClient, Any]:
    app = create_app(make_settings(tmp_path, **overrides))
    return TestClient(app), app


def assert_security_headers(response: Any) -> None:
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def test_every_answer_carries_the_security_headers(client: TestClient, keys: Keys) -> None:
    answers = [
        client.get("/healthz"),
        client.get("/v1/sites", headers=keys["peer"]),
        client.get("/v1/sites"),  # 401
        client.get("/nowhere"),  # 404
        client.post(
            "/v1/events",
            content=b"x" * 10,
            headers={**keys["peer"], "content-length": "999999999999"},
        ),  # 413
        client.get("/v1/hotspots?kind=needle_report&period=2025-Q2", headers=keys["peer"]),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 413, 200]
    for answer in answers:
        assert_security_headers(answer)


def test_authenticated_answers_are_never_stored_by_caches(client: TestClient, keys: Keys) -> None:
    for path in ("/v1/sites", "/v1/hotspots?kind=needle_report", "/v1/events"):
        response = client.get(path, headers=keys["manager"])
        assert response.headers["cache-control"] == "no-store", path


@pytest.mark.parametrize(
    "query",
    ["key={key}", "api_key={key}", "token=abc", "access_token=abc", "kind=needle_report&x={key}"],
)
def test_a_key_in_the_address_is_refused_and_not_repeated(
    client: TestClient, keys: Keys, query: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = keys["peer"]["Authorization"].removeprefix("Bearer ")
    caplog.set_level(logging.DEBUG)
    response = client.get("/v1/hotspots?" + query.format(key=key))
    body = problem(response, 400)
    assert body["code"] == "key_in_url" and "Authorization" in body["detail"]
    assert key not in response.text
    service_log = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith(("geo_service", "uvicorn"))
    )
    assert service_log and key[3:15] not in service_log
    assert_security_headers(response)


@pytest.mark.usefixtures("steady_minute")
def test_keys_over_the_limit_get_429_with_retry_after(tmp_path: Path) -> None:
    client, app = app_client(tmp_path, rate_limit_per_key=5, rate_limit_per_address=3)
    with client:
        store = app.state.store
        one = bearer(create_key(store, program="t", role=Role.PEER)[1])
        two = bearer(create_key(store, program="t", role=Role.PEER)[1])
        statuses = [client.get("/v1/sites", headers=one).status_code for _ in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        limited = client.get("/v1/sites", headers=one)
        body = problem(limited, 429)
        assert "5 requests a minute" in body["detail"]
        assert limited.headers["retry-after"] == "30"  # the minute's window ends in 30 s
        assert client.get("/v1/sites", headers=two).status_code == 200  # its own bucket
        anonymous = [client.get("/v1/sites").status_code for _ in range(4)]
        assert anonymous == [401, 401, 401, 429]
        assert all(client.get("/healthz").status_code == 200 for _ in range(10))


def test_a_zero_limit_turns_the_bucket_off(tmp_path: Path) -> None:
    client, _ = app_client(tmp_path, rate_limit_per_address=0)
    with client:
        assert all(client.get("/v1/sites").status_code == 401 for _ in range(200))


def test_cors_allows_only_listed_origins(tmp_path: Path) -> None:
    client, _ = app_client(tmp_path, cors_origins=("https://maps.example.org",))
    with client:
        preflight = {"access-control-request-method": "GET"}
        allowed = client.options(
            "/v1/sites", headers={"origin": "https://maps.example.org", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "https://maps.example.org"
        other = client.get("/healthz", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_no_origin_is_allowed_by_default(client: TestClient) -> None:
    response = client.get("/healthz", headers={"origin": "https://maps.example.org"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origins", ["*", "https://*.example.org", "maps.example.org"])
def test_a_wildcard_or_bare_origin_is_refused(tmp_path: Path, origins: str) -> None:
    with pytest.raises(ValidationError, match="CORS_ORIGINS"):
        make_settings(tmp_path, cors_origins=origins)


def test_docs_load_only_self_hosted_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") for s in sources)
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 50, source
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    assert client.get("/openapi.json").json()["info"]["title"] == "geo-service"
    assert client.get("/redoc").status_code == 404  # FastAPI's ReDoc page loads a CDN


def test_the_schema_names_the_key_on_every_keyed_operation_only(client: TestClient) -> None:
    # Swagger UI shows its Authorize button, and sends the key, only for a named scheme.
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    scheme = document["components"]["securitySchemes"]["key"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    for (method, path), operation in operations.items():
        keyed = "401" in operation["responses"]
        assert (operation.get("security") == [{"key": []}]) == keyed, (method, path)
    assert operations["get", "/v1/hotspots"]["security"] == [{"key": []}]
    assert "security" not in operations["get", "/healthz"]
    assert "security" not in operations["get", "/v1/public/published"]


def test_docs_and_schema_can_be_switched_off(tmp_path: Path) -> None:
    client, _ = app_client(tmp_path, api_docs=False)
    with client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/healthz").status_code == 200
