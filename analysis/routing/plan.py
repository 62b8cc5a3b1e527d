"""``plan_routes``: screen the stops, search, and lay each team's walk out in time."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from analysis.routing.baselines import greedy_plan
from analysis.routing.model import (
    END,
    LEFT_OUT,
    START,
    Plan,
    RouteSettings,
    RoutingError,
    Walks,
    check_inputs,
    empty_routes,
    screen,
    timed_route,
)
from analysis.routing.search import (
    FIRST_PLANS,
    circuit_search,
    plan_value,
    routing_search,
    shortest_order,
)


def plan_routes(walks: Walks, values: npt.ArrayLike, settings: RouteSettings) -> Plan:
    """The most valuable set of stops for each team, ordered, within the time budget."""
    vals = np.asarray(values, dtype=np.float64)
    check_inputs(walks, vals)
    began = time.perf_counter()
    keep, skipped = screen(walks, vals, settings)
    t = settings.seconds(walks.metres)
    if t[START, END] > settings.budget_s:
        raise RoutingError("the end cannot be reached from the start within the budget")
    if not keep:
        empty = empty_routes(walks, settings)
        return Plan(empty, skipped, 0.0, "no stops to choose from", time.perf_counter() - began)
    points = [START, END] + [k + 2 for k in keep]
    local = t[np.ix_(points, points)]  # seconds between the start, the end and kept stops
    units = [0, 0] + [round(vals[k] * 100) for k in keep]
    position = {k: n for n, k in enumerate(keep, start=2)}
    greedy = greedy_plan(walks, vals, settings)
    best = [[position[s] for s in r.stops] for r in greedy.routes]
    # CP-SAT proves small plans best in a fraction of the time; on larger ones it rarely
    # gets past its hint, and OR-Tools routing's local search does better with the rest.
    found, proven = circuit_search(local, units, settings, best, 0.3 * settings.search_seconds)
    if found is not None and plan_value(found, units) > plan_value(best, units):
        best = found
    if not proven:
        share = (settings.search_seconds - (time.perf_counter() - began)) / len(FIRST_PLANS)
        for first in FIRST_PLANS:
            warm = best if first == FIRST_PLANS[0] else None
            found = routing_search(local, units, settings, first, share, warm)
            if found is not None and plan_value(found, units) > plan_value(best, units):
                best = found
    routes = []
    for order in best:
        nodes = shortest_order(local, order)
        routes.append(timed_route(walks, vals, local, [keep[n - 2] for n in nodes], nodes,
                                   settings))  # fmt: skip
    on_route = {s for r in routes for s in r.stops}
    for k in keep:
        if k not in on_route:
            skipped[k] = LEFT_OUT
    how = "proven best (CP-SAT)" if proven else "best found (OR-Tools routing and CP-SAT)"
    return Plan(
        tuple(routes),
        dict(sorted(skipped.items())),
        float(sum(r.value for r in routes)),
        f"{how}, each team's stops in their shortest order",
        time.perf_counter() - began,
    )
