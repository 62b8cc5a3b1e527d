"""Siting: ``/v1/siting/lockers`` (where new lockers or vending machines cover most) and
``/v1/siting/consumption-site`` (candidate consumption sites ranked, explained)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from geo_service.auth import Action
from geo_service.context import PlannerContext, allowed
from geo_service.errors import InvalidParameter
from geo_service.ingest.sites import Service, check_opening_hours
from geo_service.models import KEYED, LockerPlanAnswer, RankingAnswer, problems
from geo_service.params import Ask
from geo_service.services.program import ProgramContext
from geo_service.services.siting import LockerQuestion, site_lockers
from geo_service.services.suitability import (
    DEFAULT_WEIGHTS,
    RankingQuestion,
    consumption_suitability,
)
from geo_service.settings import EventKind

router = APIRouter(prefix="/v1", tags=["coverage and siting"], responses=KEYED)
RankerContext = Annotated[ProgramContext, Depends(allowed(Action.RANK_CONSUMPTION_SITES))]


class LockerRequest(BaseModel):
    """Where p new lockers (or vending machines) would cover the most events, or how many
    cover a share."""

    model_config = ConfigDict(extra="forbid")
    service: Service = Field(default=Service.NEEDLES, description="what the lockers hold")
    p: int | None = Field(default=None, ge=1, le=100, description="how many new sites")
    target_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="instead of p: the fewest sites that bring coverage to this share",
    )
    minutes: float = Field(default=10, gt=0, le=60, allow_inf_nan=False)
    opening_hours: str = Field(
        default="24/7", max_length=200, description="the new sites' hours, OSM syntax"
    )
    kinds: list[Literal["needle_report", "overdose"]] = Field(
        default=["needle_report", "overdose"], min_length=1, max_length=2
    )
    period: str | None = Field(default=None, max_length=10)
    cell_m: int | None = Field(
        None,
        ge=1,
        description="count demand in squares of the stored size × 2^k (larger "
        "squares: answers rest on more reports)",
    )
    search_seconds: float = Field(default=10, ge=0.1, le=60, allow_inf_nan=False)

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        return check_opening_hours(value)


@router.post(
    "/siting/lockers",
    summary="Place lockers or vending machines to cover the most events",
    responses={200: {"model": LockerPlanAnswer}, **problems(400, 413)},
)
async def post_locker_siting(body: LockerRequest, ctx: PlannerContext) -> Response:
    """A maximal covering location problem: existing sites that offer the service stay, the
    new ones (open ``opening_hours``, 24/7 by default) go where they cover the most events
    not yet covered at their hours, outside every exclusion zone. Among loaded candidates of
    type locker/vending_machine/any, or among grid cells when none are loaded. The answer has
    each site's marginal gain, coverage before and after (by hour too) and the proven
    optimality gap. With ``target_share`` instead of ``p``: the fewest sites reaching it."""
    if (body.p is None) == (body.target_share is None):
        raise InvalidParameter("give either p (how many sites) or target_share, not both")
    question = LockerQuestion(
        body.service,
        body.minutes,
        body.p,
        body.target_share,
        body.opening_hours,
        [EventKind(k) for k in dict.fromkeys(body.kinds)],
        body.period,
        body.search_seconds,
        body.cell_m,
    )

    def work() -> dict[str, Any]:
        return site_lockers(ctx, question).to_json()

    answer = await run_in_threadpool(work)
    return Response(orjson.dumps(answer), media_type="application/json")


class RankingAsk(Ask):
    w_overdoses: float = Field(DEFAULT_WEIGHTS["overdoses"], allow_inf_nan=False)
    w_needle_reports: float = Field(DEFAULT_WEIGHTS["needle_reports"], allow_inf_nan=False)
    w_service_gap: float = Field(DEFAULT_WEIGHTS["service_gap"], allow_inf_nan=False)
    period: str | None = Field(None, max_length=10)
    cell_m: int | None = Field(
        None,
        ge=1,
        description="count demand in squares of the stored size × 2^k (larger "
        "squares: answers rest on more reports)",
    )


@router.get(
    "/siting/consumption-site",
    summary="Rank candidate consumption sites, explained",
    responses={200: {"model": RankingAnswer}, **problems(400)},
)
async def get_consumption_siting(
    ctx: RankerContext, ask: Annotated[RankingAsk, Query()]
) -> Response:
    """A transparent weighted score for each candidate outside every exclusion zone:
    overdoses and needle reports within a 500 m walk, and the walk to the nearest
    harm-reduction service (farther fills a gap). Each criterion's value, scaled value,
    weight and contribution are in the answer; weights are yours to change."""
    weights = {
        "overdoses": ask.w_overdoses,
        "needle_reports": ask.w_needle_reports,
        "service_gap": ask.w_service_gap,
    }
    question = RankingQuestion(weights, ask.period, ask.cell_m)

    def work() -> dict[str, Any]:
        return consumption_suitability(ctx, question).to_json()

    answer = await run_in_threadpool(work)
    return Response(orjson.dumps(answer), media_type="application/json")
