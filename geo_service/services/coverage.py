"""Coverage gaps: where and at which hours of the week a service fails to reach events.

Managers and stewards see event counts. Peers and planners see shares only where at least k
events stand behind them, and gap cells only among the released cells of a finished period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import opening_hours

from analysis.coverage import HOURS_OF_WEEK, Coverage, coverage, walk_limit_m
from analysis.projection import to_metres
from geo_service.errors import Unprocessable
from geo_service.geojson import Feature, Geometry, polygon
from geo_service.ingest.sites import Service
from geo_service.services.basis import Basis, combined
from geo_service.services.demand import (
    Demand,
    ReleasedCells,
    Window,
    demand_seen,
    resolve_window,
)
from geo_service.services.program import ProgramContext
from geo_service.services.walking import Routing, reach, walking
from geo_service.settings import EventKind
from geo_service.storage import StoredSite

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
REFERENCE_MONDAY = dt.datetime(2024, 1, 1)  # a week without public holidays in most places
FloatArray = npt.NDArray[np.float64]
WeekTable = list[list[float | None]]  # 7 days x 24 hours


def hours_open(text: str | None) -> FloatArray | None:
    """Share of each hour of the week a site is open (168 values), from OSM syntax, or None
    when its hours are unknown."""
    if not text:
        return None
    share = np.zeros(HOURS_OF_WEEK)
    end = REFERENCE_MONDAY + dt.timedelta(days=7)
    for start, stop, state, _ in opening_hours.OpeningHours(text).intervals(REFERENCE_MONDAY, end):
        if state != opening_hours.State.OPEN:
            continue
        t = start
        while t < stop:
            hour = (t - REFERENCE_MONDAY) // dt.timedelta(hours=1)
            nxt = min(stop, REFERENCE_MONDAY + dt.timedelta(hours=hour + 1))
            share[int(hour)] += (nxt - t) / dt.timedelta(hours=1)
            t = nxt
    return np.clip(share, 0.0, 1.0)


@dataclass(frozen=True)
class SitesOffering:
    """The program's sites that offer a service, where they are and when they are open."""

    sites: list[StoredSite]
    x: FloatArray
    y: FloatArray
    open_share: FloatArray  # (sites, 168)
    warnings: list[str]

    @property
    def xy(self) -> tuple[FloatArray, FloatArray]:
        return self.x, self.y


def sites_offering(ctx: ProgramContext, service: Service) -> SitesOffering:
    sites = [s for s in ctx.store.list_sites(ctx.program_id) if service.value in s.services]
    warnings, hours = [], []
    for site in sites:
        share = hours_open(site.opening_hours)
        if share is None:
            warnings.append(
                f"{site.name} has no opening hours: it counts only in 'open anytime'. "
                "Add its hours with POST /v1/sites"
            )
            share = np.zeros(HOURS_OF_WEEK)
        hours.append(share)
    x, y = to_metres([s.lon for s in sites], [s.lat for s in sites], crs=ctx.deployment.crs)
    open_share = np.array(hours).reshape(len(sites), HOURS_OF_WEEK)
    return SitesOffering(sites, np.asarray(x), np.asarray(y), open_share, warnings)


def share(part: float, whole: float, k: int | None) -> float | None:
    """``part / whole`` as shown: None below k events (or none at all)."""
    if whole <= 0 or (k is not None and whole < k):
        return None
    return round(part / whole, 3 if k is None else 2)


def week_table(values: list[float | None]) -> WeekTable:
    return [values[d * 24 : (d + 1) * 24] for d in range(7)]


def hour_shares(events: FloatArray, covered: FloatArray, k: int | None) -> list[float | None]:
    return [share(float(c), float(e), k) for c, e in zip(covered, events, strict=True)]


def combined_hours(parts: list[Coverage], k: int | None) -> WeekTable:
    """Shares covered by hour of several kinds' coverage together."""
    events = np.sum([p.by_hour()[0] for p in parts], axis=0)
    covered = np.sum([p.by_hour()[1] for p in parts], axis=0)
    return week_table(hour_shares(events, covered, k))


@dataclass(frozen=True)
class HourShares:
    share_open: WeekTable
    share_anytime: WeekTable
    events: WeekTable | None  # full views only
    k: int | None
    day_only: float = 0.0  # events with a date only, left out of these tables

    @property
    def left_out(self) -> str | None:
        """How many events had no hour to place (a date only), as the role may see it."""
        if self.day_only <= 0:
            return None
        if self.k is None or self.day_only >= self.k:
            many = f"{self.day_only:g}"
        else:
            many = f"fewer than {self.k}"
        return (
            f"{many} events with a date but no time of day are left out of the hour-of-week "
            "tables and the open-hours shares"
        )

    @property
    def note(self) -> str | None:
        """Why some hours are blank, for peers and planners."""
        return (
            None
            if self.events is not None
            else f"hours with fewer than {self.k} events are left blank"
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "days": list(DAYS),
            "share_open": self.share_open,
            "share_anytime": self.share_anytime,
        }
        if self.events is not None:
            out["events"] = self.events
        else:
            out["note"] = self.note
        if self.left_out is not None:
            out["left_out"] = self.left_out
        return out


@dataclass(frozen=True)
class GapCell:
    """A cell with events no open site reaches, ranked by them."""

    rank: int
    ring: list[list[float]]  # the cell's outline, GeoJSON
    events: float
    uncovered: float  # events not covered by a site open at their hour
    uncovered_anytime: float  # events no site reaches at all
    released: int | None  # the released count, for peers and planners

    def shown(self) -> dict[str, float | bool]:
        """What the answer says of the cell, as the role may see it (its rank aside)."""
        props: dict[str, float | bool]
        if self.released is None:
            props = {
                "events": round(self.events, 2),
                "uncovered_events": round(self.uncovered, 2),
                "uncovered_anytime": round(self.uncovered_anytime, 2),
            }
        else:
            props = {
                "events": self.released,
                "share_uncovered": round(self.uncovered / self.events, 1),
                "out_of_reach": bool(self.uncovered_anytime > 0),
            }
        return props

    @property
    def geometry(self) -> Geometry:
        return polygon(self.ring)

    def to_json(self) -> Feature:
        props: dict[str, object] = {**self.shown(), "rank": self.rank}
        return {"type": "Feature", "geometry": self.geometry, "properties": props}


@dataclass(frozen=True)
class CoverageResult:
    kind: EventKind
    minutes: float
    events: float | None  # full views only
    share_open: float | None
    share_anytime: float | None
    by_hour: HourShares
    gaps: list[GapCell]
    basis: Basis

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "minutes": self.minutes,
            "walk_m": round(walk_limit_m(self.minutes)),
            "events": None if self.events is None else round(self.events, 2),
            "share_open": self.share_open,
            "share_anytime": self.share_anytime,
            "by_hour": self.by_hour.to_json(),
            "uncovered": {
                "type": "FeatureCollection",
                "features": [g.to_json() for g in self.gaps],
            },
            "basis": self.basis.to_json(),
        }


@dataclass(frozen=True)
class CoverageReport:
    service: Service
    window: Window
    routing: Routing
    sites: list[StoredSite]
    results: list[CoverageResult]
    warnings: list[str]

    @property
    def basis(self) -> Basis:
        """The reports of every kind asked about (each limit reads the same ones)."""
        return combined({r.kind: r.basis for r in self.results}.values())

    def to_json(self) -> dict[str, Any]:
        full = self.window.k is None
        return {
            "service": self.service.value,
            "window": self.window.label,
            "audience": "all events" if full else "released cells only",
            "routing": self.routing.to_json(),
            "sites": [
                {"id": s.id, "name": s.name, "opening_hours": s.opening_hours} for s in self.sites
            ],
            "results": [r.to_json() for r in self.results],
            "basis": self.basis.to_json(),
            "warnings": self.warnings + self.basis.warnings,
        }


@dataclass(frozen=True)
class CoverageQuestion:
    service: Service
    minutes: list[float]
    kinds: list[EventKind]
    period: str | None
    top: int  # gap cells per answer
    cell_m: int | None = None  # demand in larger squares (None: the stored size)


def coverage_report(ctx: ProgramContext, question: CoverageQuestion) -> CoverageReport:
    window = resolve_window(ctx, question.period, cell_m=question.cell_m)
    offering = sites_offering(ctx, question.service)
    if not offering.sites:
        raise Unprocessable(
            f"no site of this program offers {question.service.value}; add sites that do "
            "with POST /v1/sites, or ask about another service",
            code="no_site_offers_service",
        )
    routing = walking(ctx)
    results = []
    for kind in question.kinds:
        demand, released, basis = demand_seen(ctx, kind, window)
        for limit in question.minutes:
            reaches = reach(routing.network, offering.xy, demand.xy, walk_limit_m(limit))
            cov = coverage(reaches, offering.open_share, demand.by_hour)
            gaps = _gap_cells(ctx, demand, cov, released, question.top)
            results.append(_result(kind, limit, cov, window.k, gaps, basis, demand.day_only))
    return CoverageReport(
        question.service, window, routing, offering.sites, results, offering.warnings
    )


def _result(
    kind: EventKind,
    minutes: float,
    cov: Coverage,
    k: int | None,
    gaps: list[GapCell],
    basis: Basis,
    day_only: float = 0.0,
) -> CoverageResult:
    total = cov.total
    events, covered = cov.by_hour()
    reached = cov.demand[cov.reached].sum(axis=0)
    by_hour = HourShares(
        week_table(hour_shares(events, covered, k)),
        week_table(hour_shares(events, reached, k)),
        week_table(np.round(events, 2).tolist()) if k is None else None,
        k,
        day_only,
    )
    return CoverageResult(
        kind,
        minutes,
        total if k is None else None,
        share(cov.covered, total, k),
        share(cov.covered_anytime, total, k),
        by_hour,
        gaps,
        basis,
    )


def _gap_cells(
    ctx: ProgramContext, demand: Demand, cov: Coverage, released: ReleasedCells | None, top: int
) -> list[GapCell]:
    """The ``top`` cells with most uncovered events; for peers and planners, released ones."""
    uncovered = cov.uncovered()
    outside = cov.uncovered_anytime()
    gaps: list[GapCell] = []
    for i in np.argsort(-uncovered, kind="stable").tolist():
        if uncovered[i] <= 1e-9 or len(gaps) >= top:
            break
        cell = (int(demand.ix[i]), int(demand.iy[i]))
        if released is not None and cell not in released:
            continue
        ring = ctx.deployment.cell_rings(np.array([cell[0]]), np.array([cell[1]]), demand.cell_m)
        gaps.append(
            GapCell(
                len(gaps) + 1,
                ring[0],
                float(cov.demand[i].sum()),
                float(uncovered[i]),
                float(outside[i]),
                None if released is None else released[cell],
            )
        )
    return gaps
