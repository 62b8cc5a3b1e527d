"""``/docs``: the interactive API docs, served with self-hosted Swagger UI (no CDN), and the
OpenAPI document they read, made self-contained.

Swagger UI 5 (the first to read OpenAPI 3.1, which FastAPI writes) comes from the npm registry
like Leaflet: pinned with its hash in ``static/vendor.lock.json`` and installed by
``geo-service assets`` under ``/static/vendor/swagger-ui``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

from geo_service.models.components import component_schemas

KEY_SCHEME = "key"
OWN_STATIC = Path(__file__).resolve().parents[1] / "static"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API docs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""


def add_components(document: dict[str, Any]) -> None:
    """Add the schemas the routes refer to by hand (request bodies, ``Problem``)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in component_schemas().items():
        if schemas.setdefault(name, schema) != schema:
            raise RuntimeError(f"two different schemas are named {name} in the OpenAPI document")


def add_security(document: dict[str, Any]) -> None:
    """Name the key as a bearer scheme on every operation that can answer 401, so Swagger
    UI offers its Authorize button and sends the key; /healthz and the public releases
    stay open."""
    schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[KEY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The key 'geo-service keys create' printed, sent as 'Bearer <key>'.",
    }
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if "401" in operation.get("responses", {}):
                operation.setdefault("security", [{KEY_SCHEME: []}])


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()`` as FastAPI makes it, with the hand-referred schemas added once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = generate()
        if fresh:
            add_components(document)
            add_security(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def add_docs(app: FastAPI) -> None:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def docs() -> HTMLResponse:
        return HTMLResponse(PAGE.format(title=app.title))

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=OWN_STATIC), name="static")
