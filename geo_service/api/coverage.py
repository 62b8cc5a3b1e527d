"""Context layers (``/v1/candidates``, ``/v1/exclusions``), coverage gaps (``/v1/coverage``)
and siting (``/v1/siting/lockers``, ``/v1/siting/consumption-site``)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from geo_service.auth import Role
from geo_service.context import (
    DeploymentDep,
    HotspotCacheDep,
    NetworksDep,
    PrincipalDep,
    SettingsDep,
    StoreDep,
)
from geo_service.errors import InvalidParameter
from geo_service.http import read_payload
from geo_service.ingest.batches import BatchResult, Sender, check_idempotency_key
from geo_service.ingest.layers import context_feature
from geo_service.ingest.sites import Service, check_opening_hours
from geo_service.services.coverage import (
    DEFAULT_WEIGHTS,
    DEMAND_KINDS,
    LockerAsk,
    consumption_suitability,
    coverage_report,
    site_lockers,
)
from geo_service.services.imports import Layer, body_upload, import_layer
from geo_service.services.small_cell_audit import audit_small_cells, feature_counts
from geo_service.settings import EventKind

router = APIRouter(prefix="/v1", tags=["coverage and siting"])
CONTEXT_WRITERS = frozenset({Role.PLANNER, Role.MANAGER, Role.STEWARD})
PLANNERS = frozenset({Role.PLANNER, Role.MANAGER, Role.STEWARD})
LAYERS: dict[str, Layer] = {"candidates": "candidate", "exclusions": "exclusion"}


async def _post_layer(
    name: str,
    request: Request,
    principal: Any,
    store: Any,
    deployment: Any,
    settings: Any,
    all_or_nothing: bool,
    replace: bool,
    idempotency_key: str | None,
) -> Response:
    principal.require(CONTEXT_WRITERS, f"adding {name}")
    layer = LAYERS[name]
    key = check_idempotency_key(idempotency_key)
    kind, body = await read_payload(request)

    def work() -> tuple[dict[str, Any], bool]:
        upload = body_upload(kind, body, settings.max_batch_rows)
        sender = Sender(principal.program_id, principal.key_id, key, all_or_nothing)
        done = import_layer(store, deployment, sender, upload, layer, replace_layer=replace)
        return done.answer, done.replayed

    answer, replayed = await run_in_threadpool(work)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(
        orjson.dumps(answer), status_code=201, media_type="application/json", headers=headers
    )


CONTEXT_BODY_DOC = (
    "GeoJSON FeatureCollection or CSV. ``?replace=true`` swaps the whole layer in one "
    "transaction (and then refuses the batch if any row is bad)."
)


@router.post(
    "/candidates",
    status_code=201,
    response_model=BatchResult,
    summary="Add candidate sites for lockers, vending machines or a consumption site",
)
async def post_candidates(
    request: Request,
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    all_or_nothing: Annotated[bool, Query()] = False,
    replace: Annotated[bool, Query()] = False,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Each candidate: a Point and ``name``, ``candidate_type`` (locker, vending_machine,
    consumption_site, any), ``power``/``shelter``/``host_consent`` (yes, no, unknown) and
    ``notes``. CSV columns: name, candidate_type, power, shelter, host_consent, notes,
    latitude, longitude."""
    return await _post_layer(
        "candidates",
        request,
        principal,
        store,
        deployment,
        settings,
        all_or_nothing,
        replace,
        idempotency_key,
    )


@router.post(
    "/exclusions",
    status_code=201,
    response_model=BatchResult,
    summary="Add exclusion features (schools, daycares, playgrounds) with a buffer",
)
async def post_exclusions(
    request: Request,
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    all_or_nothing: Annotated[bool, Query()] = False,
    replace: Annotated[bool, Query()] = False,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Each exclusion: a Point, Polygon or MultiPolygon with ``name``, ``exclusion_type``
    (school, daycare, playground, other) and ``buffer_m`` (default 200 m, Ontario's rule for
    consumption sites). CSV (points): name, exclusion_type, buffer_m, latitude, longitude."""
    return await _post_layer(
        "exclusions",
        request,
        principal,
        store,
        deployment,
        settings,
        all_or_nothing,
        replace,
        idempotency_key,
    )


def _list_layer(name: str, principal: Any, store: Any) -> Response:
    principal.require(frozenset(Role), f"reading {name}")
    features = [context_feature(f) for f in store.list_context(principal.program_id, LAYERS[name])]
    body = {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}
    return Response(orjson.dumps(body), media_type="application/geo+json")


@router.get(
    "/candidates",
    summary="Candidate sites of the caller's program",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_candidates(principal: PrincipalDep, store: StoreDep) -> Response:
    return _list_layer("candidates", principal, store)


@router.get(
    "/exclusions",
    summary="Exclusion features of the caller's program",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_exclusions(principal: PrincipalDep, store: StoreDep) -> Response:
    return _list_layer("exclusions", principal, store)


def _kinds(kind: str | None) -> list[EventKind]:
    if kind is None:
        return list(DEMAND_KINDS)
    return [EventKind(kind)]


@router.get("/coverage", summary="Where and when a service fails to reach people")
async def get_coverage(
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    networks: NetworksDep,
    service: Annotated[Service, Query()],
    minutes: Annotated[list[float] | None, Query(max_length=4)] = None,
    kind: Annotated[Literal["needle_report", "overdose"] | None, Query()] = None,
    period: Annotated[str | None, Query(max_length=10)] = None,
    top: Annotated[int, Query(ge=0, le=500)] = 50,
) -> Response:
    """The share of needle reports and overdoses whose cell lies within a walk of a site
    that offers ``service`` **and is open at the event's hour**, and the same ignoring hours
    ("open anytime"): overall, by hour of week (7×24), and the uncovered cells ranked by
    events. Managers see counts over the last 365 days (or a ``period``); for peers and
    planners it is computed on a finished period's released cells only, as shares, with
    hours of fewer than k events blank."""
    thresholds = minutes or [5.0, 10.0]
    if any(not (0 < m <= 120) for m in thresholds):
        raise InvalidParameter("minutes must each be more than 0 and at most 120")

    def work() -> dict[str, Any]:
        return coverage_report(
            store,
            deployment,
            settings,
            cache,
            networks,
            program_id=principal.program_id,
            role=principal.role,
            service=service,
            minutes=thresholds,
            kinds=_kinds(kind),
            period_text=period,
            top=top,
            now=time.time(),
        )

    answer = await run_in_threadpool(work)
    gaps = [
        n for result in answer["results"] for n in feature_counts(result["uncovered"], "events")
    ]
    parameters = {"service": service, "minutes": thresholds, "kind": kind, "period": period}
    audit_small_cells(
        store, settings, principal, route="/v1/coverage", counts=gaps, parameters=parameters
    )
    return Response(orjson.dumps(answer), media_type="application/json")


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
    search_seconds: float = Field(default=10, ge=0.1, le=60, allow_inf_nan=False)

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        return check_opening_hours(value)


@router.post(
    "/siting/lockers", summary="Place lockers or vending machines to cover the most events"
)
async def post_locker_siting(
    body: LockerRequest,
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    networks: NetworksDep,
) -> Response:
    """A maximal covering location problem: existing sites that offer the service stay, the
    new ones (open ``opening_hours``, 24/7 by default) go where they cover the most events
    not yet covered at their hours, outside every exclusion zone. Among loaded candidates of
    type locker/vending_machine/any, or among grid cells when none are loaded. The answer has
    each site's marginal gain, coverage before and after (by hour too) and the proven
    optimality gap. With ``target_share`` instead of ``p``: the fewest sites reaching it."""
    principal.require(PLANNERS, "siting lockers")
    if (body.p is None) == (body.target_share is None):
        raise InvalidParameter("give either p (how many sites) or target_share, not both")
    ask = LockerAsk(
        body.service,
        body.minutes,
        body.p,
        body.target_share,
        body.opening_hours,
        [EventKind(k) for k in dict.fromkeys(body.kinds)],
        body.period,
        body.search_seconds,
    )

    def work() -> dict[str, Any]:
        return site_lockers(
            store,
            deployment,
            settings,
            cache,
            networks,
            program_id=principal.program_id,
            role=principal.role,
            ask=ask,
            now=time.time(),
        )

    answer = await run_in_threadpool(work)
    return Response(orjson.dumps(answer), media_type="application/json")


@router.get("/siting/consumption-site", summary="Rank candidate consumption sites, explained")
async def get_consumption_siting(
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    networks: NetworksDep,
    w_overdoses: Annotated[float, Query(allow_inf_nan=False)] = DEFAULT_WEIGHTS["overdoses"],
    w_needle_reports: Annotated[float, Query(allow_inf_nan=False)] = DEFAULT_WEIGHTS[
        "needle_reports"
    ],
    w_service_gap: Annotated[float, Query(allow_inf_nan=False)] = DEFAULT_WEIGHTS["service_gap"],
    period: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """A transparent weighted score for each candidate outside every exclusion zone:
    overdoses and needle reports within a 500 m walk, and the walk to the nearest
    harm-reduction service (farther fills a gap). Each criterion's value, scaled value,
    weight and contribution are in the answer; weights are yours to change."""
    principal.require(PLANNERS, "ranking consumption sites")
    weights = {
        "overdoses": w_overdoses,
        "needle_reports": w_needle_reports,
        "service_gap": w_service_gap,
    }

    def work() -> dict[str, Any]:
        return consumption_suitability(
            store,
            deployment,
            settings,
            cache,
            networks,
            program_id=principal.program_id,
            role=principal.role,
            weights=weights,
            period_text=period,
            now=time.time(),
        )

    answer = await run_in_threadpool(work)
    return Response(orjson.dumps(answer), media_type="application/json")
