"""The trends map (``/maps/trends``): a year's finished months, one layer each, behind a
slider. Managers and stewards see every cell of a month; peers and planners see its release."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request
from shapely.geometry import mapping
from starlette.responses import Response

from geo_service.errors import InvalidParameter
from geo_service.geojson import polygon
from geo_service.periods import Period, is_published, parse_period
from geo_service.services.basis import Basis, base_basis, combined, full_basis
from geo_service.services.hotspots import HotspotQuery, Method, load_cells
from geo_service.services.program import ProgramContext
from geo_service.services.publication import AUDIENCE_OF_ROLE
from geo_service.services.releases import get_release, grace_days
from geo_service.settings import EventKind
from geo_service.web.pages import (
    HeaderForm,
    bounds,
    header,
    kind_words,
    map_tiles,
    select,
    serve_map,
    sites_for_map,
)
from geo_service.web.period_choices import offered_years
from geo_service.web.session import FormTokenDep, ViewerContext
from maps.language import N_, _
from maps.records import BasisNote, CountCell, Month
from maps.trends import TrendPage, trend_map
from maps.words import period_words

router = APIRouter(include_in_schema=False)


def _every_cell(
    ctx: ProgramContext, kind: EventKind, period: Period
) -> tuple[list[CountCell], Basis]:
    """Managers and stewards: every cell of the month, with its count."""
    deployment = ctx.deployment
    query = HotspotQuery(
        kind=kind,
        method=Method.GI_STAR,
        cell_m=deployment.cell_m(kind),
        start=period.start,
        end=period.end,
    )
    cells = load_cells(ctx.store, deployment, ctx.program_id, query)
    rings = deployment.cell_rings(cells.ix, cells.iy, cells.cell_m)
    drawn = [CountCell(polygon(ring), int(n)) for ring, n in zip(rings, cells.count, strict=True)]
    return drawn, full_basis(cells.total, cells.total, period.label)


def _released_cells(
    ctx: ProgramContext, kind: EventKind, period: Period
) -> tuple[list[CountCell], Basis]:
    """Peers and planners: the month's frozen release."""
    release = get_release(
        ctx.store,
        ctx.deployment,
        ctx.settings,
        program_id=ctx.program_id,
        kind=kind,
        period=period,
        now=ctx.now,
    )
    sizes = [release.cell_m << f.level for f in release.features]
    rings = ctx.deployment.cell_rings(
        np.array([f.ix for f in release.features], dtype=np.int64),
        np.array([f.iy for f in release.features], dtype=np.int64),
        np.array(sizes, dtype=np.float64),
    )
    drawn = [
        CountCell(polygon(ring), f.count, rolled_up=f.level > 0)
        for f, ring in zip(release.features, rings, strict=True)
    ]
    return drawn, base_basis(release, period.label)


def _months(ctx: ProgramContext, kind: EventKind, year: int) -> tuple[list[Month], BasisNote]:
    """The year's months that are published for this viewer, in order, and what share of
    their reports the squares of their stored size hold."""
    choice = ctx.store.publication(ctx.program_id)
    full_view = AUDIENCE_OF_ROLE.get(ctx.role) is None
    wait_days = 0 if full_view else grace_days(choice)
    months: list[Month] = []
    bases: list[Basis] = []
    for month in range(1, 13):
        label = f"{year}-{month:02d}"
        period = parse_period(label, ctx.deployment)
        if not is_published(period, now=ctx.now, grace_days=wait_days):
            break
        if not full_view and choice.bucket == "quarter":
            raise InvalidParameter("this program publishes by quarter, not by month")
        cells, basis = (_every_cell if full_view else _released_cells)(ctx, kind, period)
        months.append(Month(label, cells))
        bases.append(basis)
    if not months:
        raise InvalidParameter("no month of that year has finished yet")
    shown = f"{period_words(months[0].label)} to {period_words(months[-1].label)}"
    return months, replace(combined(bases), window=shown).note()


@router.get("/maps/trends")
async def trends_page(
    request: Request,
    ctx: ViewerContext,
    token: FormTokenDep,
    kind: EventKind = EventKind.NEEDLE_REPORT,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    now = dt.datetime.fromtimestamp(ctx.now, ctx.deployment.tz)
    chosen = year or (now.year if now.month > 1 else now.year - 1)

    def build() -> str:
        full_view = AUDIENCE_OF_ROLE.get(ctx.role) is None
        title = _("{kind} month by month, {year}").format(
            kind=kind_words(kind).capitalize(), year=chosen
        )
        years = offered_years(ctx, kind, chosen)
        form = HeaderForm(
            "/maps/trends",
            [select("year", years, str(chosen), N_("Year"))],
            hidden=[("kind", kind.value)],
        )
        months, basis = _months(ctx, kind, chosen)
        page = TrendPage(
            title=title,
            bounds=bounds(ctx.deployment),
            area=mapping(ctx.deployment.service_area),
            months=months,
            sites=sites_for_map(ctx),
            header_html=header(title, form, [], ctx.role),
            note=_("Move the slider, or step with its ‹ and › buttons.")
            + " "
            + (_("Manager view: every square.") if full_view else _("Quiet squares look empty.")),
            basis=basis,
        )
        return trend_map(page, tiles=map_tiles(ctx))

    return await serve_map(request, build, ctx.settings, token)
