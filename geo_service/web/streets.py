"""The program's streets (``/maps/streets.json``) for the offline base map of every map page.

Served apart from the pages, once per network: a page names the address with the network's
tag (``?v=``), and that address is kept by the browser for a year (the tag changes when a
new network is imported, so a kept copy is never stale). Without the current tag the answer
must be revalidated (ETag), which costs a 304 and no bytes. Only signed-in viewers of the
program get it, like its pages; it holds public OpenStreetMap geometry and nothing from
events.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from geo_service.errors import NotFound
from geo_service.services.program import ProgramContext
from geo_service.web.session import ViewerContext

router = APIRouter(include_in_schema=False)
STREETS_PATH = "/maps/streets.json"
KEPT = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"


def streets_url(ctx: ProgramContext) -> str | None:
    """The address of the program's streets with their tag; None with no network imported."""
    tag = ctx.services.streets.tag(ctx.store, ctx.deployment, ctx.program_id)
    return f"{STREETS_PATH}?v={tag}" if tag else None


def _matches(if_none_match: str | None, tag: str) -> bool:
    """Whether the browser holds this version, gzipped or not (each has its own ETag)."""
    if not if_none_match:
        return False
    sent = {t.strip().removeprefix("W/").strip('"') for t in if_none_match.split(",")}
    return bool(sent & {tag, tag + ".gz", "*"})


@router.get(STREETS_PATH)
def streets_resource(
    ctx: ViewerContext,
    v: Annotated[str | None, Query(max_length=64)] = None,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
    accept_encoding: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    streets = ctx.services.streets.get(ctx.store, ctx.deployment, ctx.program_id)
    if streets is None:
        raise NotFound(
            "this program has no walking network; a steward can import one with "
            "'geo-service network import FILE.osm.pbf'"
        )
    zipped = "gzip" in (accept_encoding or "").lower()
    etag = f'"{streets.tag}.gz"' if zipped else f'"{streets.tag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": KEPT if v == streets.tag else REVALIDATE,
        "Vary": "Accept-Encoding",
    }
    if _matches(if_none_match, streets.tag):
        return Response(status_code=304, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
        return Response(streets.gzipped, media_type="application/json", headers=headers)
    return Response(streets.body, media_type="application/json", headers=headers)
