"""Browser maps for managers and planners: coverage gaps (``/maps/coverage``) and siting
(``/maps/siting``). Same sign-in, page building and policy as the other maps."""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from shapely.geometry import mapping
from starlette.responses import Response

from geo_service.auth import Role
from geo_service.context import DeploymentDep, HotspotCacheDep, NetworksDep, SettingsDep, StoreDep
from geo_service.errors import Forbidden
from geo_service.ingest.sites import Service
from geo_service.services.candidates import zone_shapes
from geo_service.services.coverage import CoverageQuestion, coverage_report, hours_open
from geo_service.services.demand import DEMAND_KINDS
from geo_service.services.program import ProgramContext, Services
from geo_service.services.siting import (
    DEFAULT_WEIGHTS,
    LockerQuestion,
    RankingQuestion,
    consumption_suitability,
    site_lockers,
)
from geo_service.services.walking import catchment_shapes
from geo_service.settings import EventKind
from geo_service.web.pages import (
    KIND_WORDS,
    FormTokenDep,
    ViewerDep,
    _bounds,
    _header,
    _select,
    _serve_map,
    _tiles,
)
from maps.coverage import CoveragePage, coverage_map, hour_table
from maps.siting import SitingPage, siting_map

router = APIRouter(include_in_schema=False)
MINUTES = ("5", "10", "15")
SITING_ROLES = frozenset({Role.PLANNER, Role.MANAGER, Role.STEWARD})
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@router.get("/maps/coverage")
async def coverage_page(
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    networks: NetworksDep,
    token: FormTokenDep,
    service: Service = Service.NALOXONE,
    kind: Annotated[EventKind, Query()] = EventKind.OVERDOSE,
    minutes: Annotated[float, Query(gt=0, le=60)] = 10,
    hour: Annotated[int | None, Query(ge=0, lt=168)] = None,
    period: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    if kind not in DEMAND_KINDS:
        kind = EventKind.OVERDOSE

    def build() -> str:
        ctx = ProgramContext(Services(store, deployment, settings, cache, networks), principal)
        question = CoverageQuestion(service, [minutes], [kind], period, 300)
        report = coverage_report(ctx, question).to_json()
        (result,) = report["results"]
        sites = {s.id: s for s in store.list_sites(principal.program_id)}
        offering = [sites[s["id"]] for s in report["sites"]]
        shapes = catchment_shapes(ctx, [(s.lon, s.lat) for s in offering], minutes, kind)
        catchments = []
        for site, shape in zip(offering, shapes, strict=True):
            hours = hours_open(site.opening_hours)
            is_open = hours is not None and (hour is None or hours[hour] > 0)
            catchments.append(
                {
                    "name": site.name,
                    "open": is_open,
                    "geometry": shape,
                    "lon": site.lon,
                    "lat": site.lat,
                    "hours": site.opening_hours,
                }
            )
        query = {"service": service.value, "kind": kind.value, "minutes": f"{minutes:g}"}
        if period:
            query["period"] = period
        link = "/maps/coverage?" + urlencode(query)
        when = "any hour" if hour is None else f"{DAY_NAMES[hour // 24]} {hour % 24:02d}:00"
        share = result["share_open"]
        anytime = result["share_anytime"]
        title = f"Where {service.value.replace('_', ' ')} does not reach {KIND_WORDS[kind]}"
        note = (
            f"{report['window'].capitalize()}: "
            + (
                "too few events to show shares. "
                if share is None
                else f"{100 * share:.0f}% of {KIND_WORDS[kind]} happened within {minutes:g} min of "
                f"a site open at that hour; {100 * anytime:.0f}% if hours did not matter. "
            )
            + f"Catchments shown: sites open at {when}. {_sentence(report['routing']['note'])}."
        )
        form = (
            '<form method="get" action="/maps/coverage">'
            + _select("service", [s.value for s in Service], service.value, "Service")
            + " "
            + _select("kind", [k.value for k in DEMAND_KINDS], kind.value, "Events")
            + " "
            + _select("minutes", list(MINUTES), f"{minutes:g}", "Minutes")
            + " "
            + (
                f'<input type="hidden" name="period" value="{html.escape(period)}">'
                if period
                else ""
            )
            + '<button type="submit">Show</button></form>'
        )
        links = f'<a href="{html.escape(link)}">All hours</a>' if hour is not None else ""
        page = CoveragePage(
            title=f"{title} ({when})",
            bounds=_bounds(deployment),
            area=mapping(deployment.service_area),
            result=result,
            catchments=catchments,
            header_html=_header(title, form, links, principal),
            note=note + (" " + " ".join(report["warnings"]) if report["warnings"] else ""),
        )
        return coverage_map(
            page, tiles=_tiles(settings), table_html=hour_table(result["by_hour"], hour, link)
        )

    return await _serve_map(build, settings, token)


@router.get("/maps/siting")
async def siting_page(
    store: StoreDep,
    principal: ViewerDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    networks: NetworksDep,
    token: FormTokenDep,
    p: Annotated[int, Query(ge=1, le=20)] = 3,
    minutes: Annotated[float, Query(gt=0, le=60)] = 10,
    service: Service = Service.NEEDLES,
    period: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    def build() -> str:
        if principal.role not in SITING_ROLES:
            raise Forbidden("siting is for planners and managers")
        ctx = ProgramContext(Services(store, deployment, settings, cache, networks), principal)
        ask = LockerQuestion(service, minutes, p, None, "24/7", list(DEMAND_KINDS), period, 5.0)
        lockers = site_lockers(ctx, ask).to_json()
        ranking = consumption_suitability(
            ctx, RankingQuestion(dict(DEFAULT_WEIGHTS), period)
        ).to_json()
        chosen = lockers.get("chosen", [])
        places = [(c["lon"], c["lat"]) for c in chosen]
        shapes = catchment_shapes(ctx, places, minutes, EventKind.NEEDLE_REPORT)
        catchments: list[dict[str, Any]] = [
            {"name": f"Locker #{c['rank']}: {c['name']}", "geometry": s}
            for c, s in zip(chosen, shapes, strict=True)
        ]
        form = (
            '<form method="get" action="/maps/siting">'
            + _select("p", [str(n) for n in range(1, 11)], str(p), "Lockers")
            + " "
            + _select("minutes", list(MINUTES), f"{minutes:g}", "Minutes")
            + " "
            + _select("service", [s.value for s in Service], service.value, "Holding")
            + ' <button type="submit">Place</button></form>'
        )
        title = f"{p} new 24/7 {service.value.replace('_', ' ')} lockers, {lockers['window']}"
        page = SitingPage(
            title=title,
            bounds=_bounds(deployment),
            area=mapping(deployment.service_area),
            lockers=lockers,
            catchments=catchments,
            exclusions=zone_shapes(ctx),
            ranking=ranking,
            header_html=_header(title, form, "", principal),
        )
        return siting_map(page, tiles=_tiles(settings))

    return await _serve_map(build, settings, token)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
