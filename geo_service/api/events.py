"""``/v1/events``: ingest with blur, and event-level reads for managers and stewards."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import numpy as np
import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from starlette.responses import Response

from analysis.projection import to_metres
from geo_service.audit import record
from geo_service.context import ManagerContext, SubmitterContext
from geo_service.errors import InvalidParameter
from geo_service.geojson import GEOJSON, events_to_features
from geo_service.http import read_payload
from geo_service.ingest.batches import BatchResult, Sender, check_idempotency_key
from geo_service.models import (
    EVENTS_REQUEST_BODY,
    KEYED,
    UPLOAD,
    EventCellCollection,
    GeoJSONAnswer,
    problems,
)
from geo_service.params import Ask
from geo_service.periods import parse_datetime
from geo_service.services.imports import Imported, body_upload, import_events, key_rules
from geo_service.settings import EventKind
from geo_service.storage import EventQuery

router = APIRouter(prefix="/v1", tags=["events"], responses=KEYED)


@router.post(
    "/events",
    status_code=201,
    response_model=BatchResult,
    summary="Submit needle reports, overdoses and clean-ups",
    openapi_extra={"requestBody": EVENTS_REQUEST_BODY},
    responses=UPLOAD,
)
async def post_events(
    request: Request,
    ctx: SubmitterContext,
    all_or_nothing: Annotated[
        bool, Query(description="store nothing if any row is rejected")
    ] = False,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Locations are snapped to the grid and times coarsened before anything is stored.

    Rows that fail a rule are listed in ``rejected`` with a code and a reason; the others are
    stored together in one transaction. A retried request with the same ``Idempotency-Key``
    stores nothing and returns the first answer.
    """
    key = check_idempotency_key(idempotency_key)
    sender = Sender(ctx.program_id, ctx.principal.key_id, key, all_or_nothing)
    media, body = await read_payload(request)

    def work() -> Imported:
        upload = body_upload(media, body, ctx.settings.max_batch_rows)
        rules = key_rules(ctx.store, ctx.principal)
        return import_events(ctx.store, ctx.deployment, sender, upload, rules)

    done = await run_in_threadpool(work)
    headers = {"Idempotent-Replayed": "true"} if done.replayed else None
    return Response(
        orjson.dumps(done.answer), status_code=201, media_type="application/json", headers=headers
    )


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(p) for p in text.split(","))
    except ValueError:
        raise InvalidParameter("bbox must be four numbers: west,south,east,north") from None
    if not all(np.isfinite([west, south, east, north])) or not (
        -180 <= west < east <= 180 and -90 <= south < north <= 90
    ):
        raise InvalidParameter(
            "bbox must be west,south,east,north in degrees, west < east, south < north"
        )
    return west, south, east, north


def envelope_m(
    bbox: tuple[float, float, float, float], crs: str
) -> tuple[float, float, float, float]:
    """The projected envelope of a lon/lat box, densified so curved edges are covered."""
    west, south, east, north = bbox
    t = np.linspace(0.0, 1.0, 21)
    lon = np.concatenate(
        [west + (east - west) * t, np.full(21, east), east - (east - west) * t, np.full(21, west)]
    )
    lat = np.concatenate(
        [
            np.full(21, south),
            south + (north - south) * t,
            np.full(21, north),
            north - (north - south) * t,
        ]
    )
    x, y = to_metres(lon, lat, crs=crs)
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


class EventsAsk(Ask):
    kind: list[EventKind] | None = None
    bbox: str | None = Field(None, description="west,south,east,north in degrees")
    datetime: str | None = Field(None, description="RFC 3339 instant or interval a/b, '..' open")
    limit: int = Field(1000, ge=1)
    after: int = Field(0, ge=0, le=2**63 - 1, description="the last id of the previous page")


@router.get(
    "/events",
    summary="Stored events as grid-cell polygons (managers and stewards)",
    response_class=GeoJSONAnswer,
    responses={200: {"model": EventCellCollection}, **problems(400)},
)
def get_events(
    request: Request, ctx: ManagerContext, ask: Annotated[EventsAsk, Query()]
) -> Response:
    store, deployment, settings, principal = ctx.store, ctx.deployment, ctx.settings, ctx.principal
    if ask.limit > settings.page_size_max:
        raise InvalidParameter(f"limit may be at most {settings.page_size_max}")
    start, end = parse_datetime(ask.datetime) if ask.datetime else (None, None)
    query = EventQuery(
        program_id=principal.program_id,
        kinds=tuple(k.value for k in ask.kind or ()),
        start=start,
        end=end,
        envelope_m=envelope_m(parse_bbox(ask.bbox), deployment.crs) if ask.bbox else None,
        after_id=ask.after,
        limit=ask.limit,
    )
    rows = store.query_events(
        query, grid_origin=(deployment.grid.origin_x_m, deployment.grid.origin_y_m)
    )
    filters = (("bbox", ask.bbox), ("datetime", ask.datetime))
    record(
        store,
        "events.read",
        actor=principal.actor,
        program_id=principal.program_id,
        key_id=principal.key_id,
        rows=len(rows),
        kinds=sorted(query.kinds),
        filters=sorted(name for name, used in filters if used),
    )
    links = []
    if len(rows) == ask.limit:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
        params.append(("after", str(rows[-1].id)))
        links.append(
            {
                "rel": "next",
                "type": GEOJSON,
                # Never the Host header: anyone can send one, and links get followed.
                "href": f"{settings.public_url or ''}{request.url.path}?{urlencode(params)}",
            }
        )
    body = {
        "type": "FeatureCollection",
        "features": events_to_features(rows, deployment),
        "numberReturned": len(rows),
        "links": links,
    }
    return Response(orjson.dumps(body), media_type=GEOJSON, headers={"Cache-Control": "no-store"})
