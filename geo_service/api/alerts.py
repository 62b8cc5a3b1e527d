"""Spike alerts (issue 19): the steward's rules and named areas, the alerts each role may
read, a manager's review of a draft, the poster and its phone number.

What a role is shown of an alert is decided in services.alerts (views and review), never
here: a peer's or planner's answer holds sent alerts only, cut to their k.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, BackgroundTasks, Body, Depends, Path, Query, Request
from pydantic import Field
from starlette.responses import Response

from geo_service.auth import Action
from geo_service.context import allowed
from geo_service.errors import NotFound
from geo_service.geojson import GEOJSON
from geo_service.i18n import language_of
from geo_service.models import (
    KEYED,
    AlertAnswer,
    AlertAreaCollection,
    AlertDeleted,
    AlertList,
    AlertRuleAnswer,
    AlertRuleList,
    AlertRuleRequest,
    AlertSettingsAnswer,
    AlertSettingsRequest,
    GeoJSONAnswer,
    PosterChoice,
    problems,
)
from geo_service.params import Ask
from geo_service.services.alerts import delivery
from geo_service.services.alerts.named_areas import (
    add_named_areas,
    areas_collection,
    areas_from_geojson,
    delete_named_area,
)
from geo_service.services.alerts.review import (
    PAGE_DEFAULT,
    PAGE_MAX,
    Page,
    decide_alert,
    list_alerts,
    one_alert,
    publish_poster,
    reader_for,
    set_phone,
)
from geo_service.services.alerts.rules import Caller, RuleAsk, add_rule, delete_rule, rule_json
from geo_service.services.alerts.views import alert_view
from geo_service.services.program import ProgramContext
from geo_service.storage.alert_records import StoredAlert

router = APIRouter(prefix="/v1", tags=["alerts"], responses=KEYED)
AlertReader = Annotated[ProgramContext, Depends(allowed(Action.READ_ALERTS))]
SettingsReader = Annotated[ProgramContext, Depends(allowed(Action.READ_ALERT_SETTINGS))]
SettingsChanger = Annotated[ProgramContext, Depends(allowed(Action.CHANGE_ALERT_SETTINGS))]
Decider = Annotated[ProgramContext, Depends(allowed(Action.DECIDE_ALERTS))]
PosterPublisher = Annotated[ProgramContext, Depends(allowed(Action.PUBLISH_POSTERS))]
# Ids are 64-bit in the database: a larger number is refused before it reaches it.
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
# An alert's reference: random URL-safe characters (storage.sql.alerts.new_ref).
REF_PATTERN = r"^[A-Za-z0-9_-]{16}$"
Ref = Annotated[str, Path(pattern=REF_PATTERN, description="the alert's id, as listed")]
DECIDED: dict[int | str, dict[str, Any]] = {
    409: {
        **problems(409)[409],
        "description": "The alert was already confirmed or dismissed, or is not sent yet",
    }
}
AREAS_BODY = Body(
    description="a GeoJSON Feature or FeatureCollection (WGS 84) of Polygons or "
    "MultiPolygons, each with a 'name' property; each at least 0.25 km², inside the program"
)


def _caller(ctx: ProgramContext) -> Caller:
    return Caller(ctx.program_id, ctx.principal.actor, ctx.principal.key_id, int(ctx.now))


def _json(body: dict[str, Any]) -> Response:
    """The answer exactly as the views cut it: no member a role may not see is added back
    (a response model would write every optional member, as null)."""
    return Response(orjson.dumps(body), media_type="application/json")


def _full_view(ctx: ProgramContext, request: Request, alert: StoredAlert) -> Response:
    """A decided alert as the manager or steward who decided it sees it."""
    rules = {r.id: r for r in ctx.store.alert_rules(ctx.program_id, with_deleted=True)}
    view = alert_view(
        alert, rules[alert.rule_id], role=ctx.role, k=0, language=language_of(request)
    )
    return _json(view)


# -- rules ----------------------------------------------------------------------------------


@router.post(
    "/alert-rules",
    summary="Add an alert rule (stewards)",
    status_code=201,
    response_model=AlertRuleAnswer,
    responses=problems(400, 413),
)
def post_rule(body: AlertRuleRequest, ctx: SettingsChanger) -> Any:
    """A fixed rule (count: N reports in 24 h or 1 h; naloxone: N doses in 24 h) or a
    statistical one (EARS C1/C2/C3, EWMA) over the whole program, coarse cells of at least
    1 km², named areas or all of them. Audited."""
    ask = RuleAsk(
        name=body.name,
        kind=body.kind,
        method=body.method,
        window_hours=body.window_hours,
        threshold=body.threshold,
        areas=body.areas,
        auto_send=body.auto_send,
        options=body.options,
    )
    return rule_json(add_rule(ctx.store, ctx.deployment, _caller(ctx), ask))


@router.get(
    "/alert-rules",
    summary="The program's alert rules (managers and stewards)",
    response_model=AlertRuleList,
)
def get_rules(ctx: SettingsReader) -> Any:
    return {"rules": [rule_json(r) for r in ctx.store.alert_rules(ctx.program_id)]}


@router.delete(
    "/alert-rules/{rule_id}",
    summary="Remove an alert rule (stewards); its alerts stay",
    response_model=AlertDeleted,
    responses=problems(404),
)
def remove_rule(ctx: SettingsChanger, rule_id: Id) -> Any:
    if not delete_rule(ctx.store, _caller(ctx), rule_id):
        raise NotFound("no rule of this program with that id")
    return {"deleted": rule_id}


# -- named areas ----------------------------------------------------------------------------


def _geojson(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=GEOJSON)


@router.post(
    "/alert-areas",
    summary="Add named alert areas (stewards)",
    status_code=201,
    response_class=GeoJSONAnswer,
    responses={201: {"model": AlertAreaCollection}, **problems(400, 413)},
)
def post_areas(ctx: SettingsChanger, body: Annotated[dict[str, Any], AREAS_BODY]) -> Response:
    """All or none: one refused area stores none. Audited (ids, never the shapes)."""
    areas = areas_from_geojson(body)
    added = add_named_areas(ctx.store, ctx.deployment, _caller(ctx), areas)
    return _geojson(areas_collection(added), 201)


@router.get(
    "/alert-areas",
    summary="The program's named alert areas (managers and stewards)",
    response_class=GeoJSONAnswer,
    responses={200: {"model": AlertAreaCollection}},
)
def get_areas(ctx: SettingsReader) -> Response:
    return _geojson(areas_collection(ctx.store.alert_areas(ctx.program_id)))


@router.delete(
    "/alert-areas/{area_id}",
    summary="Remove a named alert area (stewards); alerts about it keep its name",
    response_model=AlertDeleted,
    responses=problems(404),
)
def remove_area(ctx: SettingsChanger, area_id: Id) -> Any:
    if not delete_named_area(ctx.store, ctx.deployment, _caller(ctx), area_id):
        raise NotFound("no named area of this program with that id")
    return {"deleted": area_id}


# -- alerts ---------------------------------------------------------------------------------


class AlertsAsk(Ask):
    status: Literal["open", "history"] = Field(
        "open", description="open: drafted in the last 7 days; history: all, newest first"
    )
    before: str | None = Field(
        None, pattern=REF_PATTERN, description="the next_before of the previous page"
    )
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX)


@router.get(
    "/alerts", summary="Alerts, as the caller's role may see them", response_model=AlertList
)
def get_alerts(ctx: AlertReader, request: Request, ask: Annotated[AlertsAsk, Query()]) -> Any:
    """Peers and planners: sent alerts only, in words, with a count only when it reaches
    their k. Managers and stewards: drafts and dismissed alerts too, with the rule, the
    observed and expected counts."""
    reader = reader_for(ctx.store, ctx.settings, ctx.program_id, ctx.role, language_of(request))
    page = Page(ask.before, ask.limit)
    alerts, following = list_alerts(
        ctx.store, reader, history=ask.status == "history", page=page, now=int(ctx.now)
    )
    return _json({"alerts": alerts, "next_before": following})


@router.get(
    "/alerts/{alert_id}",
    summary="One alert, as the caller's role may see it",
    responses={200: {"model": AlertAnswer}, **problems(404)},
)
def get_alert(ctx: AlertReader, request: Request, alert_id: Ref) -> Response:
    """An alert a peer may not see (a draft, a dismissed one, another program's) answers
    exactly as an id that does not exist."""
    reader = reader_for(ctx.store, ctx.settings, ctx.program_id, ctx.role, language_of(request))
    return _json(one_alert(ctx.store, reader, alert_id))


@router.post(
    "/alerts/{alert_id}/confirm",
    summary="Send a drafted alert (managers and stewards)",
    responses={200: {"model": AlertAnswer}, **problems(404, 413), **DECIDED},
)
def confirm_alert(
    ctx: Decider, request: Request, alert_id: Ref, background: BackgroundTasks
) -> Response:
    """Once only (409 after). Delivered to the program's subscribers after the answer, so a
    slow webhook never holds the request. Audited with the confirming key."""
    sent = decide_alert(ctx.store, _caller(ctx), alert_id, confirm=True)
    background.add_task(delivery.deliver_alert, ctx.store, ctx.settings, ctx.program_id, sent.id)
    return _full_view(ctx, request, sent)


@router.post(
    "/alerts/{alert_id}/dismiss",
    summary="Dismiss a drafted alert (managers and stewards)",
    responses={200: {"model": AlertAnswer}, **problems(404, 413), **DECIDED},
)
def dismiss_alert(ctx: Decider, request: Request, alert_id: Ref) -> Response:
    """A dismissed alert is never sent and never shown below manager level. Audited."""
    dismissed = decide_alert(ctx.store, _caller(ctx), alert_id, confirm=False)
    return _full_view(ctx, request, dismissed)


@router.post(
    "/alerts/{alert_id}/poster",
    summary="Publish (or withdraw) a sent alert's printable poster (stewards)",
    responses={200: {"model": AlertAnswer}, **problems(404, 413), **DECIDED},
)
def post_poster(
    ctx: PosterPublisher, request: Request, alert_id: Ref, body: PosterChoice
) -> Response:
    """Public: anyone may open /alerts/{id}/poster (no counts below the public's k, no map).
    Audited."""
    alert = publish_poster(ctx.store, _caller(ctx), alert_id, public=body.public)
    return _full_view(ctx, request, alert)


# -- settings -------------------------------------------------------------------------------


@router.put(
    "/alert-settings",
    summary="Set the phone number the alert poster gives (stewards)",
    response_model=AlertSettingsAnswer,
    responses=problems(400, 413),
)
def put_settings(body: AlertSettingsRequest, ctx: SettingsChanger) -> Any:
    return {"phone": set_phone(ctx.store, _caller(ctx), body.phone)}


@router.get(
    "/alert-settings",
    summary="The alert poster's phone number (managers and stewards)",
    response_model=AlertSettingsAnswer,
)
def get_settings(ctx: SettingsReader) -> Any:
    return {"phone": ctx.store.alert_phone(ctx.program_id)}
