"""The OpenAPI document: self-contained (every $ref resolves), valid OpenAPI 3.1, every /v1
answer documented with a schema, and real answers that match the schema they are documented
with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from pydantic import BaseModel

from geo_service import models
from geo_service.auth import Role, create_key
from geo_service.errors import PROBLEM_JSON
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN, bearer, collection, feature, service_site

Keys = dict[str, dict[str, str]]
MONTH = "2025-05"
METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    """The document as served, not only as built."""
    served: dict[str, Any] = client.get("/openapi.json").json()
    return served


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        if path.startswith("/v1/"):
            for method, operation in item.items():
                if method in METHODS:
                    yield method, path, operation


# -- (a) self-contained ---------------------------------------------------------------------


def test_every_ref_in_the_document_resolves(document: dict[str, Any]) -> None:
    found = set(refs(document))
    assert len(found) > 50
    for ref in found:
        resolve(document, ref)
    # Issue 17: the request bodies referred to these without defining them.
    schemas = document["components"]["schemas"]
    assert {"EventFeature", "SiteFeature", "EventFeatureCollection", "Problem"} <= set(schemas)


# -- (b) every answer documented ------------------------------------------------------------


def test_every_v1_operation_documents_its_success_answer_with_a_schema(
    document: dict[str, Any],
) -> None:
    seen = 0
    for method, path, operation in operations(document):
        seen += 1
        where = f"{method.upper()} {path}"
        answers = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert answers, f"{where} documents no 2xx answer"
        for status, answer in answers.items():
            if status == "204":
                continue
            content = answer.get("content")
            assert content, f"{where} {status} has no content"
            for media, entry in content.items():
                schema = entry.get("schema")
                # {} is what FastAPI writes when it knows nothing: "any JSON at all".
                assert schema, f"{where} {status} {media} has no schema"
                if "json" in media:
                    assert "$ref" in schema, f"{where} {status} {media} names no model"
    # with POST, GET and DELETE /v1/invites, POST /v1/reports, the 13 alert operations, the
    # alert subscribers (POST, GET, DELETE) and the alert feed
    assert seen == 43


def test_every_error_answer_is_documented_as_a_problem(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        # Any route can be refused with invalid parameters, the rate limit or a database away.
        assert {"422", "429", "503"} <= set(errors), where
        if path != "/v1/public/published":  # the one route without a key
            assert {"401", "403"} <= set(errors), where
        if method in {"post", "put"}:
            assert "413" in errors, where
        for status, answer in errors.items():
            assert answer["content"] == {
                PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, f"{where} {status}"
    assert {"404"} <= set(document["paths"]["/v1/sites/{site_id}"]["get"]["responses"])
    assert "409" in document["paths"]["/v1/events"]["post"]["responses"]
    assert {"400", "409", "415"} <= set(document["paths"]["/v1/reports"]["post"]["responses"])


# -- (c) valid OpenAPI 3.1 ------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    # Raises on the first error. It passed the document of issue 17 too: it does not follow
    # the $refs inside a request body, hence the walk over every $ref above.
    validate(document)


# -- (d) real answers match their documented schemas ----------------------------------------


def check_answer(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The answer validates against the schema the document gives for its status and media
    type, and the model of that name parses it back to the same body: no member of the answer
    is left undocumented."""
    assert response.status_code < 300, response.text
    media = response.headers["content-type"].split(";")[0]
    answer = document["paths"][path][method]["responses"][str(response.status_code)]
    schema = answer["content"][media]["schema"]
    body = response.json()
    OAS31Validator({**schema, "components": document["components"]}).validate(body)
    model: type[BaseModel] = getattr(models, schema["$ref"].rsplit("/", 1)[1])
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=True) == body


@pytest.fixture
def town(client: TestClient, keys: Keys, store: SqlStore) -> Keys:
    """A month of needle reports from three keys (so it is released) and a naloxone site."""
    reporters = [
        keys["manager"],
        keys["steward"],
        bearer(create_key(store, program="town", role=Role.MANAGER)[1]),
    ]
    for n, headers in enumerate(reporters):
        rows = [
            feature(TOWN[0] + 0.004 * (i % 3), TOWN[1], observed_at=f"{MONTH}-{d:02d}T02:30:00Z")
            for i, d in enumerate(range(1 + n, 28, 3))
        ]
        posted = client.post("/v1/events", json=collection(*rows), headers=headers)
        assert posted.status_code == 201, posted.text
    sites = collection(service_site("Office", ["naloxone"], "Mo-Fr 09:00-17:00"))
    assert client.post("/v1/sites", json=sites, headers=keys["manager"]).status_code == 201
    return keys


def test_a_batch_answer_matches_its_schema(
    client: TestClient, document: dict[str, Any], keys: Keys
) -> None:
    batch = collection(feature(), feature(observed_at="yesterday"))
    response = client.post("/v1/events", json=batch, headers=keys["manager"])
    assert response.status_code == 201 and response.json()["rejected"]
    check_answer(document, "post", "/v1/events", response)


def test_stored_events_match_their_schema(
    client: TestClient, document: dict[str, Any], town: Keys
) -> None:
    response = client.get("/v1/events", params={"limit": 2}, headers=town["manager"])
    assert response.json()["links"]  # a next page: the links are checked too
    check_answer(document, "get", "/v1/events", response)


@pytest.mark.parametrize("method", ["gi_star", "dbscan", "density"])
def test_a_peers_hot_spots_match_their_schema(
    client: TestClient, document: dict[str, Any], town: Keys, method: str
) -> None:
    params = {"kind": "needle_report", "method": method, "period": MONTH}
    response = client.get("/v1/hotspots", params=params, headers=town["peer"])
    assert response.json()["features"], "nothing released: the check would check little"
    check_answer(document, "get", "/v1/hotspots", response)


def test_a_managers_hot_spots_match_their_schema(
    client: TestClient, document: dict[str, Any], town: Keys
) -> None:
    response = client.get("/v1/hotspots", params={"kind": "needle_report"}, headers=town["manager"])
    check_answer(document, "get", "/v1/hotspots", response)


def test_a_planners_coverage_matches_its_schema(
    client: TestClient, document: dict[str, Any], town: Keys
) -> None:
    params = {"service": "naloxone", "kind": "needle_report", "period": MONTH}
    response = client.get("/v1/coverage", params=params, headers=town["planner"])
    assert response.json()["results"][0]["uncovered"]["features"]
    check_answer(document, "get", "/v1/coverage", response)


def test_the_audit_trail_matches_its_schema(
    client: TestClient, document: dict[str, Any], town: Keys
) -> None:
    response = client.get("/v1/audit", params={"verify": "true"}, headers=town["steward"])
    assert response.json()["entries"] and response.json()["chain"]["verified"]
    check_answer(document, "get", "/v1/audit", response)


def test_settings_releases_and_deletion_match_their_schemas(
    client: TestClient, document: dict[str, Any], town: Keys
) -> None:
    steward = town["steward"]
    for path in ("/v1/program/publication", "/v1/sites"):
        check_answer(document, "get", path, client.get(path, headers=steward))
    layer = {"kind": "needle_report", "period": MONTH}
    released = client.get("/v1/published", params=layer, headers=town["peer"])
    check_answer(document, "get", "/v1/published", released)
    deleted = client.delete("/v1/program/data", params={"confirm": "town"}, headers=steward)
    check_answer(document, "delete", "/v1/program/data", deleted)


def test_an_error_answer_matches_the_problem_schema(
    client: TestClient, document: dict[str, Any]
) -> None:
    response = client.get("/v1/hotspots", params={"kind": "needle_report"})
    assert response.status_code == 401
    schema = document["paths"]["/v1/hotspots"]["get"]["responses"]["401"]["content"]
    OAS31Validator(
        {**schema[PROBLEM_JSON]["schema"], "components": document["components"]}
    ).validate(response.json())
    problem = models.Problem.model_validate(response.json())
    assert problem.model_dump(mode="json", exclude_unset=True) == response.json()


def test_a_phone_report_and_its_stored_event_match_their_schemas(
    app: Any, client: TestClient, document: dict[str, Any], keys: Keys
) -> None:
    """Issue 18: the route is declared with its body, and real answers (the phone's, and a
    manager's reading of every type stored, supplies_needed too) validate."""
    from tests.geo_service.test_reports_api import EXPECTED, report

    operation = document["paths"]["/v1/reports"]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = OAS31Validator({**body_schema, "components": document["components"]})
    for kind in EXPECTED:
        body = report(app, kind)
        validator.validate(body)  # what the phone sends is what the document says
        assert not validator.is_valid({**body, "lat": 54.7})  # a position is not in it
        answer = client.post(
            "/v1/reports", json=body, headers={**keys["peer"], "Idempotency-Key": kind}
        )
        check_answer(document, "post", "/v1/reports", answer)
    events = client.get("/v1/events", headers=keys["manager"])
    assert len(events.json()["features"]) == len(EXPECTED)
    check_answer(document, "get", "/v1/events", events)
