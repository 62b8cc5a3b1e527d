"""``/v1/coverage``: where and when a service fails to reach people."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from starlette.responses import Response

from geo_service.context import ContextDep
from geo_service.errors import InvalidParameter
from geo_service.ingest.sites import Service
from geo_service.models import KEYED, CoverageAnswer, problems
from geo_service.params import Ask
from geo_service.services.coverage import CoverageQuestion, coverage_report
from geo_service.services.demand import DEMAND_KINDS
from geo_service.services.small_cell_audit import audit_small_cells, feature_counts
from geo_service.settings import EventKind

router = APIRouter(prefix="/v1", tags=["coverage and siting"], responses=KEYED)


class CoverageAsk(Ask):
    service: Service
    minutes: list[float] | None = Field(None, max_length=4)
    kind: Literal["needle_report", "overdose"] | None = None
    period: str | None = Field(None, max_length=10)
    top: int = Field(50, ge=0, le=500)
    cell_m: int | None = Field(
        None,
        ge=1,
        description="count demand in squares of the stored size × 2^k (larger "
        "squares: answers rest on more reports)",
    )


@router.get(
    "/coverage",
    summary="Where and when a service fails to reach people",
    responses={200: {"model": CoverageAnswer}, **problems(400)},
)
async def get_coverage(ctx: ContextDep, ask: Annotated[CoverageAsk, Query()]) -> Response:
    """The share of needle reports and overdoses whose cell lies within a walk of a site
    that offers ``service`` **and is open at the event's hour**, and the same ignoring hours
    ("open anytime"): overall, by hour of week (7×24), and the uncovered cells ranked by
    events. Managers see counts over the last 365 days (or a ``period``); for peers and
    planners it is computed on a finished period's released cells only, as shares, with
    hours of fewer than k events blank."""
    thresholds = ask.minutes or [5.0, 10.0]
    if any(not (0 < m <= 120) for m in thresholds):
        raise InvalidParameter("minutes must each be more than 0 and at most 120")
    kinds = list(DEMAND_KINDS) if ask.kind is None else [EventKind(ask.kind)]
    question = CoverageQuestion(ask.service, thresholds, kinds, ask.period, ask.top, ask.cell_m)

    def work() -> dict[str, Any]:
        return coverage_report(ctx, question).to_json()

    answer = await run_in_threadpool(work)
    gaps = [
        n for result in answer["results"] for n in feature_counts(result["uncovered"], "events")
    ]
    parameters = {
        "service": ask.service,
        "minutes": thresholds,
        "kind": ask.kind,
        "period": ask.period,
        "cell_m": ask.cell_m,
    }
    audit_small_cells(
        ctx.store,
        ctx.settings,
        ctx.principal,
        route="/v1/coverage",
        counts=gaps,
        parameters=parameters,
    )
    return Response(orjson.dumps(answer), media_type="application/json")
