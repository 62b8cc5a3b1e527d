"""Maps in the browser: sign-in with a session cookie, the hot-spot and trends pages, and
downloads. Pages carry only what the viewer's role may see (released cells for peers and
planners) and load nothing from other hosts.

Every form that changes something (sign-in, sign-out, logging a clean-up) carries a token
derived from the browser's own cookie; pages are built (and cached) with an empty token
field that is filled per request, so no viewer's token is ever in another viewer's page."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import opening_hours
import orjson
from fastapi import APIRouter, Cookie, Depends, Form, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from shapely.geometry import mapping
from starlette.responses import HTMLResponse, RedirectResponse, Response

from geo_service.auth import (
    SESSION_COOKIE,
    SUBMITTABLE_KINDS,
    Principal,
    authenticate,
    hash_key,
    session_principal,
    start_session,
)
from geo_service.context import (
    DeploymentDep,
    HotspotCacheDep,
    NetworksDep,
    SettingsDep,
    StoreDep,
)
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter, ServiceError, Unauthenticated, as_service_error
from geo_service.periods import (
    Bucket,
    is_published,
    latest_published,
    parse_period,
    recent_quarters,
)
from geo_service.security import (
    CONTENT_SECURITY_POLICY,
    CSRF_FIELD,
    form_token,
    form_token_matches,
)
from geo_service.services.cleanup import (
    CleanupQuery,
    log_cleanup,
    plan_cleanup,
    route_geojson,
    route_gpx,
)
from geo_service.services.deadline import timed_answer
from geo_service.services.hotspots import HotspotCache, HotspotQuery, Method, load_cells
from geo_service.services.program import ProgramContext, Services
from geo_service.services.publication import AUDIENCE_OF_ROLE
from geo_service.services.releases import (
    DEFAULT_GRACE_DAYS,
    check_period,
    get_release,
    grace_days,
    release_features,
    release_rule,
)
from geo_service.services.small_cell_audit import audit_small_cells, feature_counts
from geo_service.settings import EventKind, Settings
from geo_service.storage import Store
from maps.base import CSRF_SLOT, Tiles, compact, inline_script_hashes
from maps.cleanup import CleanupPage, cleanup_map
from maps.hotspots import HotspotPage, hotspot_map
from maps.trends import TrendPage, trend_map

router = APIRouter(include_in_schema=False)

KIND_WORDS = {
    EventKind.NEEDLE_REPORT: "needle reports",
    EventKind.OVERDOSE: "overdoses",
    EventKind.CLEANUP: "clean-ups",
}


# -- who is looking ----------------------------------------------------------------------


class SignInNeeded(Exception):
    """A map page without a session: send the browser to the sign-in page."""

    def __init__(self, target: str) -> None:
        self.target = target


def get_viewer(
    request: Request,
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> Principal:
    """The signed-in person: a Bearer key, or a browser session (else off to sign in)."""
    if authorization:
        return authenticate(store, authorization)
    principal = session_principal(store, session) if session else None
    if principal is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInNeeded(request.url.path + query)
    return principal


ViewerDep = Annotated[Principal, Depends(get_viewer)]
SIGNIN_COOKIE = "gs_signin"  # the sign-in form's own secret, before there is a session


def viewer_form_token(
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> str:
    """The token this browser's forms must send back ("" for Bearer-key viewers)."""
    return form_token(session) if session else ""


FormTokenDep = Annotated[str, Depends(viewer_form_token)]


def _token_field(token: str) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{token}">'


def _with_token(page: str, token: str) -> str:
    # Escaped user text cannot contain "<input", so only our own forms' slots match.
    return page.replace(CSRF_SLOT, _token_field(token))


def _form_refused() -> HTMLResponse:
    refused = _page(
        "<h1>That form is out of date</h1><p>Nothing was changed. Go back, reload the page "
        "and send it again.</p>",
        title="Refused",
    )
    refused.status_code = 403
    return refused


async def send_to_sign_in(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return RedirectResponse(f"/signin?next={quote(exc.target)}", status_code=303)


def _safe_next(target: str | None) -> str:
    # Only paths on this service: never an open redirect.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/maps"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _page(body: str, *, title: str, status: int = 200) -> HTMLResponse:
    # A refusal keeps its status (403, 400, ...) so links, caches and scripts see it too.
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        '</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/static/maps.css"></head>'
        f'<body style="padding:16px;max-width:40em">{body}</body></html>',
        status_code=status,
    )


@router.get("/signin")
def signin_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    pending: Annotated[str | None, Cookie(alias=SIGNIN_COOKIE)] = None,
) -> HTMLResponse:
    target = html.escape(_safe_next(next))
    # Keep a pending secret, so two open sign-in tabs both still work.
    secret = pending if pending and len(pending) == 43 else secrets.token_urlsafe(32)
    response = _page(
        "<h1>Sign in to the maps</h1>"
        '<form method="post" action="/signin">'
        '<p><label for="key">Paste your key</label><br>'
        '<input id="key" name="key" type="password" autocomplete="off" required '
        'style="width:100%"></p>'
        f'<input type="hidden" name="next" value="{target}">'
        + _token_field(form_token(secret))
        + '<p><button type="submit">Sign in</button></p></form>'
        "<p>Your key stays on this device as a sign-in that ends after a while or when you "
        "sign out. Ask your data steward if you do not have a key.</p>",
        title="Sign in",
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        secret,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/signin",
    )
    return response


@router.post("/signin")
def signin(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    key: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=500)] = None,
    csrf_token: Annotated[str | None, Form(max_length=100)] = None,
    pending: Annotated[str | None, Cookie(alias=SIGNIN_COOKIE)] = None,
) -> Response:
    # Checked before the key: a forged sign-in (into the attacker's own key) never starts.
    if not form_token_matches(pending, csrf_token):
        return _form_refused()
    try:
        token, _ = start_session(store, key, hours=settings.session_hours)
    except Unauthenticated:
        refused = _page(
            "<h1>That key did not work</h1><p>It may be mistyped or revoked. "
            '<a href="/signin">Try again</a>, or ask your data steward.</p>',
            title="Sign in",
        )
        refused.status_code = 401
        return refused
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(
    store: StoreDep,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
    csrf_token: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    if session and not form_token_matches(session, csrf_token):
        return _form_refused()
    if session:
        store.end_session(hash_key(session))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- shared pieces ---------------------------------------------------------------------------


def _tiles(settings: Settings) -> Tiles:
    if settings.map_tiles.lower() == "none":
        return Tiles(None)
    return Tiles(settings.map_tiles, settings.map_tiles_attribution)


def _csp(page: str, settings: Settings) -> str:
    scripts = " ".join(inline_script_hashes(page))
    policy = CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {scripts}")
    tiles = _tiles(settings)
    if tiles.url:
        parts = urlsplit(tiles.url)
        origin = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"  # {s}: any subdomain
        policy = policy.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")
    return policy


async def _serve_map(build: Callable[[], str], settings: Settings, token: str) -> HTMLResponse:
    """Build a page off the event loop; a refusal becomes a plain page saying why. The
    policy hashes the page as built: filling its form token touches no script."""
    try:
        page = await run_in_threadpool(build)
    except (ServiceError, ValueError) as exc:
        refusal = exc if isinstance(exc, ServiceError) else as_service_error(exc)
        if refusal is None:
            raise
        refused = _page(
            f"<h1>This map cannot be shown</h1><p>{html.escape(refusal.detail)}</p>"
            '<p><a href="/maps">Back to the maps</a></p>',
            title="Map",
            status=refusal.status,
        )
        refused.headers.update(refusal.headers)
        return refused
    response = HTMLResponse(_with_token(page, token))
    response.headers["Content-Security-Policy"] = _csp(page, settings)
    return response


def _sites(store: Store, program_id: int, deployment: Deployment) -> list[dict[str, Any]]:
    today = dt.datetime.now(deployment.tz).replace(tzinfo=None, hour=0, minute=0, second=0)
    out = []
    for site in store.list_sites(program_id):
        hours = None
        if site.opening_hours:
            spans = [
                f"{start:%H:%M}-{'24:00' if end.day != start.day else f'{end:%H:%M}'}"
                for start, end, state, _ in opening_hours.OpeningHours(
                    site.opening_hours
                ).intervals(today, today + dt.timedelta(days=1))
                if str(state).endswith("OPEN")
            ]
            hours = ", ".join(spans) if spans else "closed"
        out.append(
            {
                "name": site.name,
                "services": list(site.services),
                "lon": site.lon,
                "lat": site.lat,
                "today": hours,
            }
        )
    return out


def _answer(
    ctx: ProgramContext, kind: EventKind, method: Method, period_text: str
) -> dict[str, Any]:
    deployment = ctx.deployment
    period = parse_period(period_text, deployment)
    check_period(
        period, ctx.store.publication(ctx.program_id), now=time.time(),
        full_view=ctx.full_view,
    )  # fmt: skip
    query = HotspotQuery(
        kind=kind, method=method, cell_m=deployment.cell_m(kind), start=period.start, end=period.end
    )
    body, _ = timed_answer(ctx, query, period)
    answer: dict[str, Any] = orjson.loads(body)
    return answer


def _bounds(deployment: Deployment) -> tuple[float, float, float, float]:
    west, south, east, north = deployment.service_area.bounds
    return (round(west, 5), round(south, 5), round(east, 5), round(north, 5))


def _header(title: str, form: str, links: str, principal: Principal) -> str:
    return (
        f'<div class="map-header"><h1>{html.escape(title)}</h1>{form}'
        f'<span class="downloads">{links}</span>'
        f'<form method="post" action="/signout" style="display:inline">{CSRF_SLOT}'
        f'<button type="submit">Sign out ({html.escape(principal.role.value)})</button></form>'
        "</div>"
    )


def _select(name: str, options: list[str], chosen: str, label: str) -> str:
    items = "".join(
        f'<option value="{html.escape(o)}"{" selected" if o == chosen else ""}>{html.escape(o)}'
        "</option>"
        for o in options
    )
    return f'<label>{label} <select name="{name}">{items}</select></label>'


# -- pages ---------------------------------------------------------------------------------


@router.get("/maps")
def maps_index(
    request: Request,
    store: StoreDep,
    principal: ViewerDep,
    token: FormTokenDep,
) -> Response:
    links = "".join(
        f'<li><a href="/maps/hotspots?kind={k.value}">Hot spots: {w}</a> · '
        f'<a href="/maps/trends?kind={k.value}">month by month</a></li>'
        for k, w in KIND_WORDS.items()
    )
    links += '<li><a href="/maps/cleanup">Clean-up route</a></li>'
    links += '<li><a href="/maps/coverage">Coverage gaps: where and when services miss</a></li>'
    links += '<li><a href="/maps/siting">Siting: lockers and a consumption site</a></li>'
    return _page(
        f"<h1>Maps for {html.escape(principal.program)}</h1><ul>{links}</ul>"
        f'<form method="post" action="/signout">{_token_field(token)}'
        '<button type="submit">Sign out</button></form>',
        title="Maps",
    )


@router.get("/maps/hotspots")
async def hotspots_page(
    request: Request,
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    token: FormTokenDep,
    kind: EventKind = EventKind.NEEDLE_REPORT,
    period: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    chosen = period or latest_published(
        Bucket.QUARTER,
        now=time.time(),
        grace_days=grace_days(store.publication(principal.program_id)),
        tz=deployment.tz,
    )
    audience = AUDIENCE_OF_ROLE.get(principal.role)
    page_key = (
        "map:hotspots",
        principal.program_id,
        store.data_version(principal.program_id),
        kind,
        chosen,
        audience,
        principal.role.value,
    )

    def build() -> str:
        # Peers' pages are built from frozen releases (their parts are cached by release);
        # a page cache keyed on the data version would time when data arrive.
        cached = cache.cached_body(page_key) if audience is None else None
        if cached is not None:
            return cached.decode()
        args = (ProgramContext(request.app.state.services, principal), kind)
        cells = _answer(*args, Method.GI_STAR, chosen)
        clusters = _answer(*args, Method.DBSCAN, chosen)
        heat = _answer(*args, Method.DENSITY, chosen)
        words = KIND_WORDS[kind]
        rule = release_rule(settings, store.publication(principal.program_id), 0)
        note = "Squares show where reports were made (to about a block). " + (
            f"A square is shown only when it has at least {rule.k} reports besides those of "
            "the person who reported most there; quieter places look empty."
            if audience
            else "You see every square (manager view)."
        )
        query = f"kind={kind.value}&period={quote(chosen)}"
        form = (
            '<form method="get" action="/maps/hotspots">'
            f'<input type="hidden" name="kind" value="{kind.value}">'
            + _select(
                "period",
                recent_quarters(now=time.time(), grace_days=DEFAULT_GRACE_DAYS, tz=deployment.tz),
                chosen,
                "Period",
            )
            + ' <button type="submit">Show</button></form>'
        )
        links = (
            f'<a href="/maps/hotspots.geojson?{query}" download>GeoJSON</a> · '
            f'<a href="/maps/hotspots.csv?{query}" download>CSV</a>'
        )
        page = HotspotPage(
            title=f"Hot spots of {words}, {chosen}",
            bounds=_bounds(deployment),
            area=mapping(deployment.service_area),
            cells=compact(cells, keep=("count", "gi_class", "confidence", "cell_m")),
            clusters=compact(clusters, keep=("rank", "count")),
            heat=compact(
                {"features": [f for f in heat["features"] if f["properties"]["level"] >= 2]},
                keep=("level",),
            ),
            sites=_sites(store, principal.program_id, deployment),
            header_html=_header(f"Hot spots of {words}, {chosen}", form, links, principal),
            note=note,
        )
        rendered = hotspot_map(page, tiles=_tiles(settings))
        if audience is None:
            cache.keep_body(page_key, rendered.encode())
        return rendered

    return await _serve_map(build, settings, token)


@router.get("/maps/hotspots.{fmt}")
def hotspots_download(
    request: Request,
    fmt: str,
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    kind: EventKind = EventKind.NEEDLE_REPORT,
    period: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    if fmt not in ("geojson", "csv"):
        raise InvalidParameter("downloads are .geojson or .csv")
    chosen = period or latest_published(
        Bucket.QUARTER,
        now=time.time(),
        grace_days=grace_days(store.publication(principal.program_id)),
        tz=deployment.tz,
    )
    ctx = ProgramContext(request.app.state.services, principal)
    answer = _answer(ctx, kind, Method.GI_STAR, chosen)
    audit_small_cells(
        store,
        settings,
        principal,
        route="/maps/hotspots." + fmt,
        counts=feature_counts(answer),
        parameters={"kind": kind, "period": chosen},
    )
    name = f"hotspots-{kind.value}-{chosen}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "geojson":
        return Response(orjson.dumps(answer), media_type="application/geo+json", headers=headers)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = sorted({k for f in answer["features"] for k in f["properties"]})
    writer.writerow(["cell", *fields])
    for f in answer["features"]:
        writer.writerow([f["id"], *(f["properties"].get(k, "") for k in fields)])
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


@router.get("/maps/trends")
async def trends_page(
    request: Request,
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    token: FormTokenDep,
    kind: EventKind = EventKind.NEEDLE_REPORT,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    now = dt.datetime.now(deployment.tz)
    chosen = year or (now.year if now.month > 1 else now.year - 1)

    def build() -> str:
        choice = store.publication(principal.program_id)
        audience = AUDIENCE_OF_ROLE.get(principal.role)
        months: list[tuple[str, dict[str, Any]]] = []
        for month in range(1, 13):
            label = f"{chosen}-{month:02d}"
            period = parse_period(label, deployment)
            wait_days = 0 if audience is None else grace_days(choice)
            if not is_published(period, now=time.time(), grace_days=wait_days):
                break
            if audience is None:  # managers and stewards: every cell of the month
                query = HotspotQuery(
                    kind=kind,
                    method=Method.GI_STAR,
                    cell_m=deployment.cell_m(kind),
                    start=period.start,
                    end=period.end,
                )
                cells = load_cells(store, deployment, principal.program_id, query)
                rings = deployment.cell_rings(cells.ix, cells.iy, cells.cell_m)
                features = [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                        "properties": {"count": int(n)},
                    }
                    for ring, n in zip(rings, cells.count, strict=True)
                ]
            else:
                if choice.bucket == "quarter":
                    raise InvalidParameter("this program publishes by quarter, not by month")
                release = get_release(
                    store, deployment, settings, program_id=principal.program_id, kind=kind,
                    period=period, now=time.time(),
                )  # fmt: skip
                features = release_features(release, deployment)
            months.append((label, {"type": "FeatureCollection", "features": features}))
        if not months:
            raise InvalidParameter("no month of that year has finished yet")
        words = KIND_WORDS[kind]
        years = [str(y) for y in range(now.year, now.year - 5, -1)]
        form = (
            '<form method="get" action="/maps/trends">'
            f'<input type="hidden" name="kind" value="{kind.value}">'
            + _select("year", years, str(chosen), "Year")
            + ' <button type="submit">Show</button></form>'
        )
        page = TrendPage(
            title=f"{words.capitalize()} month by month, {chosen}",
            bounds=_bounds(deployment),
            area=mapping(deployment.service_area),
            months=months,
            sites=_sites(store, principal.program_id, deployment),
            header_html=_header(
                f"{words.capitalize()} month by month, {chosen}", form, "", principal
            ),
            note="Move the slider, or pick a month in the layer list. "
            + ("Quiet squares look empty." if audience else "Manager view: every square."),
        )
        return trend_map(page, tiles=_tiles(settings))

    return await _serve_map(build, settings, token)


# -- clean-up route ------------------------------------------------------------------------

BUDGETS = ("45", "60", "90", "120", "180")
TEAMS = ("1", "2", "3", "4")


def _default_start(store: Store, program_id: int) -> int | None:
    sites = store.list_sites(program_id)
    supply = [s for s in sites if s.site_type == "hr_supply"]
    return (supply or sites)[0].id if sites else None


@dataclass(frozen=True)
class RouteAsk:
    """What the route page and its downloads are asked for (the same query string)."""

    start_site: int | None
    budget: float
    teams: int
    period: str | None

    def params(self, start_site: int | None) -> str:
        params = f"budget={self.budget:g}&teams={self.teams}"
        if start_site is not None:
            params += f"&start_site={start_site}"
        if self.period:
            params += f"&period={quote(self.period)}"
        return params


def route_ask(
    start_site: Annotated[int | None, Query()] = None,
    budget: Annotated[float, Query(gt=0, le=480)] = 90,
    teams: Annotated[int, Query(ge=1, le=20)] = 1,
    period: Annotated[str | None, Query(max_length=10)] = None,
) -> RouteAsk:
    return RouteAsk(start_site, budget, teams, period)


RouteAskDep = Annotated[RouteAsk, Depends(route_ask)]


def _plan(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    cache: HotspotCache,
    networks: Any,
    principal: Principal,
    ask: RouteAsk,
) -> Any:
    chosen = ask.start_site
    if chosen is None:
        chosen = _default_start(store, principal.program_id)
    if chosen is None:
        raise InvalidParameter("this program has no service sites to start from; add one first")
    query = CleanupQuery(budget_min=ask.budget, teams=ask.teams, start_site=chosen,
                         period=ask.period)  # fmt: skip
    ctx = ProgramContext(Services(store, deployment, settings, cache, networks), principal)
    return plan_cleanup(ctx, query)


@router.get("/maps/cleanup")
async def cleanup_page(
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    networks: NetworksDep,
    ask: RouteAskDep,
    token: FormTokenDep,
    logged: Annotated[int | None, Query(ge=0, le=10_000)] = None,
) -> Response:
    def build() -> str:
        route = _plan(store, deployment, settings, cache, networks, principal, ask)
        answer = route_geojson(route, deployment, principal.role)
        sites = store.list_sites(principal.program_id)
        start_id = ask.start_site
        if start_id is None:
            start_id = _default_start(store, principal.program_id)
        options = "".join(
            f'<option value="{s.id}"{" selected" if s.id == start_id else ""}>'
            f"{html.escape(s.name)}</option>"
            for s in sites
        )
        form = (
            '<form method="get" action="/maps/cleanup">'
            f'<label>Start <select name="start_site">{options}</select></label> '
            + _select("budget", list(BUDGETS), f"{ask.budget:g}", "Minutes")
            + " "
            + _select("teams", list(TEAMS), str(ask.teams), "Teams")
            + ' <button type="submit">Plan</button></form>'
        )
        params = ask.params(start_id)
        links = (
            f'<a href="/maps/cleanup.gpx?{params}" download>GPX for phones</a> · '
            f'<a href="/maps/cleanup.geojson?{params}" download>GeoJSON</a>'
        )
        plural = "s" if ask.teams > 1 else ""
        title = f"Clean-up route: {ask.budget:g} min, {ask.teams} team{plural}"
        if logged is not None:
            title += f" (logged {logged} stops: this plan already counts them)"
        may_log = EventKind.CLEANUP.value in SUBMITTABLE_KINDS[principal.role]
        hidden = [("start_site", str(start_id)), ("budget", f"{ask.budget:g}"),
                  ("teams", str(ask.teams))]  # fmt: skip
        page = CleanupPage(
            title=title,
            bounds=_bounds(deployment),
            area=mapping(deployment.service_area),
            route=answer,
            sites=_sites(store, principal.program_id, deployment),
            header_html=_header(title, form, links, principal),
            log_form_action="/maps/cleanup/log" if may_log else "",
            hidden_fields=hidden,
        )
        return cleanup_map(page, tiles=_tiles(settings))

    return await _serve_map(build, settings, token)


@router.get("/maps/cleanup.{fmt}")
def cleanup_download(
    fmt: str,
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    networks: NetworksDep,
    ask: RouteAskDep,
) -> Response:
    if fmt not in ("gpx", "geojson"):
        raise InvalidParameter("route downloads are .gpx or .geojson")
    route = _plan(store, deployment, settings, cache, networks, principal, ask)
    if fmt == "gpx":
        return Response(
            route_gpx(route, deployment),
            media_type="application/gpx+xml",
            headers={"Content-Disposition": 'attachment; filename="cleanup-route.gpx"'},
        )
    return Response(
        orjson.dumps(route_geojson(route, deployment, principal.role)),
        media_type="application/geo+json",
        headers={"Content-Disposition": 'attachment; filename="cleanup-route.geojson"'},
    )


@router.post("/maps/cleanup/log")
async def cleanup_log_form(
    request: Request,
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> Response:
    """The route page's form: needles per stop; empty means the stop was not reached."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    bearer = request.headers.get("authorization") is not None
    if not bearer and not form_token_matches(session, sent if isinstance(sent, str) else None):
        return _form_refused()
    stop_ids = [str(v) for v in form.getlist("stop")]
    counts = [str(v).strip() for v in form.getlist("needles")]
    if len(stop_ids) != len(counts) or len(stop_ids) > 500:
        return _page(
            "<h1>Nothing was logged</h1><p>The form was incomplete.</p>", title="Log", status=400
        )
    if EventKind.CLEANUP.value not in SUBMITTABLE_KINDS[principal.role]:
        return _page(
            "<h1>Nothing was logged</h1><p>This role may not log clean-ups.</p>",
            title="Log",
            status=403,
        )
    stops = []
    for stop, text in zip(stop_ids, counts, strict=True):
        if text == "":
            continue
        if not text.isdigit() or int(text) > 10_000:
            return _page(
                "<h1>Nothing was logged</h1><p>Needles must be whole numbers from 0 to 10,000."
                ' <a href="/maps/cleanup">Back to the route</a>.</p>',
                title="Log",
                status=400,
            )
        stops.append((stop, int(text)))
    start = int(str(form.get("start_site"))) if str(form.get("start_site", "")).isdigit() else None
    back = RouteAsk(
        start,
        float(str(form.get("budget"))) if str(form.get("budget", "")).isdigit() else 90,
        int(str(form.get("teams"))) if str(form.get("teams", "")).isdigit() else 1,
        None,
    ).params(start)
    if not stops:
        return RedirectResponse(f"/maps/cleanup?{back}", status_code=303)
    now = dt.datetime.now(dt.UTC)
    try:
        ctx = ProgramContext(request.app.state.services, principal)
        await run_in_threadpool(log_cleanup, ctx, stops, now)
    except ServiceError as exc:
        return _page(
            f"<h1>Nothing was logged</h1><p>{html.escape(exc.detail)}</p>",
            title="Log",
            status=exc.status,
        )
    return RedirectResponse(f"/maps/cleanup?{back}&logged={len(stops)}", status_code=303)
