"""Context layers: candidate sites (``/v1/candidates``) and exclusion zones
(``/v1/exclusions``) that siting chooses among and keeps away from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from geo_service.auth import Action
from geo_service.context import allowed
from geo_service.http import read_payload
from geo_service.ingest.batches import BatchResult, Sender, check_idempotency_key
from geo_service.ingest.layers import context_feature
from geo_service.models import KEYED, UPLOAD, ContextCollection, GeoJSONAnswer
from geo_service.services.imports import Layer, body_upload, import_layer
from geo_service.services.program import ProgramContext

router = APIRouter(prefix="/v1", tags=["coverage and siting"], responses=KEYED)
LAYERS: dict[str, Layer] = {"candidates": "candidate", "exclusions": "exclusion"}
LayerWriter = Annotated[ProgramContext, Depends(allowed(Action.ADD_LAYERS))]
LayerReader = Annotated[ProgramContext, Depends(allowed(Action.READ_LAYERS))]


@dataclass(frozen=True)
class LayerUpload:
    all_or_nothing: bool
    replace: bool  # swap the whole layer in one transaction (then any bad row refuses all)


async def _post_layer(
    name: str, request: Request, ctx: ProgramContext, ask: LayerUpload, idempotency_key: str | None
) -> Response:
    layer = LAYERS[name]
    key = check_idempotency_key(idempotency_key)
    kind, body = await read_payload(request)
    store, deployment, max_rows = ctx.store, ctx.deployment, ctx.settings.max_batch_rows

    def work() -> tuple[dict[str, Any], bool]:
        upload = body_upload(kind, body, max_rows)
        sender = Sender(ctx.program_id, ctx.principal.key_id, key, ask.all_or_nothing)
        done = import_layer(store, deployment, sender, upload, layer, replace_layer=ask.replace)
        return done.answer, done.replayed

    answer, replayed = await run_in_threadpool(work)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(
        orjson.dumps(answer), status_code=201, media_type="application/json", headers=headers
    )


@router.post(
    "/candidates",
    status_code=201,
    response_model=BatchResult,
    responses=UPLOAD,
    summary="Add candidate sites for lockers, vending machines or a consumption site",
)
async def post_candidates(
    request: Request,
    ctx: LayerWriter,
    all_or_nothing: Annotated[bool, Query()] = False,
    replace: Annotated[bool, Query()] = False,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Each candidate: a Point and ``name``, ``candidate_type`` (locker, vending_machine,
    consumption_site, any), ``power``/``shelter``/``host_consent`` (yes, no, unknown) and
    ``notes``. CSV columns: name, candidate_type, power, shelter, host_consent, notes,
    latitude, longitude."""
    ask = LayerUpload(all_or_nothing, replace)
    return await _post_layer("candidates", request, ctx, ask, idempotency_key)


@router.post(
    "/exclusions",
    status_code=201,
    response_model=BatchResult,
    responses=UPLOAD,
    summary="Add exclusion features (schools, daycares, playgrounds) with a buffer",
)
async def post_exclusions(
    request: Request,
    ctx: LayerWriter,
    all_or_nothing: Annotated[bool, Query()] = False,
    replace: Annotated[bool, Query()] = False,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Each exclusion: a Point, Polygon or MultiPolygon with ``name``, ``exclusion_type``
    (school, daycare, playground, other) and ``buffer_m`` (default 200 m, Ontario's rule for
    consumption sites). CSV (points): name, exclusion_type, buffer_m, latitude, longitude."""
    ask = LayerUpload(all_or_nothing, replace)
    return await _post_layer("exclusions", request, ctx, ask, idempotency_key)


def _list_layer(name: str, ctx: ProgramContext) -> Response:
    features = [context_feature(f) for f in ctx.store.list_context(ctx.program_id, LAYERS[name])]
    body = {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}
    return Response(orjson.dumps(body), media_type="application/geo+json")


@router.get(
    "/candidates",
    summary="Candidate sites of the caller's program",
    response_class=GeoJSONAnswer,
    responses={200: {"model": ContextCollection}},
)
def get_candidates(ctx: LayerReader) -> Response:
    return _list_layer("candidates", ctx)


@router.get(
    "/exclusions",
    summary="Exclusion features of the caller's program",
    response_class=GeoJSONAnswer,
    responses={200: {"model": ContextCollection}},
)
def get_exclusions(ctx: LayerReader) -> Response:
    return _list_layer("exclusions", ctx)
