"""``/v1/sites``: public service sites with services and opening hours."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from geo_service.auth import Action
from geo_service.context import ContextDep, allowed
from geo_service.errors import NotFound
from geo_service.geojson import site_feature
from geo_service.http import read_payload
from geo_service.ingest.batches import BatchResult, Sender, check_idempotency_key
from geo_service.models import (
    KEYED,
    SITES_REQUEST_BODY,
    UPLOAD,
    GeoJSONAnswer,
    ServiceSite,
    ServiceSiteCollection,
    problems,
)
from geo_service.services.imports import Imported, body_upload, import_sites
from geo_service.services.program import ProgramContext

router = APIRouter(prefix="/v1", tags=["sites"], responses=KEYED)
SiteWriterContext = Annotated[ProgramContext, Depends(allowed(Action.ADD_SITES))]


@router.post(
    "/sites",
    status_code=201,
    response_model=BatchResult,
    summary="Add service sites (managers and stewards)",
    openapi_extra={"requestBody": SITES_REQUEST_BODY},
    responses=UPLOAD,
)
async def post_sites(
    request: Request,
    ctx: SiteWriterContext,
    all_or_nothing: Annotated[bool, Query()] = False,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Sites are public places and keep their exact location; hours use OSM syntax."""
    key = check_idempotency_key(idempotency_key)
    sender = Sender(ctx.program_id, ctx.principal.key_id, key, all_or_nothing)
    media, body = await read_payload(request)

    def work() -> Imported:
        upload = body_upload(media, body, ctx.settings.max_batch_rows)
        return import_sites(ctx.store, ctx.deployment, sender, upload)

    done = await run_in_threadpool(work)
    headers = {"Idempotent-Replayed": "true"} if done.replayed else None
    return Response(
        orjson.dumps(done.answer), status_code=201, media_type="application/json", headers=headers
    )


@router.get(
    "/sites",
    summary="Service sites of the caller's program",
    response_class=GeoJSONAnswer,
    responses={200: {"model": ServiceSiteCollection}},
)
def get_sites(ctx: ContextDep) -> Response:
    ctx.check(Action.READ_SITES)
    features = [site_feature(site) for site in ctx.store.list_sites(ctx.program_id)]
    body = {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}
    return Response(orjson.dumps(body), media_type="application/geo+json")


@router.get(
    "/sites/{site_id}",
    summary="One service site of the caller's program",
    response_class=GeoJSONAnswer,
    responses={200: {"model": ServiceSite}, **problems(404)},
)
def get_site(site_id: int, ctx: ContextDep) -> Response:
    ctx.check(Action.READ_SITES)
    # Another program's site answers exactly like a missing one.
    for site in ctx.store.list_sites(ctx.program_id):
        if site.id == site_id:
            return Response(orjson.dumps(site_feature(site)), media_type="application/geo+json")
    raise NotFound("no site with that id in this program")
