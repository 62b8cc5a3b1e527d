"""Siting: where new lockers or vending machines would cover most, and a transparent
ranking of candidate consumption sites. Both choose among loaded candidates (or grid cells
when none are loaded), never inside an exclusion zone.

Peers and planners get gains as shares of all events, never a count below k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, vstack

from analysis.coverage import Coverage, coverage, gain_weights, walk_limit_m
from analysis.projection import to_metres
from analysis.siting import (
    Siting,
    fewest_covering,
    maximal_covering,
    nearest_within,
    suitability_scores,
)
from geo_service.errors import InvalidParameter, Unprocessable
from geo_service.ingest.sites import Service
from geo_service.services.candidates import Candidates, Place, read_candidates
from geo_service.services.coverage import (
    DAYS,
    WeekTable,
    combined_hours,
    hours_open,
    share,
    sites_offering,
)
from geo_service.services.demand import DEMAND_KINDS, Demand, Window, demand_seen, resolve_window
from geo_service.services.program import ProgramContext
from geo_service.services.walking import Routing, reach, walk_metres, walking
from geo_service.settings import EventKind

FloatArray = npt.NDArray[np.float64]
SUITABILITY_RADIUS_M = 500.0  # where studies measured overdose deaths falling near a site
SERVICE_GAP_CAP_M = 2000.0
DEFAULT_WEIGHTS = {"overdoses": 0.5, "needle_reports": 0.3, "service_gap": 0.2}
HR_SERVICES = frozenset({"needles", "naloxone", "supervised_consumption", "drug_checking"})
NEARBY = {"overdoses": EventKind.OVERDOSE, "needle_reports": EventKind.NEEDLE_REPORT}


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
            "warnings": self.warnings,
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
    demand = [demand_seen(ctx, kind, window)[0] for kind in question.kinds]
    before = [
        coverage(reach(routing.network, offering.xy, d.xy, limit), offering.open_share, d.by_hour)
        for d in demand
    ]
    if sum(c.total for c in before) <= 0:
        raise Unprocessable(
            f"no events of these kinds in {window.label}; nothing to cover", code="no_demand"
        )
    cands = read_candidates(ctx, demand, "locker")
    lockers = _Lockers(demand, before, new_open, routing, limit, cands)
    if not cands.eligible:
        why = "every candidate lies inside an exclusion zone"
        return LockerPlan(
            question, window, routing, cands, offering.warnings, lockers.total, None, why
        )
    plan, reason, covers_at_most = _solve(lockers, question)
    choice = None if plan is None else _choice(lockers, plan, covers_at_most, window.k)
    return LockerPlan(
        question, window, routing, cands, offering.warnings, lockers.total, choice, reason
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
            why = f"even all {n} eligible candidates reach only {reach_share} of events"
            return None, why + "; add candidates or walk further", 0.0
        # fewest_covering's bound counts sites; the most events that many sites could add
        # is the maximal covering problem's proven bound.
        sites, seconds = len(plan.chosen), question.seconds
        most = maximal_covering(cover, w, sites, seconds=seconds).bound if sites else 0.0
        return plan, None, max(most, plan.covered)
    p = question.p or 1
    if p > n:
        raise InvalidParameter(
            f"p is larger than the {n} eligible candidates (outside exclusion zones)"
        )
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


# -- consumption site ----------------------------------------------------------------------


@dataclass(frozen=True)
class RankingQuestion:
    weights: dict[str, float]  # per criterion: overdoses, needle_reports, service_gap
    period: str | None
    cell_m: int | None = None  # demand in larger squares (None: the stored size)


@dataclass(frozen=True)
class Criterion:
    name: str
    value: float
    scaled: float  # over its largest value among the candidates
    weight: float
    contribution: float  # to the score


@dataclass(frozen=True)
class RankedSite:
    rank: int
    place: Place
    score: float
    criteria: list[Criterion]


@dataclass(frozen=True)
class Ranking:
    window: Window
    routing: Routing
    candidates: Candidates
    ranked: list[RankedSite]

    def shown(self, c: Criterion) -> float | int | str:
        k = self.window.k
        if c.name == "service_gap":
            return round(c.value)
        if k is None:
            return round(c.value, 2)
        # Sums of released counts: whole numbers; a 0 says only that none was released.
        return "none released nearby (0)" if c.value == 0 else round(c.value)

    def _entry(self, site: RankedSite) -> dict[str, Any]:
        criteria = {
            c.name: {
                "value": self.shown(c),
                "scaled": round(c.scaled, 3),
                "weight": c.weight,
                "contribution": round(c.contribution, 3),
            }
            for c in site.criteria
        }
        score = round(site.score, 3)
        return {"rank": site.rank, **site.place.to_json(), "score": score, "criteria": criteria}

    def to_json(self) -> dict[str, Any]:
        radius, cap = f"{SUITABILITY_RADIUS_M:g}", f"{SERVICE_GAP_CAP_M:g}"
        return {
            "window": self.window.label,
            "audience": "all events" if self.window.k is None else "sums of released cells",
            "routing": self.routing.to_json(),
            "radius_m": SUITABILITY_RADIUS_M,
            "criteria": {
                "overdoses": f"overdoses within {radius} m walking",
                "needle_reports": f"needle reports within {radius} m walking",
                "service_gap": "walking metres to the nearest harm-reduction service "
                f"(up to {cap}): farther fills a gap",
            },
            "scoring": "each criterion divided by its largest value among the candidates, "
            "then weighted; exclusion zones are a hard rule",
            "candidate_source": self.candidates.source,
            "ranking": [self._entry(r) for r in self.ranked],
            "excluded": [e.to_json() for e in self.candidates.left_out()],
        }


def consumption_suitability(ctx: ProgramContext, question: RankingQuestion) -> Ranking:
    weights = question.weights
    if any(not math.isfinite(v) or v < 0 for v in weights.values()):
        raise InvalidParameter("weights must be finite and not negative")
    if sum(weights.values()) <= 0:
        raise InvalidParameter("at least one weight must be more than 0")
    window = resolve_window(ctx, question.period, long_view=True, cell_m=question.cell_m)
    routing = walking(ctx)
    demand = {kind: demand_seen(ctx, kind, window)[0] for kind in DEMAND_KINDS}
    cands = read_candidates(ctx, list(demand.values()), "consumption_site")
    eligible = cands.eligible
    raw = _criteria(ctx, routing, cands.xy(eligible), demand, window.k)
    names = list(weights)
    values = np.column_stack([raw[c] for c in names]).reshape(len(eligible), len(names))
    scores = suitability_scores(values, [weights[c] for c in names])
    ranked = []
    for rank, j in enumerate(np.argsort(-scores.scores, kind="stable").tolist(), start=1):
        criteria = [
            Criterion(
                c,
                float(values[j, n]),
                float(scores.scaled[j, n]),
                weights[c],
                float(scores.contributions[j, n]),
            )
            for n, c in enumerate(names)
        ]
        place = cands.places[eligible[j]]
        ranked.append(RankedSite(rank, place, float(scores.scores[j]), criteria))
    return Ranking(window, routing, cands, ranked)


def _criteria(
    ctx: ProgramContext,
    routing: Routing,
    where: tuple[FloatArray, FloatArray],
    demand: dict[EventKind, Demand],
    k: int | None,
) -> dict[str, FloatArray]:
    """Each criterion's raw value per candidate: events nearby, and the service gap."""
    raw: dict[str, FloatArray] = {}
    for name, kind in NEARBY.items():
        d = demand[kind]
        near = reach(routing.network, where, d.xy, SUITABILITY_RADIUS_M)
        found = np.asarray(near @ d.by_hour.sum(axis=1)).ravel() if len(where[0]) else np.zeros(0)
        # Sums of released counts (each at least k): whole numbers, once float noise is gone.
        raw[name] = found if k is None else np.round(found)
    raw["service_gap"] = _service_gap(ctx, routing, where)
    return raw


def _service_gap(
    ctx: ProgramContext, routing: Routing, where: tuple[FloatArray, FloatArray]
) -> FloatArray:
    """Walking metres from each candidate to the nearest harm-reduction service, capped."""
    sites = [s for s in ctx.store.list_sites(ctx.program_id) if HR_SERVICES & set(s.services)]
    if not sites or not len(where[0]):
        return np.full(len(where[0]), SERVICE_GAP_CAP_M)
    sx, sy = to_metres([s.lon for s in sites], [s.lat for s in sites], crs=ctx.deployment.crs)
    metres = walk_metres(
        routing.network, where, (np.asarray(sx), np.asarray(sy)), SERVICE_GAP_CAP_M
    )
    return nearest_within(metres, SERVICE_GAP_CAP_M)
