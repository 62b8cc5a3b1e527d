"""Siting: where new lockers or vending machines would cover most, among loaded candidates
(or grid cells when none are loaded), never inside an exclusion zone. The consumption-site
ranking is :mod:`.suitability`.

Peers and planners get gains as shares of all events, never a count below k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, vstack

from analysis.coverage import Coverage, coverage, gain_weights, walk_limit_m
from analysis.siting import Siting, fewest_covering, maximal_covering
from geo_service.errors import InvalidParameter, Unprocessable
from geo_service.ingest.sites import Service
from geo_service.services.basis import Basis, combined
from geo_service.services.candidates import Candidates, Place, read_candidates
from geo_service.services.coverage import (
    DAYS,
    WeekTable,
    combined_hours,
    hours_open,
    share,
    sites_offering,
)
from geo_service.services.demand import Demand, Window, demand_seen, resolve_window
from geo_service.services.program import ProgramContext
from geo_service.services.walking import Routing, reach, walking
from geo_service.settings import EventKind

FloatArray = npt.NDArray[np.float64]


# -- lockers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockerQuestion:
    service: Service
    minutes: float
    p: int | None  # how many new sites, or
    target_share: float | None  # the fewest sites that bring coverage to this share
    opening_hours: str  # the new sites' hours, OSM syntax
    kinds: list[EventKind]
    period: str | None
    seconds: float  # for the solver
    cell_m: int | None = None  # demand in larger squares (None: the stored size)


@dataclass(frozen=True)
class ChosenSite:
    rank: int
    place: Place
    adds: float  # events it adds, given those chosen before it


@dataclass(frozen=True)
class LockerChoice:
    sites: list[ChosenSite]
    coverage_before: float | None
    coverage_after: float | None
    hours_before: WeekTable
    hours_after: WeekTable
    plan: Siting
    bound_share: float  # no plan of this size covers a larger share (proven)


@dataclass(frozen=True)
class LockerPlan:
    question: LockerQuestion
    window: Window
    routing: Routing
    candidates: Candidates
    warnings: list[str]
    total: float  # events to cover, counted on what the role may see
    choice: LockerChoice | None
    basis: Basis  # what share of the window's reports the plan rests on
    reason: str | None = None  # why nothing was chosen

    def amount(self, events: float) -> dict[str, Any]:
        k = self.window.k
        out: dict[str, Any] = {"share_of_events": round(events / self.total, 3)}
        if k is None:
            out["events"] = round(events, 2)
        elif events < k:
            out = {"share_of_events": None, "note": f"fewer than {k} events"}
        return out

    def to_json(self) -> dict[str, Any]:
        q, cands = self.question, self.candidates
        full = self.window.k is None
        audience = "all events" if full else "shares of the released cells' events"
        base = {
            "service": q.service.value,
            "minutes": q.minutes,
            "window": self.window.label,
            "opening_hours": q.opening_hours,
            "kinds": [kd.value for kd in q.kinds],
            "audience": audience,
            "routing": self.routing.to_json(),
            "candidates": len(cands.x),
            "excluded": [e.to_json() for e in cands.left_out()],
            "candidate_source": cands.source,
            "basis": self.basis.to_json(),
            "warnings": self.warnings + self.basis.warnings,
        }
        c = self.choice
        if c is None:
            return base | {"chosen": [], "reason": self.reason}
        chosen = [
            {"rank": s.rank, **s.place.to_json(), "adds": self.amount(s.adds)} for s in c.sites
        ]
        solver = {
            "status": c.plan.status,
            "gap": round(c.plan.gap, 4),
            "bound_share": c.bound_share,
            "seconds": round(c.plan.seconds, 3),
            "method": "HiGHS: greedy + swap search, LP bound, branch and bound",
        }
        return base | {
            "chosen": chosen,
            "coverage_before": c.coverage_before,
            "coverage_after": c.coverage_after,
            "by_hour": {"days": list(DAYS), "before": c.hours_before, "after": c.hours_after},
            "solver": solver,
        }


@dataclass(frozen=True)
class _Lockers:
    """What a locker question is solved on: demand, today's coverage, eligible candidates."""

    demand: list[Demand]
    before: list[Coverage]
    new_open: FloatArray
    routing: Routing
    limit: float
    cands: Candidates

    @property
    def total(self) -> float:
        return sum(c.total for c in self.before)

    @property
    def covered_before(self) -> float:
        return sum(c.covered for c in self.before)

    def cover(self) -> tuple[csr_matrix, FloatArray]:
        """One demand row per (kind, cell): which eligible candidate reaches it, and what a
        new site open the new hours would add there."""
        eligible = self.cands.eligible
        where = self.cands.xy(eligible)
        parts = [
            reach(self.routing.network, where, d.xy, self.limit).T.tocsr() for d in self.demand
        ]
        weights = [gain_weights(cov, self.new_open) for cov in self.before]
        cover = vstack(parts).tocsr() if parts else csr_matrix((0, len(eligible)))
        return cover, (np.concatenate(weights) if weights else np.zeros(0))

    def after(self, chosen: list[int]) -> list[Coverage]:
        """Coverage once the chosen sites join the existing ones, open the new hours."""
        out = []
        for d, cov in zip(self.demand, self.before, strict=True):
            new_reach = reach(self.routing.network, self.cands.xy(chosen), d.xy, self.limit)
            added = coverage(new_reach, np.tile(self.new_open, (len(chosen), 1)), d.by_hour)
            merged_share = np.maximum(cov.share_open, added.share_open)
            out.append(Coverage(d.by_hour, merged_share, cov.reached | added.reached))
        return out


def site_lockers(ctx: ProgramContext, question: LockerQuestion) -> LockerPlan:
    window = resolve_window(ctx, question.period, long_view=True, cell_m=question.cell_m)
    new_open = hours_open(question.opening_hours)
    assert new_open is not None
    routing = walking(ctx)
    limit = walk_limit_m(question.minutes)
    offering = sites_offering(ctx, question.service)
    seen = [demand_seen(ctx, kind, window) for kind in question.kinds]
    demand = [d for d, _, _ in seen]
    basis = combined(b for _, _, b in seen)
    before = [
        coverage(reach(routing.network, offering.xy, d.xy, limit), offering.open_share, d.by_hour)
        for d in demand
    ]
    if sum(c.total for c in before) <= 0:
        raise Unprocessable(basis.why_nothing("cover"), code="no_demand")
    cands = read_candidates(ctx, demand, "locker")
    lockers = _Lockers(demand, before, new_open, routing, limit, cands)
    warnings = offering.warnings
    if not cands.eligible:
        why = cands.too_few(basis.window, released=basis.released)
        return LockerPlan(
            question, window, routing, cands, warnings, lockers.total, None, basis, why
        )
    if question.p is not None and question.p > len(cands.eligible):
        left = len(cands.eligible)
        why = cands.too_few(basis.window, released=basis.released)
        raise InvalidParameter(f"p is larger than the {left} candidates left: {why}")
    plan, reason, covers_at_most = _solve(lockers, question)
    choice = None if plan is None else _choice(lockers, plan, covers_at_most, window.k)
    return LockerPlan(
        question, window, routing, cands, warnings, lockers.total, choice, basis, reason
    )


def _solve(lockers: _Lockers, question: LockerQuestion) -> tuple[Siting | None, str | None, float]:
    """The plan or why there is none, and the most events a plan of its size could add
    (proven). A SitingError is answered from errors.py's table."""
    cover, w = lockers.cover()
    n = cover.shape[1]
    if question.target_share is not None:
        need = question.target_share * lockers.total - lockers.covered_before
        plan = fewest_covering(cover, w, max(0.0, need), seconds=question.seconds)
        if plan is None:
            best = maximal_covering(cover, w, n, seconds=question.seconds).covered
            reach_share = f"{100 * (lockers.covered_before + best) / lockers.total:.0f}%"
            why = f"even all {n} candidates left reach only {reach_share} of events"
            if lockers.cands.excluded:
                why += f" ({len(lockers.cands.excluded)} more lie inside exclusion zones)"
            return None, why + "; add candidates or walk further", 0.0
        # fewest_covering's bound counts sites; the most events that many sites could add
        # is the maximal covering problem's proven bound.
        sites, seconds = len(plan.chosen), question.seconds
        most = maximal_covering(cover, w, sites, seconds=seconds).bound if sites else 0.0
        return plan, None, max(most, plan.covered)
    p = question.p or 1
    plan = maximal_covering(cover, w, p, seconds=question.seconds)
    return plan, None, plan.bound


def _choice(lockers: _Lockers, plan: Siting, covers_at_most: float, k: int | None) -> LockerChoice:
    eligible = lockers.cands.eligible
    chosen = [eligible[j] for j in plan.chosen]
    after = lockers.after(chosen)
    total, before = lockers.total, lockers.covered_before
    sites = [
        ChosenSite(rank, lockers.cands.places[i], gain)
        for rank, (i, gain) in enumerate(zip(chosen, plan.gains, strict=True), start=1)
    ]
    return LockerChoice(
        sites,
        share(before, total, k),
        share(sum(c.covered for c in after), total, k),
        combined_hours(lockers.before, k),
        combined_hours(after, k),
        plan,
        round(min(1.0, (before + covers_at_most) / total), 3),
    )
