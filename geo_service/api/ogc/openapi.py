"""The OpenAPI 3.0 document of /ogc (its ``service-desc``), written out by hand.

The app's own /openapi.json is OpenAPI 3.1 (what FastAPI writes) and leaves /ogc out: the
OGC's conformance class oas30 asks for 3.0, with each parameter spelled as the OGC's own
building blocks spell it (``limit`` an integer from 1 to 10,000 defaulting to 100, ``bbox``
an unexploded array of 4 or 6 numbers, ``style: form``), which is what the OGC test suite
and clients such as GDAL read (GDAL takes its page size from ``limit``'s maximum).
"""

from __future__ import annotations

from typing import Any

from geo_service import __version__
from geo_service.api.ogc.common import DEFAULT_LIMIT, GEOJSON, HTML, JSON, MAX_LIMIT

PARAMETERS: dict[str, dict[str, Any]] = {
    "f": {
        "name": "f",
        "in": "query",
        "description": "json or html; otherwise the Accept header decides",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "string", "enum": ["json", "html"]},
    },
    "limit": {
        "name": "limit",
        "in": "query",
        "description": "The most features a page holds; follow the next link for more.",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "default": DEFAULT_LIMIT,
        },
    },
    "offset": {
        "name": "offset",
        "in": "query",
        "description": "Features to skip: the next and prev links set it.",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "integer", "minimum": 0, "default": 0},
    },
    "bbox": {
        "name": "bbox",
        "in": "query",
        "description": "Only features meeting this box: min lon, min lat, max lon, max lat "
        "(CRS84), or 6 numbers with heights.",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {
            "type": "array",
            "minItems": 4,
            "maxItems": 6,
            "items": {"type": "number"},
        },
    },
    "datetime": {
        "name": "datetime",
        "in": "query",
        "description": "Only features whose period meets this RFC 3339 instant or interval "
        "('start/end', '..' for an open end). Layers without time ignore it.",
        "required": False,
        "style": "form",
        "explode": False,
        "schema": {"type": "string"},
    },
    "collectionId": {
        "name": "collectionId",
        "in": "path",
        "description": "A collection's id, as /collections lists it.",
        "required": True,
        "schema": {"type": "string"},
    },
    "featureId": {
        "name": "featureId",
        "in": "path",
        "description": "A feature's id, as its collection's items carry it.",
        "required": True,
        "schema": {"type": "string"},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _answers(*media: str, problems: tuple[str, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {
                m: {"schema": {"type": "object" if m != HTML else "string"}} for m in media
            },
        }
    }
    for status in problems:
        responses[status] = {"$ref": f"#/components/responses/{status}"}
    return responses


def _operation(op_id: str, summary: str, params: list[str], answers: dict[str, Any]) -> Any:
    operation = {
        "operationId": op_id,
        "summary": summary,
        "tags": ["OGC API - Features"],
        "parameters": [_ref(p) for p in params],
        "responses": answers,
    }
    if "401" in answers:  # the data needs a key; the landing page and this document do not
        operation["security"] = [{"key": []}]
    return {"get": operation}


def openapi_document(root: str) -> dict[str, Any]:
    """The document for an OGC API rooted at ``root`` (an absolute address)."""
    problem = {
        "content": {"application/problem+json": {"schema": {"type": "object"}}},
    }
    keyed = ("400", "401", "404") if "/public/" not in root else ("400", "404")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "geo-service OGC API - Features",
            "version": __version__,
            "description": "Released layers, service sites and planning layers, through the "
            "same roles and releases as /v1. Send the key as 'Authorization: Bearer <key>'.",
        },
        "servers": [{"url": root}],
        "paths": {
            "/": _operation("getLandingPage", "Landing page", ["f"], _answers(JSON, HTML)),
            "/conformance": _operation(
                "getConformanceDeclaration", "Conformance classes", ["f"], _answers(JSON, HTML)
            ),
            "/api": _operation("getAPIDefinition", "This document", ["f"], _answers(JSON, HTML)),
            "/collections": _operation(
                "getCollections",
                "The collections this key may read",
                ["f"],
                _answers(JSON, HTML, problems=keyed),
            ),
            "/collections/{collectionId}": _operation(
                "describeCollection",
                "One collection",
                ["collectionId", "f"],
                _answers(JSON, HTML, problems=keyed),
            ),
            "/collections/{collectionId}/items": _operation(
                "getFeatures",
                "A page of a collection's features",
                ["collectionId", "limit", "offset", "bbox", "datetime", "f"],
                _answers(GEOJSON, HTML, problems=keyed),
            ),
            "/collections/{collectionId}/items/{featureId}": _operation(
                "getFeature",
                "One feature",
                ["collectionId", "featureId", "f"],
                _answers(GEOJSON, HTML, problems=keyed),
            ),
        },
        "components": {
            "parameters": PARAMETERS,
            "responses": {
                "400": {"description": "A parameter is invalid", **problem},
                "401": {"description": "A key is needed", **problem},
                "404": {"description": "No such collection or feature", **problem},
            },
            "securitySchemes": {"key": {"type": "http", "scheme": "bearer"}},
        },
    }
