"""Siting: where p new sites (lockers, vending machines) cover the most demand within a
walking threshold (the maximal covering location problem), and how few cover a given share
(its set-covering twin).

Both are integer programs solved by HiGHS (scipy.optimize.milp), with a time limit and a
relative gap; every answer carries HiGHS's proven bound, so the gap it reports is a fact,
not an estimate. spopt's MCLP (PuLP + CBC) is the oracle in the tests and the peer in the
benchmark. Before solving, demand no candidate reaches is set aside and demand rows reached by
the same set of candidates are merged (a town's cells often share their whole catchment),
which shrinks the program without changing its optimum.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, csc_matrix, csr_matrix, hstack, identity, issparse

FloatArray = npt.NDArray[np.float64]

DEFAULT_SECONDS = 10.0
DEFAULT_GAP = 0.005  # stop once the plan is proven within 0.5 % of the best possible
KICK_SHARE = 0.3  # of the time limit, for restarts of the local search before branch and bound
MAX_STALE_KICKS = 40  # restarts in a row that find nothing better: the rest is for the proof


class SitingError(ValueError):
    """The siting question cannot be answered as asked."""


@dataclass(frozen=True)
class Siting:
    chosen: tuple[int, ...]  # candidate positions, in the order each adds most (see gains)
    gains: tuple[float, ...]  # demand each chosen site adds, given those before it
    covered: float  # demand covered by the chosen sites
    bound: float  # no choice of this many sites covers more than this (proven)
    total: float  # all demand given
    status: str  # "optimal", "within gap", "time limit"
    seconds: float

    @property
    def gap(self) -> float:
        """Relative distance between the plan and the proven bound."""
        return 0.0 if self.bound <= 0 else max(0.0, (self.bound - self.covered) / self.bound)


@dataclass(frozen=True)
class _Reduced:
    cover: csr_matrix  # (merged demand rows, candidates) bool
    weights: FloatArray


def _reduce(cover: csr_matrix, weights: FloatArray) -> _Reduced:
    """Drop demand that nothing can cover or that weighs nothing; merge identical rows."""
    cover = csr_matrix(cover, dtype=bool)
    cover.sum_duplicates()
    cover.sort_indices()
    useful = (np.diff(cover.indptr) > 0) & (weights > 0)
    cover = cover[useful]
    w = weights[useful]
    groups: dict[bytes, int] = {}
    first_row: list[int] = []
    merged = np.zeros(len(w))
    for i in range(cover.shape[0]):
        key = cover.indices[cover.indptr[i] : cover.indptr[i + 1]].tobytes()
        g = groups.setdefault(key, len(groups))
        if g == len(first_row):
            first_row.append(i)
        merged[g] += w[i]
    return _Reduced(cover[first_row] if first_row else cover[:0], merged[: len(first_row)])


def _check(cover: csr_matrix, weights: FloatArray) -> None:
    if cover.shape[0] != len(weights):
        raise SitingError("the coverage matrix must have one row per demand point")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise SitingError("demand weights must be finite and not negative")


def covered_by(
    cover: csr_matrix, weights: FloatArray, chosen: list[int] | tuple[int, ...]
) -> float:
    """Demand reached by at least one of ``chosen``."""
    if not len(chosen):
        return 0.0
    hit = np.asarray(csr_matrix(cover, dtype=bool)[:, list(chosen)].sum(axis=1)).ravel() > 0
    return float(weights[hit].sum())


def _in_gain_order(
    cover: csr_matrix, weights: FloatArray, chosen: list[int], steps: int | None = None
) -> tuple[list[int], list[float]]:
    """Up to ``steps`` of ``chosen``, each the one adding most given those before it."""
    by_column = csc_matrix(csr_matrix(cover, dtype=np.float64))[:, chosen]
    left = np.asarray(weights, dtype=np.float64).copy()
    picked = np.zeros(len(chosen), dtype=bool)
    order, gains = [], []
    for _ in range(len(chosen) if steps is None else min(steps, len(chosen))):
        adds = by_column.T @ left
        adds[picked] = -1.0
        k = int(np.argmax(adds))
        picked[k] = True
        order.append(chosen[k])
        gains.append(float(adds[k]))
        left[by_column.indices[by_column.indptr[k] : by_column.indptr[k + 1]]] = 0.0
    return order, gains


def _solve(
    reduced: _Reduced,
    candidates: int,
    objective: FloatArray,
    extra: LinearConstraint,
    seconds: float,
    gap: float,
) -> tuple[FloatArray | None, float, str]:
    """min objective . [x, y]  s.t.  y_i <= sum_j cover_ij x_j,  extra;  x binary, y in [0, 1].
    Returns the solution, HiGHS's dual bound and a status word."""
    n = reduced.cover.shape[0]
    link = hstack([-reduced.cover.astype(np.float64), identity(n, format="csr")], format="csr")
    constraints = [LinearConstraint(link, -np.inf, 0.0), extra]
    integrality = np.concatenate([np.ones(candidates), np.zeros(n)])
    result = milp(
        objective,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": seconds, "mip_rel_gap": gap, "disp": False},
    )
    if result.x is None:
        return None, math.nan, "no solution"
    status = {0: "optimal", 1: "time limit"}.get(result.status, "stopped")
    bound = float(result.mip_dual_bound) if result.mip_dual_bound is not None else math.nan
    return np.asarray(result.x), bound, status


def maximal_covering(
    cover: csr_matrix,
    weights: npt.ArrayLike,
    p: int,
    *,
    seconds: float = DEFAULT_SECONDS,
    gap: float = DEFAULT_GAP,
) -> Siting:
    """Choose ``p`` candidates (columns of ``cover``: demand x candidates, True where the
    candidate reaches the demand) to cover the most demand ``weights``.

    A greedy start improved by best-swap local search gives a plan in milliseconds; the
    linear relaxation (HiGHS interior point) bounds what any plan can cover. When the two are
    within ``gap`` that is the answer; otherwise the integer program (HiGHS branch and bound)
    runs in the time left, and the best plan and tightest bound of all three are kept."""
    began = time.perf_counter()
    w = np.asarray(weights, dtype=np.float64)
    cover = csr_matrix(cover)
    _check(cover, w)
    m = cover.shape[1]
    if not (isinstance(p, int) and 1 <= p <= m):
        raise SitingError(f"p must be between 1 and the number of candidates ({m})")
    total = float(w.sum())
    reduced = _reduce(cover, w)
    if reduced.cover.shape[0] == 0:
        return Siting((), (), 0.0, 0.0, total, "optimal", time.perf_counter() - began)
    n = reduced.cover.shape[0]
    r_cover, r_w = reduced.cover, reduced.weights
    chosen = _swap_search(r_cover, r_w, greedy_covering(r_cover, r_w, p))
    covered = covered_by(r_cover, r_w, chosen)
    link = hstack([-r_cover.astype(np.float64), identity(n, format="csr")], format="csr")
    pick_p = csr_matrix((np.ones(m), (np.zeros(m), np.arange(m))), shape=(1, m + n))
    objective = np.concatenate([np.zeros(m), -r_w])
    relaxed = linprog(
        objective,
        A_ub=link,
        b_ub=np.zeros(n),
        A_eq=pick_p,
        b_eq=[p],
        bounds=(0.0, 1.0),
        method="highs-ipm",
    )
    bound = -float(relaxed.fun) if relaxed.status == 0 else math.inf
    if relaxed.status == 0:
        # Rounding the relaxation (its largest p sites) is often a better start.
        rounded = _swap_search(r_cover, r_w, list(np.argsort(-relaxed.x[:m])[:p]))
        if covered_by(r_cover, r_w, rounded) > covered:
            chosen, covered = rounded, covered_by(r_cover, r_w, rounded)
    kick_until = began + KICK_SHARE * seconds
    chosen, covered = _kicks(r_cover, r_w, chosen, covered, (bound, gap), kick_until)
    left = seconds - (time.perf_counter() - began)
    if bound - covered > gap * bound and left > 0.05:
        result = milp(
            objective,
            constraints=[LinearConstraint(link, -np.inf, 0.0), LinearConstraint(pick_p, p, p)],
            integrality=np.concatenate([np.ones(m), np.zeros(n)]),
            bounds=Bounds(0.0, 1.0),
            options={"time_limit": left, "mip_rel_gap": gap, "disp": False},
        )
        if result.x is not None:
            found = [int(j) for j in np.flatnonzero(result.x[:m] > 0.5)]
            if covered_by(r_cover, r_w, found) > covered:
                chosen, covered = found, covered_by(r_cover, r_w, found)
        if result.mip_dual_bound is not None and math.isfinite(result.mip_dual_bound):
            bound = min(bound, -float(result.mip_dual_bound))
    bound = max(bound, covered)
    status = _status(bound, covered, gap)
    order, gains = _in_gain_order(cover, w, chosen)
    covered = covered_by(cover, w, order)
    spent = time.perf_counter() - began
    return Siting(tuple(order), tuple(gains), covered, bound, total, status, spent)


def _kicks(
    cover: csr_matrix,
    weights: FloatArray,
    chosen: list[int],
    covered: float,
    bound_gap: tuple[float, float],
    until: float,
) -> tuple[list[int], float]:
    """Kicks: swap a few sites at random and search again, keeping the best, while the plan is
    outside the gap (seeded, so the same question gets the same answer)."""
    rng = np.random.default_rng(0)
    m, p = cover.shape[1], len(chosen)
    others = np.setdiff1d(np.arange(m), chosen)
    bound, gap = bound_gap
    stale = 0
    while (
        bound - covered > gap * bound
        and time.perf_counter() < until
        and len(others)
        and stale < MAX_STALE_KICKS
    ):
        trial = list(chosen)
        for pos in rng.choice(p, size=min(p, 3), replace=False).tolist():
            trial[pos] = int(rng.choice(np.setdiff1d(np.arange(m), trial)))
        trial = _swap_search(cover, weights, trial)
        stale += 1
        if covered_by(cover, weights, trial) > covered:
            chosen, covered, stale = trial, covered_by(cover, weights, trial), 0
    return chosen, covered


def _status(bound: float, covered: float, gap: float) -> str:
    if bound - covered <= 1e-9 * max(1.0, bound):
        return "optimal"
    return "within gap" if bound - covered <= gap * bound else "time limit"


def _swap_search(cover: csr_matrix, weights: FloatArray, start: list[int]) -> list[int]:
    """Best-improvement swaps (one chosen site out, one other in) until none helps: the
    Teitz-Bart interchange, each round a few sparse products."""
    by_column = csc_matrix(csr_matrix(cover, dtype=np.float64))
    chosen = [int(j) for j in start]
    for _ in range(10 * len(chosen) + 10):
        times = np.asarray(by_column[:, chosen].sum(axis=1)).ravel()
        add = by_column.T @ (weights * (times == 0))  # what each site would add
        only = weights * (times == 1)  # demand covered by exactly one chosen site
        best, best_move = 1e-9 * max(1.0, float(weights.sum())), None
        for pos, j in enumerate(chosen):
            column = by_column.indices[by_column.indptr[j] : by_column.indptr[j + 1]]
            mine = np.zeros_like(weights)
            mine[column] = only[column]
            loss = float(mine.sum())
            swap = add - loss + by_column.T @ mine
            swap[chosen] = -np.inf
            k = int(np.argmax(swap))
            if swap[k] > best:
                best, best_move = float(swap[k]), (pos, k)
        if best_move is None:
            break
        chosen[best_move[0]] = best_move[1]
    return chosen


def fewest_covering(
    cover: csr_matrix,
    weights: npt.ArrayLike,
    target: float,
    *,
    seconds: float = DEFAULT_SECONDS,
    gap: float = DEFAULT_GAP,
) -> Siting | None:
    """The fewest candidates that together cover at least ``target`` demand; None when even
    every candidate together falls short."""
    began = time.perf_counter()
    w = np.asarray(weights, dtype=np.float64)
    cover = csr_matrix(cover)
    _check(cover, w)
    m = cover.shape[1]
    if not math.isfinite(target) or target < 0:
        raise SitingError("the demand to cover must be a finite amount, not negative")
    total = float(w.sum())
    reduced = _reduce(cover, w)
    if float(reduced.weights.sum()) < target - 1e-9:
        return None
    if target <= 0:
        return Siting((), (), 0.0, 0.0, total, "optimal", time.perf_counter() - began)
    n = reduced.cover.shape[0]
    objective = np.concatenate([np.ones(m), np.zeros(n)])
    enough = LinearConstraint(
        csr_matrix(np.concatenate([np.zeros(m), reduced.weights])[None, :]), target - 1e-9, np.inf
    )
    x, dual, status = _solve(reduced, m, objective, enough, seconds, gap)
    if x is None:
        raise SitingError("the solver found no plan in the time given; allow more time")
    chosen = [int(j) for j in np.flatnonzero(x[:m] > 0.5)]
    order, gains = _in_gain_order(cover, w, chosen)
    # For this variant the bound is on the number of sites: at least ceil(dual) are needed.
    least = math.ceil(dual - 1e-6) if math.isfinite(dual) else len(chosen)
    status = "optimal" if least >= len(chosen) else status
    return Siting(
        tuple(order),
        tuple(gains),
        covered_by(cover, w, chosen),
        float(least),
        total,
        status,
        time.perf_counter() - began,
    )


def greedy_covering(cover: csr_matrix, weights: npt.ArrayLike, p: int) -> list[int]:
    """Add, p times, the candidate that covers the most demand not yet covered: the usual
    hand method, and a baseline (it is within 1 - 1/e of the optimum)."""
    w = np.asarray(weights, dtype=np.float64)
    order, _ = _in_gain_order(cover, w, list(range(csr_matrix(cover).shape[1])), steps=p)
    return order


def cover_matrix(costs: npt.ArrayLike | csr_matrix, limit: float) -> csr_matrix:
    """Which candidate covers which demand point: ``costs`` (demand x candidates, as spopt's
    ``from_cost_matrix`` takes them) at most ``limit``. A sparse ``costs`` lists only the
    pairs within reach of something; absent pairs are out of reach, stored zeros are not."""
    if not math.isfinite(limit) or limit < 0:
        raise SitingError("the covering limit must be a finite distance, not negative")
    if issparse(costs):
        pairs = coo_matrix(costs)
        keep = pairs.data <= limit
        return csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (pairs.row[keep], pairs.col[keep])),
            shape=pairs.shape,
        )
    dense = np.asarray(costs, dtype=np.float64)
    if dense.ndim != 2:
        raise SitingError("the cost matrix must have one row per demand point")
    return csr_matrix(dense <= limit)  # NaN and inf compare False: never covered


@dataclass(frozen=True)
class Suitability:
    scaled: FloatArray  # (candidates, criteria): each criterion over its largest value
    contributions: FloatArray  # (candidates, criteria): scaled x weight / sum of weights
    scores: FloatArray  # (candidates,)


def suitability_scores(criteria: npt.ArrayLike, weights: npt.ArrayLike) -> Suitability:
    """A transparent weighted score: each criterion (column of ``criteria``, candidates x
    criteria, larger is better) divided by its largest value among the candidates (a
    criterion that is 0 everywhere scales to 0), then weighted by ``weights`` over their sum."""
    values = np.asarray(criteria, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if values.ndim != 2 or w.shape != (values.shape[1],):
        raise SitingError("one weight per criterion (column) is needed")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise SitingError("weights must be finite, not negative, and not all 0")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise SitingError("criteria must be finite and not negative")
    top = values.max(axis=0) if len(values) else np.zeros(values.shape[1])
    scaled = np.divide(values, top, out=np.zeros_like(values), where=top > 0)
    contributions = scaled * w / w.sum()
    return Suitability(scaled, contributions, contributions.sum(axis=1))


def nearest_within(metres: csr_matrix, cap: float) -> FloatArray:
    """Per row of a sparse distance matrix (only pairs within ``cap`` stored), the shortest
    stored distance, or ``cap`` where none is stored."""
    metres = csr_matrix(metres)
    out = np.full(metres.shape[0], float(cap))
    for row in range(metres.shape[0]):
        found = metres.data[metres.indptr[row] : metres.indptr[row + 1]]
        if len(found):
            out[row] = float(found.min())
    return out


__all__ = [
    "Siting",
    "SitingError",
    "Suitability",
    "cover_matrix",
    "covered_by",
    "fewest_covering",
    "greedy_covering",
    "maximal_covering",
    "nearest_within",
    "suitability_scores",
]
