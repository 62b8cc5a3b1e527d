"""``/ogc/collections/{collectionId}/items`` (pages of features, ``offset`` paging with
next/prev links) and ``.../items/{featureId}`` (one feature, by the id its pages carry)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from geo_service.api.ogc.collections import ReaderDep
from geo_service.api.ogc.common import (
    GEOJSON,
    HTML,
    JSON,
    FormatQuery,
    OgcRoute,
    chosen_format,
    items_query,
    json_answer,
    link,
    ogc_root,
    public_reader,
    with_query,
)
from geo_service.api.ogc.html import View, feature_table, features_table, html_page
from geo_service.context import ServicesDep
from geo_service.geojson import utc_text
from geo_service.services.ogc import (
    ItemsQuery,
    Reader,
    feature_of,
    find_collection,
    page_of,
)
from maps.language import _

router = APIRouter(prefix="/ogc", route_class=OgcRoute, include_in_schema=False)


@dataclass(frozen=True)
class ItemsAsk:
    """The items parameters, as text: checked by :func:`items_query` to 400, not 422."""

    limit: Annotated[str | None, Query(description="1 to 10000, default 100")] = None
    offset: Annotated[str | None, Query(description="features to skip (next link)")] = None
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat")] = None
    datetime: Annotated[str | None, Query(description="RFC 3339 instant or interval")] = None
    f: FormatQuery = None


ItemsAskDep = Annotated[ItemsAsk, Depends()]


def _kept_pairs(ask: ItemsAsk, query: ItemsQuery) -> list[tuple[str, str]]:
    """The filters of this page, re-spelt from their parsed values, for its links."""
    pairs = [("limit", str(query.limit))]
    if query.bbox is not None:
        pairs.append(("bbox", ",".join(repr(v) for v in query.bbox)))
    if ask.datetime is not None:
        pairs.append(("datetime", ask.datetime))
    return pairs


def _page_links(
    href: str, ask: ItemsAsk, query: ItemsQuery, matched: int, *, html: bool = False
) -> list[Any]:
    """self, alternate, collection, and next and prev where there are more (as HTML pages
    when ``html``)."""
    pairs = _kept_pairs(ask, query)
    paged = [*pairs, ("f", "html")] if html else pairs
    here = [*pairs, ("offset", str(query.offset))] if query.offset else pairs
    links = [
        link(with_query(href, [*here, ("f", "json")]), "self", GEOJSON, _("This page")),
        link(with_query(href, [*here, ("f", "html")]), "alternate", HTML, _("This page as HTML")),
        link(href.removesuffix("/items"), "collection", JSON, _("The collection")),
    ]
    following = query.offset + query.limit
    if following < matched:
        more = with_query(href, [*paged, ("offset", str(following))])
        links.append(link(more, "next", GEOJSON, _("Next page")))
    if query.offset > 0:
        back = with_query(href, [*paged, ("offset", str(max(0, query.offset - query.limit)))])
        links.append(link(back, "prev", GEOJSON, _("Previous page")))
    return links


def items(
    request: Request, reader: Reader, root: str, collection_id: str, ask: ItemsAsk
) -> Response:
    query = items_query(ask.limit, ask.offset, ask.bbox, ask.datetime)
    found = find_collection(reader, collection_id)
    page = page_of(reader, found, query)
    href = f"{root}/collections/{found.id}/items"
    links = _page_links(href, ask, query, page.matched)
    if chosen_format(request, ask.f) == "html":
        pages = [
            (li["href"], li["title"])
            for li in _page_links(href, ask, query, page.matched, html=True)
            if li["rel"] in ("prev", "next")
        ]
        line = _("{shown} of {matched} features").format(
            shown=len(page.features), matched=page.matched
        )
        view = View(
            found.title,
            links[0]["href"],
            [found.description, line],
            table=features_table(page.features, href),
            pages=pages,
        )
        return html_page(request, view)
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "timeStamp": utc_text(int(time.time())),
        "links": links,
    }
    return json_answer(body, GEOJSON)


def item(
    request: Request, reader: Reader, root: str, ids: tuple[str, str], f: str | None
) -> Response:
    collection_id, feature_id = ids
    found = find_collection(reader, collection_id)
    feature = feature_of(reader, found, feature_id)
    href = f"{root}/collections/{found.id}/items/{quote(feature_id, safe=':-')}"
    if chosen_format(request, f) == "html":
        view = View(
            f"{found.title}: {feature_id}",
            f"{href}?f=json",
            links=[(f"{root}/collections/{found.id}/items?f=html", _("All features"))],
            table=feature_table(feature),
        )
        return html_page(request, view)
    body = {
        **feature,
        "links": [
            link(f"{href}?f=json", "self", GEOJSON, _("This feature")),
            link(f"{href}?f=html", "alternate", HTML, _("This feature as HTML")),
            link(f"{root}/collections/{found.id}", "collection", JSON, _("The collection")),
        ],
    }
    return json_answer(body, GEOJSON)


@router.get("/collections/{collection_id}/items")
def get_items(
    request: Request,
    collection_id: str,
    reader: ReaderDep,
    services: ServicesDep,
    ask: ItemsAskDep,
) -> Response:
    return items(request, reader, ogc_root(request, services, None), collection_id, ask)


@router.get("/collections/{collection_id}/items/{feature_id}")
def get_item(
    request: Request,
    collection_id: str,
    feature_id: str,
    reader: ReaderDep,
    services: ServicesDep,
    f: FormatQuery = None,
) -> Response:
    root = ogc_root(request, services, None)
    return item(request, reader, root, (collection_id, feature_id), f)


@router.get("/public/{program}/collections/{collection_id}/items")
def get_public_items(
    request: Request, program: str, collection_id: str, services: ServicesDep, ask: ItemsAskDep
) -> Response:
    reader = public_reader(services, program)
    return items(request, reader, ogc_root(request, services, program), collection_id, ask)


@router.get("/public/{program}/collections/{collection_id}/items/{feature_id}")
def get_public_item(
    request: Request,
    program: str,
    collection_id: str,
    feature_id: str,
    services: ServicesDep,
    f: FormatQuery = None,
) -> Response:
    root = ogc_root(request, services, program)
    reader = public_reader(services, program)
    return item(request, reader, root, (collection_id, feature_id), f)
