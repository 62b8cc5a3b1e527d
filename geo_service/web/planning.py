"""Browser maps for managers and planners: coverage gaps (``/maps/coverage``) and siting
(``/maps/siting``). Same sign-in, page building and policy as the other maps."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from pydantic import Field
from shapely.geometry import mapping
from starlette.responses import Response

from geo_service.auth import Action
from geo_service.errors import Forbidden
from geo_service.ingest.sites import Service
from geo_service.params import Ask
from geo_service.services.candidates import zone_shapes
from geo_service.services.coverage import (
    CoverageQuestion,
    CoverageReport,
    CoverageResult,
    coverage_report,
    hours_open,
)
from geo_service.services.demand import DEMAND_KINDS
from geo_service.services.program import ProgramContext
from geo_service.services.siting import LockerPlan, LockerQuestion, site_lockers
from geo_service.services.suitability import (
    DEFAULT_WEIGHTS,
    Ranking,
    RankingQuestion,
    consumption_suitability,
)
from geo_service.services.walking import catchment_shapes
from geo_service.settings import EventKind
from geo_service.storage import StoredSite
from geo_service.web.pages import (
    KIND_WORDS,
    HeaderForm,
    Link,
    bounds,
    header,
    map_tiles,
    select,
    serve_map,
)
from geo_service.web.session import FormTokenDep, ViewerContext
from maps.coverage import CoveragePage, coverage_map, hour_table
from maps.language import N_
from maps.records import (
    Catchment,
    Criterion,
    GapCell,
    HourShares,
    LeftOut,
    Locker,
    LockerSummary,
    RankedSite,
    Shape,
)
from maps.siting import SitingPage, siting_map

router = APIRouter(include_in_schema=False)
MINUTES = ("5", "10", "15")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


MAP_CANDIDATES = 100  # drawn and listed on the siting map, best first


class CoverageMapAsk(Ask):
    service: Service = Service.NALOXONE
    kind: EventKind = EventKind.OVERDOSE  # a kind that is not demand shows overdoses
    minutes: float = Field(10, gt=0, le=60)
    hour: int | None = Field(None, ge=0, lt=168)  # of the week, from Monday 00:00
    period: str | None = Field(None, max_length=10)


class SitingMapAsk(Ask):
    p: int = Field(3, ge=1, le=20)
    minutes: float = Field(10, gt=0, le=60)
    service: Service = Service.NEEDLES
    period: str | None = Field(None, max_length=10)


# -- coverage gaps ---------------------------------------------------------------------------


def _coverage(ctx: ProgramContext, ask: CoverageMapAsk, kind: EventKind) -> CoverageReport:
    question = CoverageQuestion(ask.service, [ask.minutes], [kind], ask.period, 300)
    return coverage_report(ctx, question)


def _catchments(
    ctx: ProgramContext, ask: CoverageMapAsk, kind: EventKind, offering: list[StoredSite]
) -> list[Catchment]:
    """Each offering site's walking catchment, and whether it is open at the chosen hour."""
    points = [(s.lon, s.lat) for s in offering]
    shapes = catchment_shapes(ctx, points, ask.minutes, kind)
    catchments = []
    for site, shape in zip(offering, shapes, strict=True):
        hours = hours_open(site.opening_hours)
        is_open = hours is not None and (ask.hour is None or hours[ask.hour] > 0)
        catchments.append(
            Catchment(site.name, shape, site.lon, site.lat, is_open, site.opening_hours)
        )
    return catchments


def _gaps(result: CoverageResult) -> list[GapCell]:
    """The uncovered cells as the answer shows them, shaded by their uncovered events (or,
    for peers and planners, their released count)."""
    gaps = []
    for gap in result.gaps:
        shown = gap.shown()
        shade = float(shown.get("uncovered_events", shown["events"]) or 0)
        gaps.append(GapCell(gap.geometry, gap.rank, shade, tuple(shown.items())))
    return gaps


def _coverage_note(report: CoverageReport, ask: CoverageMapAsk, kind: EventKind, when: str) -> str:
    (result,) = report.results
    share, anytime = result.share_open, result.share_anytime
    shares = (
        "too few events to show shares. "
        if share is None or anytime is None
        else f"{100 * share:.0f}% of {KIND_WORDS[kind]} happened within {ask.minutes:g} min of "
        f"a site open at that hour; {100 * anytime:.0f}% if hours did not matter. "
    )
    note = (
        f"{report.window.label.capitalize()}: {shares}"
        f"Catchments shown: sites open at {when}. {_sentence(report.routing.note)}."
    )
    return note + (" " + " ".join(report.warnings) if report.warnings else "")


def _coverage_form(ask: CoverageMapAsk, kind: EventKind) -> HeaderForm:
    selects = [
        select("service", [s.value for s in Service], ask.service.value, N_("Service")),
        select("kind", [k.value for k in DEMAND_KINDS], kind.value, N_("Events")),
        select("minutes", MINUTES, f"{ask.minutes:g}", N_("Minutes")),
    ]
    hidden = [("period", ask.period)] if ask.period else []
    return HeaderForm("/maps/coverage", selects, hidden=hidden)


def _coverage_link(ask: CoverageMapAsk, kind: EventKind) -> str:
    """This map at any hour: the hour table adds ``&hour=`` to it."""
    query = {"service": ask.service.value, "kind": kind.value, "minutes": f"{ask.minutes:g}"}
    if ask.period:
        query["period"] = ask.period
    return "/maps/coverage?" + urlencode(query)


@router.get("/maps/coverage")
async def coverage_page(
    request: Request,
    ctx: ViewerContext,
    ask: Annotated[CoverageMapAsk, Query()],
    token: FormTokenDep,
) -> Response:
    kind = ask.kind if ask.kind in DEMAND_KINDS else EventKind.OVERDOSE

    def build() -> str:
        report = _coverage(ctx, ask, kind)
        (result,) = report.results
        catchments = _catchments(ctx, ask, kind, report.sites)
        link = _coverage_link(ask, kind)
        hour = ask.hour
        when = "any hour" if hour is None else f"{DAY_NAMES[hour // 24]} {hour % 24:02d}:00"
        title = f"Where {ask.service.value.replace('_', ' ')} does not reach {KIND_WORDS[kind]}"
        links = [Link(link, N_("All hours"))] if hour is not None else []
        page = CoveragePage(
            title=f"{title} ({when})",
            bounds=bounds(ctx.deployment),
            area=mapping(ctx.deployment.service_area),
            minutes=result.minutes,
            gaps=_gaps(result),
            catchments=catchments,
            header_html=header(title, _coverage_form(ask, kind), links, ctx.role),
            note=_coverage_note(report, ask, kind, when),
            basis=report.basis.note(),
        )
        by_hour = HourShares(result.by_hour.share_open, result.by_hour.note)
        table = hour_table(by_hour, hour, link)
        return coverage_map(page, tiles=map_tiles(ctx), table_html=table)

    return await serve_map(request, build, ctx.settings, token)


# -- siting ----------------------------------------------------------------------------------


def _lockers(ctx: ProgramContext, ask: SitingMapAsk) -> LockerPlan:
    lockers = LockerQuestion(
        ask.service, ask.minutes, ask.p, None, "24/7", list(DEMAND_KINDS), ask.period, 5.0
    )
    return site_lockers(ctx, lockers)


def _ranking(ctx: ProgramContext, ask: SitingMapAsk) -> Ranking:
    return consumption_suitability(ctx, RankingQuestion(dict(DEFAULT_WEIGHTS), ask.period))


def _adds(plan: LockerPlan, events: float) -> str:
    amount = plan.amount(events)
    share = amount["share_of_events"]
    return amount.get("note", "") if share is None else f"{100 * share:.1f}% of events"


def _locker_summary(plan: LockerPlan) -> LockerSummary:
    """The chosen lockers, and coverage before and after, as the answer shows them."""
    question, choice = plan.question, plan.choice
    chosen = [] if choice is None else choice.sites
    return LockerSummary(
        minutes=question.minutes,
        opening_hours=question.opening_hours,
        coverage_before=None if choice is None else choice.coverage_before,
        coverage_after=None if choice is None else choice.coverage_after,
        chosen=[Locker(s.rank, s.place.name, _adds(plan, s.adds)) for s in chosen],
        reason=plan.reason if choice is None else None,
    )


def _ranked(ranking: Ranking) -> list[RankedSite]:
    """The ranking as the answer shows it (scores to 3 decimals, values cut to the role)."""
    return [
        RankedSite(
            rank=r.rank,
            name=r.place.name,
            lon=r.place.position[0],
            lat=r.place.position[1],
            score=round(r.score, 3),
            criteria=[
                Criterion(c.name, ranking.shown(c), c.weight, round(c.contribution, 3))
                for c in r.criteria
            ],
        )
        for r in ranking.ranked
    ]


def _top(ranked: list[RankedSite], plan: LockerPlan) -> list[RankedSite]:
    """The best-ranked candidates and every chosen locker: with no candidates loaded every
    busy grid cell is one, and a city's thousands made a 20 MB page."""
    chosen = {s.place.name for s in plan.choice.sites} if plan.choice else set()
    return [r for n, r in enumerate(ranked) if n < MAP_CANDIDATES or r.name in chosen]


def _left_out(ranking: Ranking) -> list[LeftOut]:
    return [
        LeftOut(e.place.name, *e.place.position, e.reason) for e in ranking.candidates.left_out()
    ]


def _locker_catchments(ctx: ProgramContext, ask: SitingMapAsk, plan: LockerPlan) -> list[Shape]:
    chosen = [] if plan.choice is None else plan.choice.sites
    points = [c.place.position for c in chosen]
    shapes = catchment_shapes(ctx, points, ask.minutes, EventKind.NEEDLE_REPORT)
    return [
        Shape(f"Locker #{c.rank}: {c.place.name}", s) for c, s in zip(chosen, shapes, strict=True)
    ]


@router.get("/maps/siting")
async def siting_page(
    request: Request, ctx: ViewerContext, ask: Annotated[SitingMapAsk, Query()], token: FormTokenDep
) -> Response:
    def build() -> str:
        # Refused inside the page, so a peer sees why in the browser rather than a bare 403.
        if not ctx.principal.may(Action.SITE_LOCKERS):
            raise Forbidden("siting is for planners and managers")
        lockers = _lockers(ctx, ask)
        ranking = _ranking(ctx, ask)
        form = HeaderForm(
            "/maps/siting",
            [
                select("p", [str(n) for n in range(1, 11)], str(ask.p), N_("Lockers")),
                select("minutes", MINUTES, f"{ask.minutes:g}", N_("Minutes")),
                select("service", [s.value for s in Service], ask.service.value, N_("Holding")),
            ],
            button=N_("Place"),
        )
        service = ask.service.value.replace("_", " ")
        title = f"{ask.p} new 24/7 {service} lockers, {lockers.window.label}"
        page = SitingPage(
            title=title,
            bounds=bounds(ctx.deployment),
            area=mapping(ctx.deployment.service_area),
            lockers=_locker_summary(lockers),
            catchments=_locker_catchments(ctx, ask, lockers),
            exclusions=[Shape(name, geometry) for name, geometry in zone_shapes(ctx)],
            ranking=_top(_ranked(ranking), lockers),
            excluded=_left_out(ranking),
            header_html=header(title, form, [], ctx.role),
            basis=lockers.basis.note(),
        )
        return siting_map(page, tiles=map_tiles(ctx))

    return await serve_map(request, build, ctx.settings, token)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
