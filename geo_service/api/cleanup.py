"""``/v1/routes/cleanup`` plans a clean-up walk; ``/v1/cleanups`` logs one that was done."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from geo_service.auth import SUBMITTABLE_KINDS
from geo_service.context import ContextDep
from geo_service.errors import Forbidden, InvalidParameter
from geo_service.geojson import GEOJSON
from geo_service.ingest.batches import BatchResult, check_idempotency_key
from geo_service.models import KEYED, CleanupRoute, GeoJSONAnswer, problems
from geo_service.params import Ask
from geo_service.services.cleanup import (
    CleanupQuery,
    log_cleanup,
    plan_cleanup,
    route_geojson,
    route_gpx,
)
from geo_service.settings import EventKind

router = APIRouter(prefix="/v1", tags=["clean-up routes"], responses=KEYED)
GPX = "application/gpx+xml"
MAX_NEEDLES = 10_000
MAX_LOGGED_STOPS = 500
GPX_SCHEMA = {"type": "string", "description": "GPX 1.1: a waypoint per stop, a track per team"}


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)


class CleanupRequest(BaseModel):
    """Where the crew starts, how long it has, and how many teams walk."""

    model_config = ConfigDict(extra="forbid")
    budget_minutes: float = Field(gt=0, le=480, allow_inf_nan=False, examples=[90])
    teams: int = Field(default=1, ge=1, le=20)
    start_site: int | None = Field(default=None, description="a site id (GET /v1/sites)")
    start: Point | None = Field(
        default=None, description="or a point; it is snapped to the nearest path"
    )
    end_site: int | None = None
    end: Point | None = Field(default=None, description="default: back to the start")
    walking_kmh: float = Field(default=4.5, ge=1, le=10, allow_inf_nan=False)
    minutes_per_stop: float = Field(default=10, ge=0, le=120, allow_inf_nan=False)
    period: str | None = Field(
        default=None,
        description="a finished month, quarter, half-year or year; default: the latest "
        "(peers and planners see its released cells; managers default to the last 90 days)",
    )
    search_seconds: float = Field(default=1.0, ge=0.05, le=10, allow_inf_nan=False)


class RouteFormat(Ask):
    format: Literal["geojson", "gpx"] | None = None


def _wants_gpx(request: Request, format: str | None) -> bool:
    if format is not None:
        return format == "gpx"
    accept = request.headers.get("accept", "")
    return GPX in accept and GEOJSON not in accept


@router.post(
    "/routes/cleanup",
    summary="Plan a clean-up walk through needle hot spots within a time budget",
    response_class=GeoJSONAnswer,
    responses={
        200: {"model": CleanupRoute, "content": {GPX: {"schema": GPX_SCHEMA}}},
        **problems(400, 404, 413),
    },
)
async def post_cleanup_route(
    request: Request,
    body: CleanupRequest,
    ctx: ContextDep,
    ask: Annotated[RouteFormat, Query()],
) -> Response:
    """Chooses and orders stops among needle-report cells so the needles expected to be
    collected are highest, for each team, within the budget (OR-Tools routing).

    The answer is GeoJSON (stops in order with arrival minute, expected needles and the
    reason; each team's path; a summary with distance, time and the stops skipped and why),
    or GPX with ``?format=gpx`` or ``Accept: application/gpx+xml``. Peers and planners are
    only sent to released cells. Walks follow the imported network when there is one, and
    otherwise straight lines × 1.3, which the summary says.
    """
    query = CleanupQuery(
        budget_min=body.budget_minutes,
        teams=body.teams,
        walking_kmh=body.walking_kmh,
        minutes_per_stop=body.minutes_per_stop,
        start_site=body.start_site,
        start=(body.start.lon, body.start.lat) if body.start else None,
        end_site=body.end_site,
        end=(body.end.lon, body.end.lat) if body.end else None,
        period=body.period,
        search_seconds=body.search_seconds,
    )

    def work() -> tuple[bytes, str]:
        route = plan_cleanup(ctx, query)
        if _wants_gpx(request, ask.format):
            return route_gpx(route, ctx.deployment).encode(), GPX
        return orjson.dumps(route_geojson(route, ctx.deployment, ctx.role)), GEOJSON

    content, media_type = await run_in_threadpool(work)
    headers = {"Cache-Control": "no-store"}
    if media_type == GPX:
        headers["Content-Disposition"] = 'attachment; filename="cleanup-route.gpx"'
    return Response(content, media_type=media_type, headers=headers)


class LoggedStop(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stop: str = Field(max_length=64, description="a stop id from a plan")
    needles: int = Field(ge=0, le=MAX_NEEDLES, description="needles collected (0: none found)")


class CleanupLog(BaseModel):
    """A finished clean-up: the stops visited and the needles collected at each."""

    model_config = ConfigDict(extra="forbid")
    stops: list[LoggedStop] = Field(min_length=1, max_length=MAX_LOGGED_STOPS)
    finished_at: dt.datetime | None = Field(default=None, description="default: now")


@router.post(
    "/cleanups",
    status_code=201,
    response_model=BatchResult,
    responses=problems(400, 409, 413),
    summary="Log a finished clean-up (stops visited, needles collected)",
)
async def post_cleanups(
    body: CleanupLog,
    ctx: ContextDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Stored as ``cleanup`` events on the stops' grid cells (nothing finer), so the next plan
    counts the days since each was cleaned. A stop visited with nothing found is logged with
    0 needles: that resets its clock too."""
    if EventKind.CLEANUP.value not in SUBMITTABLE_KINDS[ctx.role]:
        raise Forbidden("this key's role may not log clean-ups")
    key = check_idempotency_key(idempotency_key)
    now = dt.datetime.now(dt.UTC)
    finished = body.finished_at or now
    if finished.tzinfo is None:
        raise InvalidParameter("finished_at needs a time-zone offset, such as Z")
    if finished > now + dt.timedelta(minutes=5):
        raise InvalidParameter("finished_at is in the future")
    stops = [(s.stop, s.needles) for s in body.stops]

    def work() -> tuple[dict[str, Any], bool]:
        return log_cleanup(ctx, stops, finished, idempotency_key=key)

    answer, replayed = await run_in_threadpool(work)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(
        orjson.dumps(answer), status_code=201, media_type="application/json", headers=headers
    )
