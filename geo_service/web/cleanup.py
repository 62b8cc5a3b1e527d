"""The clean-up route map (``/maps/cleanup``), its downloads (``.gpx`` for phone apps,
``.geojson``) and the form on it that logs the needles picked up at each stop."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from shapely.geometry import mapping
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from geo_service.auth import SUBMITTABLE_KINDS, Role
from geo_service.errors import InvalidParameter, ServiceError
from geo_service.params import Ask
from geo_service.security import CSRF_FIELD, form_token_matches
from geo_service.services.cleanup import (
    CleanupQuery,
    PlannedRoute,
    log_cleanup,
    plan_cleanup,
    route_geojson,
    route_gpx,
    route_summary,
    shown_paths,
)
from geo_service.services.program import ProgramContext
from geo_service.settings import EventKind
from geo_service.web.pages import (
    HeaderForm,
    Link,
    Select,
    bounds,
    header,
    map_tiles,
    select,
    serve_map,
    sites_for_map,
)
from geo_service.web.session import FormTokenDep, SessionCookie, ViewerContext, form_refused
from geo_service.web.shell import message
from maps.cleanup import CleanupPage, cleanup_map
from maps.language import N_, _, ngettext
from maps.records import Route, RouteEnd, RouteStop, TeamPath

router = APIRouter(include_in_schema=False)
BUDGETS = ("45", "60", "90", "120", "180")
TEAMS = ("1", "2", "3", "4")
MAX_NEEDLES = 10_000


def route_query(start_site: int | None, budget: float, teams: int, period: str | None) -> str:
    """The query string of a route page or download (also where the log form returns to)."""
    params = f"budget={budget:g}&teams={teams}"
    if start_site is not None:
        params += f"&start_site={start_site}"
    if period:
        params += f"&period={quote(period)}"
    return params


class RouteAsk(Ask):
    """What the route page and its downloads are asked for (the same query string)."""

    start_site: int | None = None
    budget: float = Field(90, gt=0, le=480)
    teams: int = Field(1, ge=1, le=20)
    period: str | None = Field(None, max_length=10)


class RoutePageAsk(RouteAsk):
    logged: int | None = Field(None, ge=0, le=MAX_NEEDLES)  # stops just logged, to say so


def _default_start(ctx: ProgramContext) -> int | None:
    sites = ctx.store.list_sites(ctx.program_id)
    supply = [s for s in sites if s.site_type == "hr_supply"]
    return (supply or sites)[0].id if sites else None


def _plan(ctx: ProgramContext, ask: RouteAsk, start_site: int | None) -> PlannedRoute:
    if start_site is None:
        raise InvalidParameter("this program has no service sites to start from; add one first")
    query = CleanupQuery(
        budget_min=ask.budget, teams=ask.teams, start_site=start_site, period=ask.period
    )
    return plan_cleanup(ctx, query)


def route_record(ctx: ProgramContext, route: PlannedRoute) -> Route:
    """What the route map draws: the same stops, paths and numbers as the GeoJSON answer."""
    deployment = ctx.deployment
    summary = route_summary(route, ctx.role)
    paths = shown_paths(route, deployment)
    ends = [
        RouteEnd(kind, place.label, *deployment.to_lonlat_point(place.x, place.y))
        for kind, place in (("start", route.start), ("end", route.end))
    ]
    stops = [
        RouteStop(
            team=s.team,
            order=s.order,
            stop=s.candidate.id,
            lon=s.position[0],
            lat=s.position[1],
            arrival_minute=s.arrival_minute,
            expected_needles=s.expected_needles,
            notes=s.candidate.notes(),
            reported=s.candidate.reported,
        )
        for p in paths
        for s in p.stops
    ]
    return Route(
        ends=ends,
        paths=[TeamPath(p.team, p.line, len(p.stops), p.duration_min, p.distance_m) for p in paths],
        stops=stops,
        budget_min=summary["budget_min"],
        expected_needles=summary["expected_needles"],
        stops_visited=summary["stops_visited"],
        stops_skipped=summary["stops_skipped"],
        routing_note=summary["routing"]["note"],
        window=summary["window"],
    )


def _may_log(role: Role) -> bool:
    return EventKind.CLEANUP.value in SUBMITTABLE_KINDS[role]


def _route_page(ctx: ProgramContext, ask: RoutePageAsk) -> CleanupPage:
    start_id = ask.start_site if ask.start_site is not None else _default_start(ctx)
    route = _plan(ctx, ask, start_id)
    starts = [(str(s.id), s.name) for s in ctx.store.list_sites(ctx.program_id)]
    form = HeaderForm(
        "/maps/cleanup",
        [
            Select("start_site", N_("Start"), starts, str(start_id)),
            select("budget", BUDGETS, f"{ask.budget:g}", N_("Minutes")),
            select("teams", TEAMS, str(ask.teams), N_("Teams")),
        ],
        button=N_("Plan"),
    )
    params = route_query(start_id, ask.budget, ask.teams, ask.period)
    links = [
        Link(f"/maps/cleanup.gpx?{params}", N_("GPX for phones"), download=True),
        Link(f"/maps/cleanup.geojson?{params}", "GeoJSON", download=True),
    ]
    title = ngettext(
        "Clean-up route: {minutes} min, {teams} team",
        "Clean-up route: {minutes} min, {teams} teams",
        ask.teams,
    ).format(minutes=f"{ask.budget:g}", teams=ask.teams)
    if ask.logged is not None:
        title += " " + _("(logged {stops} stops: this plan already counts them)").format(
            stops=ask.logged
        )
    hidden = [
        ("start_site", str(start_id)),
        ("budget", f"{ask.budget:g}"),
        ("teams", str(ask.teams)),
    ]
    return CleanupPage(
        title=title,
        bounds=bounds(ctx.deployment),
        area=mapping(ctx.deployment.service_area),
        route=route_record(ctx, route),
        sites=sites_for_map(ctx),
        header_html=header(title, form, links, ctx.role),
        log_form_action="/maps/cleanup/log" if _may_log(ctx.role) else "",
        hidden_fields=hidden,
        basis=route.basis.note(),
    )


@router.get("/maps/cleanup")
async def cleanup_page(
    request: Request, ctx: ViewerContext, ask: Annotated[RoutePageAsk, Query()], token: FormTokenDep
) -> Response:
    def build() -> str:
        return cleanup_map(_route_page(ctx, ask), tiles=map_tiles(ctx))

    return await serve_map(request, build, ctx.settings, token)


@router.get("/maps/cleanup.{fmt}")
def cleanup_download(fmt: str, ctx: ViewerContext, ask: Annotated[RouteAsk, Query()]) -> Response:
    if fmt not in ("gpx", "geojson"):
        raise InvalidParameter("route downloads are .gpx or .geojson")
    start_id = ask.start_site if ask.start_site is not None else _default_start(ctx)
    route = _plan(ctx, ask, start_id)
    if fmt == "gpx":
        return Response(
            route_gpx(route, ctx.deployment),
            media_type="application/gpx+xml",
            headers={"Content-Disposition": 'attachment; filename="cleanup-route.gpx"'},
        )
    return Response(
        orjson.dumps(route_geojson(route, ctx.deployment, ctx.role)),
        media_type="application/geo+json",
        headers={"Content-Disposition": 'attachment; filename="cleanup-route.geojson"'},
    )


# -- logging a route's stops -----------------------------------------------------------------


def _not_logged(
    request: Request, text: str, status: int, back: tuple[str, str] | None = None
) -> Response:
    """``text`` comes translated; ``back``'s words are an English message."""
    return message(
        request, N_("Nothing was logged"), text, title=N_("Log"), status=status, back=back
    )


def _stops(
    request: Request, stop_ids: list[str], counts: list[str]
) -> list[tuple[str, int]] | Response:
    """The stops with a needle count (an empty count: the stop was not reached), or why not."""
    stops = []
    for stop, text in zip(stop_ids, counts, strict=True):
        if text == "":
            continue
        if not text.isdigit() or int(text) > MAX_NEEDLES:
            return _not_logged(
                request,
                _("Needles must be whole numbers from 0 to 10,000."),
                400,
                back=("/maps/cleanup", N_("Back to the route")),
            )
        stops.append((stop, int(text)))
    return stops


def _number(form: FormData, name: str) -> int | None:
    value = str(form.get(name, ""))
    return int(value) if value.isdigit() else None


def _back_to_route(form: FormData) -> str:
    """The route page the form came from (its start, budget and teams)."""
    budget, teams = _number(form, "budget"), _number(form, "teams")
    budget = 90 if budget is None else budget
    teams = 1 if teams is None else teams
    return route_query(_number(form, "start_site"), budget, teams, None)


@router.post("/maps/cleanup/log")
async def cleanup_log_form(
    request: Request, ctx: ViewerContext, session: SessionCookie = None
) -> Response:
    """The route page's form: needles per stop; empty means the stop was not reached."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    bearer = request.headers.get("authorization") is not None
    if not bearer and not form_token_matches(session, sent if isinstance(sent, str) else None):
        return form_refused(request)
    stop_ids = [str(v) for v in form.getlist("stop")]
    counts = [str(v).strip() for v in form.getlist("needles")]
    if len(stop_ids) != len(counts) or len(stop_ids) > 500:
        return _not_logged(request, _("The form was incomplete."), 400)
    if not _may_log(ctx.role):
        return _not_logged(request, _("This role may not log clean-ups."), 403)
    stops = _stops(request, stop_ids, counts)
    if isinstance(stops, Response):
        return stops
    back = _back_to_route(form)
    if not stops:
        return RedirectResponse(f"/maps/cleanup?{back}", status_code=303)
    now = dt.datetime.now(dt.UTC)
    try:
        await run_in_threadpool(log_cleanup, ctx, stops, now)
    except ServiceError as exc:
        return _not_logged(request, exc.detail, exc.status)
    return RedirectResponse(f"/maps/cleanup?{back}&logged={len(stops)}", status_code=303)
