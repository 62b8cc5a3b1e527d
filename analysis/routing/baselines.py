"""The exact subset search (the test oracle on small instances) and the greedy rule (the
benchmark baseline, and the solver's first plan): what a crew would do without the solver."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from analysis.routing.model import (
    END,
    EXACT_LIMIT,
    LEFT_OUT,
    START,
    Plan,
    RouteSettings,
    RoutingError,
    Walks,
    check_inputs,
    screen,
    team_route,
)


def exact_best_value(walks: Walks, values: npt.ArrayLike, settings: RouteSettings) -> float:
    """The highest value any plan can collect, by searching every subset of stops (small
    instances only): the oracle the solver is tested against."""
    vals = np.asarray(values, dtype=np.float64)
    check_inputs(walks, vals)
    n = len(vals)
    if n > EXACT_LIMIT:
        raise RoutingError(f"the exact search takes at most {EXACT_LIMIT} stops")
    t = settings.seconds(walks.metres).astype(np.float64)
    finish = _least_finish(t, n, float(settings.stop_s), float(settings.budget_s))
    full = 1 << n
    feasible = finish <= float(settings.budget_s)
    value = np.zeros(full)
    for j in range(n):
        value[(np.arange(full) & (1 << j)) > 0] += vals[j]
    best = np.where(feasible, value, -np.inf)
    return float(max(_shared_by_teams(best, value, feasible, settings.teams).max(), 0.0))


def _least_finish(
    t: npt.NDArray[np.float64], n: int, stop: float, budget: float
) -> npt.NDArray[np.float64]:
    """For every subset of stops (a bit mask), the least time one team needs to serve them
    all, start to end; inf where the budget cannot be kept."""
    between = t[2:, 2:]
    full = 1 << n
    # arrive[S, j]: least time to have served every stop in S, finishing at j.
    arrive = np.full((full, n), np.inf)
    for j in range(n):
        arrive[1 << j, j] = t[START, j + 2] + stop
    bits = 1 << np.arange(n)
    for mask in range(1, full):
        row = arrive[mask]
        if not np.isfinite(row).any():
            continue
        reach = (row[:, None] + between + stop).min(axis=0)
        for k in np.flatnonzero(((mask & bits) == 0) & (reach <= budget)).tolist():
            nxt = mask | (1 << k)
            if reach[k] < arrive[nxt, k]:
                arrive[nxt, k] = reach[k]
    finish: npt.NDArray[np.float64] = (arrive + t[2:, END][None, :]).min(axis=1)
    finish[0] = t[START, END]
    return finish


def _shared_by_teams(
    best: npt.NDArray[np.float64],
    value: npt.NDArray[np.float64],
    feasible: npt.NDArray[np.bool_],
    teams: int,
) -> npt.NDArray[np.float64]:
    """The best value per subset of stops when ``teams`` teams share it."""
    one_team = best.copy()
    for _ in range(teams - 1):
        # Exactly the stops in ``mask``, shared by one more team (``sub``) and the others.
        more = one_team.copy()
        for mask in range(len(best)):
            sub = mask
            while sub:
                if feasible[sub]:
                    candidate = value[sub] + one_team[mask ^ sub]
                    if candidate > more[mask]:
                        more[mask] = candidate
                sub = (sub - 1) & mask
        one_team = more
    return one_team


def greedy_plan(walks: Walks, values: npt.ArrayLike, settings: RouteSettings) -> Plan:
    """The rule a crew would follow by hand: from where you stand, go to the stop with the
    most expected per minute spent getting there and cleaning it, while you can still make
    it to the end in time. Teams take turns building whole routes."""
    vals = np.asarray(values, dtype=np.float64)
    check_inputs(walks, vals)
    began = time.perf_counter()
    keep, skipped = screen(walks, vals, settings)
    t = settings.seconds(walks.metres)
    left = set(keep)
    routes = []
    for _ in range(settings.teams):
        here, clock, order, arrivals = START, 0, [], []
        while True:
            best, best_rate = -1, -1.0
            for s in left:
                p = s + 2
                if clock + t[here, p] + settings.stop_s + t[p, END] > settings.budget_s:
                    continue
                rate = vals[s] / max(1, t[here, p] + settings.stop_s)
                if rate > best_rate:
                    best, best_rate = s, rate
            if best < 0:
                break
            clock += int(t[here, best + 2])
            arrivals.append(clock / 60.0)
            clock += settings.stop_s
            order.append(best)
            left.discard(best)
            here = best + 2
        clock += int(t[here, END])
        routes.append(team_route(walks, vals, order, arrivals, clock / 60.0))
    for s in left:
        skipped[s] = LEFT_OUT
    return Plan(
        tuple(routes),
        dict(sorted(skipped.items())),
        float(sum(r.value for r in routes)),
        "greedy",
        time.perf_counter() - began,
    )
