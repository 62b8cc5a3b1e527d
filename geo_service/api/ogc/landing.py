"""``/ogc``: the landing page and the API's own description (``/ogc/api``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from geo_service.api.ogc.common import (
    HTML,
    JSON,
    OPENAPI_30,
    FormatQuery,
    OgcRoute,
    chosen_format,
    json_answer,
    link,
    ogc_root,
    public_reader,
)
from geo_service.api.ogc.html import Table, View, html_page
from geo_service.api.ogc.openapi import openapi_document
from geo_service.context import ServicesDep
from maps.language import _

router = APIRouter(prefix="/ogc", route_class=OgcRoute, include_in_schema=False)


def landing(request: Request, root: str, f: str | None) -> Response:
    title = _("geo-service: harm-reduction layers")
    description = _(
        "Released hot-spot squares, service sites and planning layers of your program, "
        "for QGIS, ArcGIS and GDAL. Each layer shows what your key's role may see."
    )
    if chosen_format(request, f) == "html":
        links = [
            (f"{root}/collections?f=html", _("Collections")),
            (f"{root}/conformance?f=html", _("Conformance")),
            (f"{root}/api?f=html", _("The API's description")),
        ]
        view = View(title, f"{root}?f=json", [description], links)
        return html_page(request, view)
    return json_answer(
        {
            "title": title,
            "description": description,
            "links": [
                link(f"{root}?f=json", "self", JSON, _("This document")),
                link(f"{root}?f=html", "alternate", HTML, _("This document as HTML")),
                link(f"{root}/api", "service-desc", OPENAPI_30, _("The API definition")),
                link(f"{root}/api?f=html", "service-doc", HTML, _("The API documentation")),
                link(f"{root}/conformance", "conformance", JSON, _("Conformance classes")),
                link(f"{root}/collections", "data", JSON, _("Collections")),
            ],
        }
    )


def api_description(request: Request, root: str, f: str | None) -> Response:
    document = openapi_document(root)
    if chosen_format(request, f) == "html":
        rows = [
            [(path, None), (operation["get"]["summary"], None)]
            for path, operation in document["paths"].items()
        ]
        parameters = [
            [(name, None), (spec.get("description", ""), None)]
            for name, spec in document["components"]["parameters"].items()
        ]
        view = View(
            _("The API's description"),
            f"{root}/api?f=json",
            [_("Paths under {root}").format(root=root)],
            table=Table([_("Path"), _("What it answers")], rows + parameters),
        )
        return html_page(request, view)
    return json_answer(document, OPENAPI_30)


@router.get("")
def get_landing(request: Request, services: ServicesDep, f: FormatQuery = None) -> Response:
    return landing(request, ogc_root(request, services, None), f)


@router.get("/api")
def get_api(request: Request, services: ServicesDep, f: FormatQuery = None) -> Response:
    return api_description(request, ogc_root(request, services, None), f)


@router.get("/public/{program}")
def get_public_landing(
    request: Request, program: str, services: ServicesDep, f: FormatQuery = None
) -> Response:
    public_reader(services, program)
    return landing(request, ogc_root(request, services, program), f)


@router.get("/public/{program}/api")
def get_public_api(
    request: Request, program: str, services: ServicesDep, f: FormatQuery = None
) -> Response:
    public_reader(services, program)
    return api_description(request, ogc_root(request, services, program), f)
