"""``/ogc/collections`` and ``/ogc/collections/{collectionId}``: the layers a reader may
open, each with its extent (the program's area; its period for released layers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from geo_service.api.ogc.common import (
    GEOJSON,
    HTML,
    JSON,
    FormatQuery,
    OgcRoute,
    chosen_format,
    json_answer,
    keyed_reader,
    link,
    ogc_root,
    public_reader,
)
from geo_service.api.ogc.html import Table, View, html_page
from geo_service.context import ServicesDep
from geo_service.services.ogc import (
    Collection,
    Reader,
    catalogue,
    find_collection,
    spatial_extent,
    temporal_extent,
)
from maps.language import _

router = APIRouter(prefix="/ogc", route_class=OgcRoute, include_in_schema=False)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
ReaderDep = Annotated[Reader, Depends(keyed_reader)]


def describe(reader: Reader, collection: Collection, root: str) -> dict[str, Any]:
    """A collection's metadata as OGC API – Features Part 1 spells it."""
    href = f"{root}/collections/{collection.id}"
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {
            "spatial": {"bbox": [list(spatial_extent(reader))], "crs": CRS84},
            "temporal": {"interval": [temporal_extent(collection)], "trs": GREGORIAN},
        },
        "links": [
            link(f"{href}?f=json", "self", JSON, _("This collection")),
            link(f"{href}?f=html", "alternate", HTML, _("This collection as HTML")),
            link(f"{href}/items", "items", GEOJSON, _("Its features")),
            link(f"{href}/items?f=html", "items", HTML, _("Its features as HTML")),
        ],
    }


def collections(request: Request, reader: Reader, root: str, f: str | None) -> Response:
    found = catalogue(reader)
    if chosen_format(request, f) == "html":
        rows = [
            [(c.title, f"{root}/collections/{c.id}?f=html"), (c.id, None), (c.description, None)]
            for c in found
        ]
        table = Table([_("Layer"), _("Id"), _("What it shows")], rows)
        view = View(_("Collections"), f"{root}/collections?f=json", table=table)
        return html_page(request, view)
    return json_answer(
        {
            "links": [
                link(f"{root}/collections?f=json", "self", JSON, _("This document")),
                link(f"{root}/collections?f=html", "alternate", HTML, _("This document as HTML")),
            ],
            "collections": [describe(reader, c, root) for c in found],
            "crs": [CRS84],
        }
    )


def collection(
    request: Request, reader: Reader, root: str, collection_id: str, f: str | None
) -> Response:
    found = find_collection(reader, collection_id)
    body = describe(reader, found, root)
    if chosen_format(request, f) == "html":
        bbox = ", ".join(str(v) for v in body["extent"]["spatial"]["bbox"][0])
        start, end = body["extent"]["temporal"]["interval"][0]
        lines = [found.description, _("Area: {bbox}").format(bbox=bbox)]
        if start:
            lines.append(_("Time: {start} to {end}").format(start=start, end=end))
        links = [(f"{root}/collections/{found.id}/items?f=html", _("Its features"))]
        view = View(found.title, f"{root}/collections/{found.id}?f=json", lines, links)
        return html_page(request, view)
    return json_answer(body)


@router.get("/collections")
def get_collections(
    request: Request, reader: ReaderDep, services: ServicesDep, f: FormatQuery = None
) -> Response:
    return collections(request, reader, ogc_root(request, services, None), f)


@router.get("/collections/{collection_id}")
def get_collection(
    request: Request,
    collection_id: str,
    reader: ReaderDep,
    services: ServicesDep,
    f: FormatQuery = None,
) -> Response:
    return collection(request, reader, ogc_root(request, services, None), collection_id, f)


@router.get("/public/{program}/collections")
def get_public_collections(
    request: Request, program: str, services: ServicesDep, f: FormatQuery = None
) -> Response:
    reader = public_reader(services, program)
    return collections(request, reader, ogc_root(request, services, program), f)


@router.get("/public/{program}/collections/{collection_id}")
def get_public_collection(
    request: Request,
    program: str,
    collection_id: str,
    services: ServicesDep,
    f: FormatQuery = None,
) -> Response:
    reader = public_reader(services, program)
    root = ogc_root(request, services, program)
    return collection(request, reader, root, collection_id, f)
