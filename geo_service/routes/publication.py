"""Released layers for peers, planners and (if the steward allows) the public, and the
steward's publication settings."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from geo_service.auth import AUDIT_READERS, EVENT_READERS
from geo_service.deployment import Deployment
from geo_service.deps import DeploymentDep, HotspotCacheDep, PrincipalDep, SettingsDep, StoreDep
from geo_service.errors import Forbidden, NotFound
from geo_service.hotspots import HotspotCache
from geo_service.publication import (
    AUDIENCE_OF_ROLE,
    MIN_REPORTERS,
    Audience,
    Bucket,
    change_publication,
    check_period,
    describe,
    layer_features,
    parse_period,
    released_layer,
    threshold,
)
from geo_service.routes.events import GEOJSON
from geo_service.settings import EventKind, Settings
from geo_service.storage import ProgramPublication, Store

router = APIRouter(prefix="/v1", tags=["publication"])


def published_body(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    cache: HotspotCache,
    *,
    program_id: int,
    kind: EventKind,
    period_text: str,
    audience: Audience,
    full_view: bool,
) -> bytes:
    choice = store.publication(program_id)
    period = parse_period(period_text, deployment)
    check_period(period, choice, now=time.time())
    k = threshold(settings, choice, audience)
    key = ("published", program_id, store.data_version(program_id), kind, period, k, full_view)
    body = cache.cached_body(key)
    if body is not None:
        return body
    layer = released_layer(store, deployment, program_id=program_id, kind=kind, period=period, k=k)
    features = layer_features(layer, deployment)
    shown = sum(f.count for f in layer.features)
    summary: dict[str, Any] = {
        "kind": kind.value,
        "period": period.label,
        "audience": audience.value,
        "k": k,
        "min_reporters": MIN_REPORTERS,
        "rule": (
            f"a cell is shown with at least {k} events from at least {MIN_REPORTERS} reporting "
            "keys; fewer (including none) looks empty; the events of cells that fail are "
            "shown in the smallest coarser cell where they pass, without its shown children"
        ),
        "counts": {"features": len(features), "events_shown": shown},
    }
    if full_view:  # managers and stewards may see the price of privacy
        summary["counts"] |= {
            "events": layer.events,
            "share_shown": round(shown / layer.events, 4) if layer.events else None,
        }
    body = orjson.dumps({"type": "FeatureCollection", "features": features, "summary": summary})
    cache.keep_body(key, body)
    return body


@router.get(
    "/published",
    summary="The released cells of one kind for a finished month or quarter",
    responses={200: {"content": {GEOJSON: {}}}},
)
def get_published(
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    kind: EventKind,
    period: Annotated[str, Query(description="a finished month (2025-05) or quarter (2025-Q2)")],
    audience: Annotated[
        Audience | None,
        Query(description="managers and stewards: preview what an audience sees (default peer)"),
    ] = None,
) -> Response:
    """What peers (or planners, or the public) are shown. Peers and planners always get their
    own audience's layer; managers and stewards may preview any."""
    if principal.role in AUDIENCE_OF_ROLE:
        if audience not in (None, AUDIENCE_OF_ROLE[principal.role]):
            raise Forbidden("peers and planners see their own audience's layer only")
        chosen = AUDIENCE_OF_ROLE[principal.role]
    else:
        chosen = audience or Audience.PEER
    body = published_body(
        store,
        deployment,
        settings,
        cache,
        program_id=principal.program_id,
        kind=kind,
        period_text=period,
        audience=chosen,
        full_view=principal.role in EVENT_READERS,
    )
    return Response(body, media_type=GEOJSON)


@router.get(
    "/public/published",
    summary="The public layer of a program that publishes one (no key)",
    responses={200: {"content": {GEOJSON: {}}}},
)
def get_public(
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    program: Annotated[str, Query(max_length=64)],
    kind: EventKind,
    period: Annotated[str, Query()],
) -> Response:
    program_id = store.program_id(program)
    # A program that does not publish looks exactly like one that does not exist.
    if program_id is None or not store.publication(program_id).public_enabled:
        raise NotFound("no public layer is published under that name")
    body = published_body(
        store,
        deployment,
        settings,
        cache,
        program_id=program_id,
        kind=kind,
        period_text=period,
        audience=Audience.PUBLIC,
        full_view=False,
    )
    return Response(body, media_type=GEOJSON)


class PublicationChoice(BaseModel):
    """The steward's settings. Thresholds may be raised, never set below the defaults."""

    model_config = ConfigDict(extra="forbid")

    k_peer: int | None = Field(default=None, ge=1, le=1000)
    k_planner: int | None = Field(default=None, ge=1, le=1000)
    k_public: int | None = Field(default=None, ge=1, le=1000)
    public_enabled: bool = False
    bucket: Bucket = Bucket.MONTH


@router.get("/program/publication", summary="This program's publication settings")
def get_publication(principal: PrincipalDep, store: StoreDep, settings: SettingsDep) -> Any:
    principal.require(EVENT_READERS, "reading publication settings")
    return describe(settings, store.publication(principal.program_id))


@router.put("/program/publication", summary="Raise thresholds, change the bucket (stewards)")
def put_publication(
    choice: PublicationChoice, principal: PrincipalDep, store: StoreDep, settings: SettingsDep
) -> Any:
    principal.require(AUDIT_READERS, "changing publication settings")
    return change_publication(
        store,
        settings,
        program_id=principal.program_id,
        chosen=ProgramPublication(
            k_peer=choice.k_peer,
            k_planner=choice.k_planner,
            k_public=choice.k_public,
            public_enabled=choice.public_enabled,
            bucket=choice.bucket.value,
        ),
        actor=principal.actor,
        key_id=principal.key_id,
    )
