"""The consumption-site ranking: a transparent weighted score for each candidate outside
every exclusion zone, each criterion's value, scaled value, weight and contribution shown.

Peers and planners get sums of released cells, never a count below k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.projection import to_metres
from analysis.siting import nearest_within, suitability_scores
from geo_service.errors import InvalidParameter
from geo_service.services.basis import Basis, combined
from geo_service.services.candidates import Candidates, Place, read_candidates
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
    basis: Basis  # what share of the window's reports the criteria rest on

    @property
    def reason(self) -> str | None:
        """Why nothing is ranked, in its real reason."""
        if self.ranked:
            return None
        if not len(self.candidates.x) and not self.basis.used:
            return self.basis.why_nothing("rank places by")
        return self.candidates.too_few(self.basis.window, released=self.basis.released)

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
            "basis": self.basis.to_json(),
            "warnings": self.basis.warnings,
            "reason": self.reason,
        }


def consumption_suitability(ctx: ProgramContext, question: RankingQuestion) -> Ranking:
    weights = question.weights
    if any(not math.isfinite(v) or v < 0 for v in weights.values()):
        raise InvalidParameter("weights must be finite and not negative")
    if sum(weights.values()) <= 0:
        raise InvalidParameter("at least one weight must be more than 0")
    window = resolve_window(ctx, question.period, long_view=True, cell_m=question.cell_m)
    routing = walking(ctx)
    seen = {kind: demand_seen(ctx, kind, window) for kind in DEMAND_KINDS}
    demand = {kind: d for kind, (d, _, _) in seen.items()}
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
    return Ranking(window, routing, cands, ranked, combined(b for _, _, b in seen.values()))


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
