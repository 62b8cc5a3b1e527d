"""The emerging hot-spot map (``/maps/emerging``): the same answer as
``/v1/hotspots?method=emerging`` for the viewer's role, each square coloured by how it changed
over the latest months (managers and stewards may also choose weeks).

Peers' and planners' maps are built from the monthly releases alone, like their answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

import orjson
from fastapi import APIRouter, Request
from shapely.geometry import mapping
from starlette.responses import Response

from analysis.emerging import Pattern
from geo_service.services.basis import Basis
from geo_service.services.deadline import answer_within
from geo_service.services.hotspots.cube import TimeStep
from geo_service.services.hotspots.emerging import EmergingQuery, emerging_answer
from geo_service.services.program import ProgramContext
from geo_service.settings import EventKind
from geo_service.web.pages import (
    HeaderForm,
    Link,
    Select,
    bounds,
    header,
    kind_words,
    map_tiles,
    serve_map,
    sites_for_map,
)
from geo_service.web.session import FormTokenDep, ViewerContext
from maps.emerging import EmergingCell, EmergingPage, emerging_map
from maps.language import N_, _
from maps.words import MONTH_LEAVES_OUT, window_words

router = APIRouter(include_in_schema=False)
STEP_WORDS = {TimeStep.MONTH: N_("month by month"), TimeStep.WEEK: N_("week by week")}
PATTERN_OF_CODE = {f"{p.name.lower()}_spot": p for p in Pattern}


def _answer(ctx: ProgramContext, kind: EventKind, time_step: TimeStep) -> dict[str, Any]:
    query = EmergingQuery(kind=kind, time_step=time_step)
    body, _cached = answer_within(
        ctx.settings.analysis_seconds, lambda: emerging_answer(ctx, query)
    )
    return cast(dict[str, Any], orjson.loads(body))


def _window(ctx: ProgramContext, summary: Mapping[str, Any]) -> str:
    """The answer's window in the page's language."""
    tz = ctx.deployment.tz
    start, end = (dt.datetime.fromisoformat(t).astimezone(tz) for t in summary["datetime"])
    return window_words(start.date(), (end - dt.timedelta(seconds=1)).date())


def _basis(summary: Mapping[str, Any], window: str) -> Basis:
    basis = summary["basis"]
    released = basis["reports_released"]
    of = released if released is not None else basis["reports_in_window"]
    busiest_only = MONTH_LEAVES_OUT in str(basis["words"])  # the answer's words are English
    return Basis(
        int(basis["reports_used"]), int(of or 0), released is not None, window, busiest_only
    )


def _details(properties: Mapping[str, Any]) -> str:
    return _("hot in {hot} percent of the steps; trend z = {z} (p = {p})").format(
        hot=round(100 * float(properties["hot_share"])),
        z=f"{float(properties['trend_z']):.2f}",
        p=f"{float(properties['trend_p']):.3f}",
    )


def _cells(answer: Mapping[str, Any], details: bool) -> list[EmergingCell]:
    return [
        EmergingCell(
            f["geometry"],
            PATTERN_OF_CODE[f["properties"]["pattern"]],
            _details(f["properties"]) if details else None,
        )
        for f in answer["features"]
    ]


def _page(ctx: ProgramContext, kind: EventKind, time_step: TimeStep) -> EmergingPage:
    answer = _answer(ctx, kind, time_step)
    summary = answer["summary"]
    window = _window(ctx, summary)
    title = _("How places changed: {kind}, {window}").format(kind=kind_words(kind), window=window)
    selects = []
    if ctx.full_view:
        options = [(step.value, _(STEP_WORDS[step])) for step in TimeStep]
        selects.append(Select("time_step", N_("Steps"), options, time_step.value))
    form = HeaderForm("/maps/emerging", selects, hidden=[("kind", kind.value)])
    links = [Link(f"/maps/hotspots?kind={kind.value}", N_("Hot spots"))]
    if ctx.full_view:
        note = _("Manager view: every report counts.")
    else:
        note = _("Built from the published months only; quiet squares look empty.")
    return EmergingPage(
        title=title,
        bounds=bounds(ctx.deployment),
        area=mapping(ctx.deployment.service_area),
        cells=_cells(answer, ctx.full_view),
        sites=sites_for_map(ctx),
        header_html=header(title, form, links, ctx.role),
        note=note,
        details=ctx.full_view,
        basis=_basis(summary, window).note(),
    )


@router.get("/maps/emerging")
async def emerging_page(
    request: Request,
    ctx: ViewerContext,
    token: FormTokenDep,
    kind: EventKind = EventKind.NEEDLE_REPORT,
    time_step: TimeStep = TimeStep.MONTH,
) -> Response:
    def build() -> str:
        # Weeks below manager level are refused by the answer itself, saying why.
        return emerging_map(_page(ctx, kind, time_step), tiles=map_tiles(ctx))

    return await serve_map(request, build, ctx.settings, token)
