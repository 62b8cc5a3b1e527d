"""``/ogc/conformance``: the conformance classes of OGC API – Features Part 1 we answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from geo_service.api.ogc.common import (
    FormatQuery,
    OgcRoute,
    chosen_format,
    json_answer,
    ogc_root,
    public_reader,
)
from geo_service.api.ogc.html import View, html_page
from geo_service.context import ServicesDep
from maps.language import _

router = APIRouter(prefix="/ogc", route_class=OgcRoute, include_in_schema=False)
PART_1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CONFORMS_TO = [PART_1 + name for name in ("core", "geojson", "oas30", "html")]


def conformance(request: Request, root: str, f: str | None) -> Response:
    if chosen_format(request, f) == "html":
        links = [(uri, uri) for uri in CONFORMS_TO]
        view = View(_("Conformance"), f"{root}/conformance?f=json", links=links)
        return html_page(request, view)
    return json_answer({"conformsTo": CONFORMS_TO})


@router.get("/conformance")
def get_conformance(request: Request, services: ServicesDep, f: FormatQuery = None) -> Response:
    return conformance(request, ogc_root(request, services, None), f)


@router.get("/public/{program}/conformance")
def get_public_conformance(
    request: Request, program: str, services: ServicesDep, f: FormatQuery = None
) -> Response:
    public_reader(services, program)
    return conformance(request, ogc_root(request, services, program), f)
