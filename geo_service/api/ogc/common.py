"""What every /ogc route shares: who reads (a key, a browser session, or the public of a
program that publishes), JSON or HTML, links, and the OGC query parameters checked to 400.

OGC API – Features answers a bad parameter with 400 (Part 1, /req/core/query-param-invalid),
so /ogc checks its own parameters from text instead of leaving them to the app's 422, and an
unknown parameter is refused with 400 too (see :class:`OgcRoute`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import orjson
from fastapi import Cookie, Header, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from geo_service.auth import SESSION_COOKIE, authenticate, session_principal
from geo_service.context import ServicesDep
from geo_service.errors import InvalidParameter, NotFound, Unauthenticated
from geo_service.params import UnknownParameter
from geo_service.periods import parse_datetime
from geo_service.security import KEY_VERIFIED
from geo_service.services.ogc import BBox, ItemsQuery, Reader
from geo_service.services.program import ProgramContext, Services

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
_DIGITS = re.compile(r"[0-9]{1,9}")
NO_PUBLIC_LAYER = "no public layer is published under that name"

Format = Literal["json", "html"]
FormatQuery = Annotated[
    str | None, Query(description="json or html; otherwise the Accept header decides")
]


class OgcRoute(APIRoute):
    """An /ogc route: an unknown query parameter answers 400, as OGC clients expect, with
    the app-wide check's own words (``geo_service.params``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except UnknownParameter as exc:
                raise InvalidParameter(exc.detail, code=exc.code, **exc.extra) from None

        return handle


def keyed_reader(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE, include_in_schema=False)] = None,
) -> Reader:
    """A Bearer key (QGIS's "API Header", GDAL_HTTP_HEADERS), else the browser's session."""
    store = services.store
    if authorization:
        principal = authenticate(store, authorization)
        request.scope[KEY_VERIFIED] = True
    elif session and (found := session_principal(store, session)) is not None:
        principal = found
    else:
        raise Unauthenticated(
            "send the key as 'Authorization: Bearer <key>' (in QGIS: an API Header "
            "authentication), or sign in at /signin in this browser"
        )
    return Reader.of(ProgramContext(services, principal))


def public_reader(services: Services, program: str) -> Reader:
    """The public of a program whose steward publishes a public layer; any other name,
    existing or not, answers the same 404 (as /v1/public/published does)."""
    store = services.store
    program_id = store.program_id(program) if len(program) <= 64 else None
    if program_id is None or not store.publication(program_id).public_enabled:
        raise NotFound(NO_PUBLIC_LAYER)
    return Reader(services, program_id, None, time.time())


def chosen_format(request: Request, f: str | None) -> Format:
    """``f`` if given, else HTML only when the Accept header prefers it to JSON."""
    if f is not None:
        if f not in ("json", "html"):
            raise InvalidParameter("f is json or html")
        return "html" if f == "html" else "json"
    weights: dict[str, float] = {}
    for order, part in enumerate(request.headers.get("accept", "")[:500].split(",")):
        media, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights.setdefault(media.strip().lower(), weight - order * 1e-6)
    html = weights.get(HTML, 0.0)
    json_like = max(
        weights.get(JSON, 0.0), weights.get(GEOJSON, 0.0), weights.get("*/*", 0.0) * 0.99
    )
    return "html" if html > 0 and html > json_like else "json"


def site_root(request: Request, services: Services) -> str:
    """The service's own address: the configured public URL, else the request's."""
    configured = services.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def ogc_root(request: Request, services: Services, program: str | None) -> str:
    """Where this reader's OGC API starts: /ogc, or /ogc/public/<program> for the public."""
    root = site_root(request, services) + "/ogc"
    return root if program is None else f"{root}/public/{program}"


def link(href: str, rel: str, media: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": media}
    if title:
        out["title"] = title
    return out


def with_query(href: str, pairs: list[tuple[str, str]]) -> str:
    return f"{href}?{urlencode(pairs)}" if pairs else href


def json_answer(body: Any, media: str = JSON) -> Response:
    return Response(orjson.dumps(body), media_type=media)


# -- the items parameters ------------------------------------------------------------------


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidParameter(f"limit is a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def parse_offset(text: str | None) -> int:
    if text is None:
        return 0
    if not _DIGITS.fullmatch(text):
        raise InvalidParameter("offset is a whole number, 0 or more (use the next link)")
    return int(text)


def parse_bbox(text: str | None) -> BBox | None:
    """4 numbers (or 6, with heights, which are ignored) in CRS84: min lon, min lat, max
    lon, max lat. A box crossing the antimeridian (min lon > max lon) is refused: no
    program spans it."""
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) not in (4, 6):
        raise InvalidParameter("bbox is 4 numbers (or 6 with heights): min lon, min lat, ...")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameter("bbox is numbers separated by commas") from None
    if not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter("bbox is finite numbers")
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    west, south, east, north = numbers
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90 and -90 <= north <= 90
    ):
        raise InvalidParameter("bbox is longitudes from -180 to 180 and latitudes from -90 to 90")
    if west > east or south > north:
        raise InvalidParameter(
            "bbox goes from its lower left to its upper right corner (boxes across the "
            "antimeridian are not taken)"
        )
    return west, south, east, north


def parse_interval(text: str | None) -> tuple[int | None, int | None] | None:
    if text is None:
        return None
    return parse_datetime(text)


def items_query(
    limit: str | None, offset: str | None, bbox: str | None, datetime: str | None
) -> ItemsQuery:
    return ItemsQuery(
        limit=parse_limit(limit),
        offset=parse_offset(offset),
        bbox=parse_bbox(bbox),
        interval=parse_interval(datetime),
    )
