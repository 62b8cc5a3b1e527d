"""Released layers for peers, planners and (if the steward allows) the public, and the
steward's publication settings."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from geo_service.auth import Action
from geo_service.context import ContextDep, ServicesDep, allowed
from geo_service.errors import Forbidden, NotFound
from geo_service.geojson import GEOJSON
from geo_service.models import (
    KEYED,
    GeoJSONAnswer,
    PublicationSettings,
    ReleaseCollection,
    problems,
)
from geo_service.params import Ask
from geo_service.periods import Bucket, parse_period
from geo_service.services.basis import full_basis, release_basis
from geo_service.services.gpkg import GPKG_MEDIA, geopackage
from geo_service.services.program import ProgramContext, Services
from geo_service.services.publication import (
    AUDIENCE_OF_ROLE,
    Audience,
    change_publication,
    describe,
)
from geo_service.services.releases import View, get_release, release_features
from geo_service.settings import EventKind
from geo_service.storage import ProgramPublication
from maps.words import period_words

router = APIRouter(prefix="/v1", tags=["publication"])
PublicationReader = Annotated[ProgramContext, Depends(allowed(Action.READ_PUBLICATION))]
PublicationChanger = Annotated[ProgramContext, Depends(allowed(Action.CHANGE_PUBLICATION))]
PERIOD = "a finished month (2025-05), quarter (2025-Q2), half-year (2025-H1) or year (2025)"


class PublishedAsk(Ask):
    kind: EventKind
    period: str = Field(description=PERIOD)
    audience: Audience | None = Field(
        None, description="managers and stewards: preview what an audience sees (default peer)"
    )
    format: Literal["geojson", "gpkg"] = Field(
        "geojson", description="gpkg: the same cells as a GeoPackage layer, with its summary"
    )
    cell_m: int | None = Field(
        None,
        ge=1,
        description="the released cells summed into squares of the stored size × 2^k "
        "(default: the stored size)",
    )


class PublicAsk(Ask):
    program: str = Field(max_length=64)
    kind: EventKind
    period: str = Field(description=PERIOD)


def published_body(
    services: Services,
    program_id: int,
    ask: PublishedAsk | PublicAsk,
    audience: Audience,
    *,
    now: float,
    full_view: bool = False,
) -> bytes:
    """An audience's release as GeoJSON, in the program's own grid and time zone."""
    deployment = services.deployment_for(program_id)
    period = parse_period(ask.period, deployment)
    release = get_release(
        services.store,
        deployment,
        services.settings,
        program_id=program_id,
        kind=ask.kind,
        period=period,
        now=now,
        view=View(audience, getattr(ask, "cell_m", None)),
    )
    features = release_features(release, deployment)
    summary: dict[str, Any] = {
        "kind": ask.kind.value,
        "period": period.label,
        "audience": audience.value,
        "cell_m": release.cell_m,
        "k": release.k,
        "drop_top_keys": release.rule.drop_top_keys,
        "rule": release.rule.describe(),
        "released_on": release.made_on,
        "counts": {"features": len(features), "events_shown": release.total},
    }
    window = period_words(period.label)
    basis = release_basis(release, used=release.total, window=window)
    if full_view:  # managers and stewards may see the price of privacy, and the seal
        summary["content_hash"] = release.content_hash
        summary["counts"] |= {
            "events": release.events,
            "share_shown": round(release.total / release.events, 4) if release.events else None,
        }
        basis = full_basis(release.total, release.events, window)
    summary["basis"] = basis.to_json()
    summary["warnings"] = basis.warnings
    return orjson.dumps({"type": "FeatureCollection", "features": features, "summary": summary})


def published_for(ctx: ProgramContext, ask: PublishedAsk) -> bytes:
    """Peers and planners get their own audience's layer; managers and stewards any."""
    if ctx.role in AUDIENCE_OF_ROLE:
        if ask.audience not in (None, AUDIENCE_OF_ROLE[ctx.role]):
            raise Forbidden("peers and planners see their own audience's layer only")
        chosen = AUDIENCE_OF_ROLE[ctx.role]
    else:
        chosen = ask.audience or Audience.PEER
    return published_body(
        ctx.services, ctx.program_id, ask, chosen, now=ctx.now, full_view=ctx.full_view
    )


@router.get(
    "/published",
    summary="The released cells of one kind for a finished month, quarter, half-year or year",
    response_class=GeoJSONAnswer,
    responses={
        200: {
            "model": ReleaseCollection,
            "content": {GPKG_MEDIA: {"schema": {"type": "string", "format": "binary"}}},
        },
        **KEYED,
        **problems(400),
    },
)
def get_published(ctx: ContextDep, ask: Annotated[PublishedAsk, Query()]) -> Response:
    """What peers (or planners, or the public) are shown. Peers and planners always get their
    own audience's layer; managers and stewards may preview any."""
    body = published_for(ctx, ask)
    if ask.format == "gpkg":
        return _as_geopackage(body, f"{ctx.principal.program}-{ask.kind.value}-{ask.period}")
    return Response(body, media_type=GEOJSON)


def _as_geopackage(body: bytes, name: str) -> Response:
    """The very answer the GeoJSON route gives, as a GeoPackage: its cells as one layer and
    its summary as a one-row table. Built from the JSON, so it can hold nothing more."""
    answer = orjson.loads(body)
    layer = f"{answer['summary']['kind']}_{answer['summary']['period']}"
    data = geopackage({layer: answer["features"]}, {"summary": answer["summary"]})
    return Response(
        data,
        media_type=GPKG_MEDIA,
        headers={"Content-Disposition": f'attachment; filename="{name}.gpkg"'},
    )


@router.get(
    "/public/published",
    summary="The public layer of a program that publishes one (no key)",
    response_class=GeoJSONAnswer,
    responses={200: {"model": ReleaseCollection}, **problems(400, 404, 422, 429, 503)},
)
def get_public(services: ServicesDep, ask: Annotated[PublicAsk, Query()]) -> Response:
    store = services.store
    program_id = store.program_id(ask.program)
    # A program that does not publish looks exactly like one that does not exist.
    if program_id is None or not store.publication(program_id).public_enabled:
        raise NotFound("no public layer is published under that name")
    body = published_body(services, program_id, ask, Audience.PUBLIC, now=time.time())
    return Response(body, media_type=GEOJSON)


class PublicationChoice(BaseModel):
    """The steward's settings. Thresholds may be raised, never set below the defaults."""

    model_config = ConfigDict(extra="forbid")

    k_peer: int | None = Field(default=None, ge=1, le=1000)
    k_planner: int | None = Field(default=None, ge=1, le=1000)
    k_public: int | None = Field(default=None, ge=1, le=1000)
    public_enabled: bool = False
    bucket: Bucket = Bucket.MONTH
    # Days after a period ends before it is published (default 7, at least 1).
    grace_days: int | None = Field(default=None, ge=1, le=90)
    # 2: a cell needs k reports without its two largest reporting keys (two colluding keys).
    drop_top_keys: int | None = Field(default=None, ge=1, le=2)


@router.get(
    "/program/publication",
    summary="This program's publication settings",
    response_model=PublicationSettings,
    responses=KEYED,
)
def get_publication(ctx: PublicationReader) -> Any:
    return describe(ctx.settings, ctx.store.publication(ctx.program_id))


@router.put(
    "/program/publication",
    summary="Raise thresholds, change the bucket (stewards)",
    response_model=PublicationSettings,
    responses={**KEYED, **problems(400, 413)},
)
def put_publication(choice: PublicationChoice, ctx: PublicationChanger) -> Any:
    principal = ctx.principal
    return change_publication(
        ctx.store,
        ctx.settings,
        program_id=principal.program_id,
        chosen=ProgramPublication(
            k_peer=choice.k_peer,
            k_planner=choice.k_planner,
            k_public=choice.k_public,
            public_enabled=choice.public_enabled,
            bucket=choice.bucket.value,
            grace_days=choice.grace_days,
            drop_top_keys=choice.drop_top_keys,
        ),
        actor=principal.actor,
        key_id=principal.key_id,
    )
