"""What every map page shares: its header (title, form, downloads, sign-out), tiles, the
Content-Security-Policy of the page as built, and serving a page off the event loop; and the
maps index. Pages carry only what the viewer's role may see (released cells for peers and
planners) and load nothing from other hosts."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import opening_hours
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from geo_service.auth import Action, Role
from geo_service.deployment import Deployment
from geo_service.errors import ServiceError, as_service_error
from geo_service.i18n import SwitchLink, language_of, switch_links
from geo_service.security import CONTENT_SECURITY_POLICY
from geo_service.services.alerts.banner import index_alerts
from geo_service.services.program import ProgramContext
from geo_service.settings import EventKind, Settings
from geo_service.web.session import FormTokenDep, ViewerContext
from geo_service.web.shell import message, page, render, token_field
from geo_service.web.streets import streets_url
from maps.base import CSRF_SLOT, Tiles, inline_script_hashes
from maps.language import N_, _, current_language
from maps.records import Site

router = APIRouter(include_in_schema=False)

KIND_WORDS = {  # English messages: shown through _()
    EventKind.NEEDLE_REPORT: N_("needle reports"),
    EventKind.OVERDOSE: N_("overdoses"),
    EventKind.CLEANUP: N_("clean-ups"),
}

ROLE_WORDS = {
    Role.PEER: N_("peer"),
    Role.PLANNER: N_("planner"),
    Role.MANAGER: N_("manager"),
    Role.STEWARD: N_("steward"),
}


def kind_words(kind: EventKind) -> str:
    return _(KIND_WORDS[kind])


# -- the header above a map ------------------------------------------------------------------


@dataclass(frozen=True)
class Select:
    """A drop-down of ``(value, shown)`` options, or of named groups of them."""

    name: str
    label: str
    options: Sequence[tuple[str, str]]
    chosen: str
    groups: Sequence[tuple[str, Sequence[tuple[str, str]]]] = ()


def select(name: str, values: Sequence[str], chosen: str, label: str) -> Select:
    """A drop-down whose options show their own values."""
    return Select(name, label, [(v, v) for v in values], chosen)


@dataclass(frozen=True)
class HeaderForm:
    """The page's own GET form: change the period, the year, the minutes..."""

    action: str
    selects: Sequence[Select]
    hidden: Sequence[tuple[str, str]] = ()
    button: str = N_("Show")


@dataclass(frozen=True)
class Link:
    href: str
    words: str
    download: bool = False


def _spoken(form: HeaderForm) -> HeaderForm:
    """The form with its labels and button in the language being spoken."""
    selects = [dataclasses.replace(s, label=_(s.label)) for s in form.selects]
    return dataclasses.replace(form, selects=selects, button=_(form.button))


def _switch(form: HeaderForm | None) -> list[SwitchLink]:
    """The language switch of a map: the same map (the form's own values, never the
    request's address, so a cached page carries nobody's query) in each language."""
    if form is None:
        return switch_links(current_language(), "/maps")
    chosen = [(s.name, s.chosen) for s in form.selects]
    return switch_links(current_language(), form.action, [*form.hidden, *chosen])


def header(
    title: str, form: HeaderForm | None, links: Sequence[Link], role: Role, chart: str = ""
) -> str:
    """The header's HTML, in the language being spoken (``title`` comes translated; labels,
    the button and link words are English messages translated here); every value in it is
    escaped by the template, except ``chart``: an SVG the server drew from numbers
    (:func:`maps.band_chart.band_chart`)."""
    return render(
        "header.html",
        current_language(),
        title=title,
        form=_spoken(form) if form else None,
        links=[dataclasses.replace(link, words=_(link.words)) for link in links],
        role=_(ROLE_WORDS.get(role, role.value)),
        chart=chart,
        switch=_switch(form),
    )


# -- building and serving a map --------------------------------------------------------------


def tiles(settings: Settings) -> Tiles:
    if settings.map_tiles.lower() == "none":
        return Tiles(None)
    return Tiles(settings.map_tiles, settings.map_tiles_attribution)


def map_tiles(ctx: ProgramContext) -> Tiles:
    """The base map of the viewer's program: the deployment's tiles, and its streets for
    when tiles are off or fail."""
    return dataclasses.replace(tiles(ctx.settings), streets=streets_url(ctx))


def bounds(deployment: Deployment) -> tuple[float, float, float, float]:
    west, south, east, north = deployment.service_area.bounds
    return (round(west, 5), round(south, 5), round(east, 5), round(north, 5))


def csp(built: str, settings: Settings) -> str:
    """The policy of one page: its own inline scripts by hash, the tile host's images."""
    scripts = " ".join(inline_script_hashes(built))
    policy = CONTENT_SECURITY_POLICY.replace("script-src 'self'", f"script-src 'self' {scripts}")
    url = tiles(settings).url
    if url:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"  # {s}: any subdomain
        policy = policy.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")
    return policy


def with_token(built: str, token: str) -> str:
    # Escaped user text cannot contain "<input", so only our own forms' slots match.
    return built.replace(CSRF_SLOT, token_field(token))


async def serve_map(
    request: Request, build: Callable[[], str], settings: Settings, token: str
) -> HTMLResponse:
    """Build a page off the event loop; a refusal becomes a plain page saying why. The
    policy hashes the page as built: filling its form token touches no script."""
    try:
        built = await run_in_threadpool(build)
    except (ServiceError, ValueError) as exc:
        refusal = exc if isinstance(exc, ServiceError) else as_service_error(exc)
        if refusal is None:
            raise
        refused = message(
            request,
            N_("This map cannot be shown"),
            refusal.detail,
            title=N_("Map"),
            status=refusal.status,
            back=("/maps", N_("Back to the maps")),
        )
        refused.headers.update(refusal.headers)
        return refused
    response = HTMLResponse(with_token(built, token))
    response.headers["Content-Security-Policy"] = csp(built, settings)
    return response


def _hours_today(hours: str, today: dt.datetime) -> str:
    spans = [
        f"{start:%H:%M}-{'24:00' if end.day != start.day else f'{end:%H:%M}'}"
        for start, end, state, _ in opening_hours.OpeningHours(hours).intervals(
            today, today + dt.timedelta(days=1)
        )
        if str(state).endswith("OPEN")
    ]
    return ", ".join(spans) if spans else _("closed")


def sites_for_map(ctx: ProgramContext) -> list[Site]:
    """The program's service sites with today's opening hours, for the map's site layer."""
    now = dt.datetime.fromtimestamp(ctx.now, ctx.deployment.tz)
    today = now.replace(tzinfo=None, hour=0, minute=0, second=0)
    return [
        Site(
            name=site.name,
            services=list(site.services),
            lon=site.lon,
            lat=site.lat,
            today=_hours_today(site.opening_hours, today) if site.opening_hours else None,
        )
        for site in ctx.store.list_sites(ctx.program_id)
    ]


# -- the index -------------------------------------------------------------------------------


@router.get("/maps")
def maps_index(request: Request, ctx: ViewerContext, token: FormTokenDep) -> Response:
    """The maps this viewer can open: a page that would only refuse them is not offered
    (the page itself still answers 403). Above them, the open sent alerts in the viewer's
    view; managers and stewards also read how many drafts wait for them."""
    kinds = [(kind.value, kind_words(kind)) for kind in KIND_WORDS]
    siting = ctx.principal.may(Action.SITE_LOCKERS)
    alerts = index_alerts(
        ctx.store,
        ctx.settings,
        ctx.program_id,
        role=ctx.role,
        language=language_of(request),
        now=ctx.now,
    )
    return page(
        request,
        "index.html",
        title=N_("Maps"),
        program=ctx.principal.program,
        kinds=kinds,
        siting=siting,
        token=token,
        alerts=alerts,
    )
