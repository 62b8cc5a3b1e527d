"""``/v1/reports``: one report from a peer's phone, as a grid square and a time bucket.

It refuses any position: the phone snaps to the program's grid before sending (DESIGN.md
§4.9). What is stored goes through the events' own rules (see services/reports.py).
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from geo_service.context import ReporterContext
from geo_service.errors import UnsupportedMediaType
from geo_service.http import JSON_TYPES, media_type, parse_json
from geo_service.ingest.batches import Sender, check_idempotency_key
from geo_service.ingest.reports import read_report
from geo_service.models import KEYED, REPORTS_REQUEST_BODY, ReportAnswer, problems
from geo_service.services.imports import Imported, key_rules
from geo_service.services.reports import store_report

router = APIRouter(prefix="/v1", tags=["reports"], responses=KEYED)


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportAnswer,
    summary="Send one report from a phone: a grid square and a time bucket, never a position",
    openapi_extra={"requestBody": REPORTS_REQUEST_BODY},
    responses=problems(400, 409, 413, 415),
)
async def post_report(
    request: Request,
    ctx: ReporterContext,
    idempotency_key: Annotated[
        str | None, Header(description="required: one new UUID per report")
    ] = None,
) -> Response:
    """One report per request, stored once per ``Idempotency-Key`` (a retry gets the first
    answer; another report under the same key is a 409). A position in any form, an unknown
    field, a square of another size or outside the program's area, or a time in the future
    or more than 48 hours back is refused and nothing is stored. The answer never counts."""
    key = check_idempotency_key(idempotency_key)
    if media_type(request) not in JSON_TYPES:
        raise UnsupportedMediaType("send the report as application/json")
    body = await request.body()
    sender = Sender(ctx.program_id, ctx.principal.key_id, key)

    def work() -> Imported:
        report = read_report(parse_json(body), ctx.deployment)
        history = key_rules(ctx.store, ctx.principal).history_days
        return store_report(ctx.store, ctx.deployment, sender, report, history)

    done = await run_in_threadpool(work)
    headers = {"Cache-Control": "no-store"}
    if done.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        orjson.dumps(done.answer), status_code=201, media_type="application/json", headers=headers
    )
