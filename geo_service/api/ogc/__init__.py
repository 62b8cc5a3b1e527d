"""``/ogc``: OGC API – Features Part 1 (core, geojson, oas30, html) for GIS clients (QGIS,
ArcGIS, GDAL), through the same roles and releases as /v1. ``/ogc/public/<program>`` is the
same API, without a key, for a program whose steward publishes a public layer.

Left out of the app's /openapi.json: ``/ogc/api`` describes it in OpenAPI 3.0."""

from fastapi import APIRouter

from geo_service.api.ogc import collections, conformance, items, landing

router = APIRouter(include_in_schema=False)
for _module in (landing, conformance, collections, items):
    router.include_router(_module.router)

__all__ = ["router"]
