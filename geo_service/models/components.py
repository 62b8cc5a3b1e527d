"""Schemas the document refers to that FastAPI does not collect from the routes itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from geo_service.models.bodies import EventFeatureCollection, PhoneReport, SiteFeatureCollection
from geo_service.models.problems import Problem

REF_TEMPLATE = "#/components/schemas/{model}"
# The request bodies (parsed by the routes, so declared with openapi_extra) and the Problem
# every error status refers to by hand.
REFERRED: tuple[type[BaseModel], ...] = (
    EventFeatureCollection,
    SiteFeatureCollection,
    PhoneReport,
    Problem,
)


def component_schemas() -> dict[str, Any]:
    """Each referred model and every schema it uses, by name, as components."""
    _, top = models_json_schema(
        [(model, "validation") for model in REFERRED], ref_template=REF_TEMPLATE
    )
    defs: dict[str, Any] = top.get("$defs", {})
    return defs
