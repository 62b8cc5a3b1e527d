"""Clean-up routes: which hot-spot cells a crew walks to, in what order, within a time budget.

This is a prize-collecting (orienteering) problem with several teams. OR-Tools' routing
solver does the search: every stop is optional (a disjunction whose penalty is the stop's
value), a time dimension caps each team's walk plus stops at the budget, and each team is a
vehicle, so teams never share a stop. An exact subset search for small instances and a greedy
nearest-valuable-stop rule are kept here as the test oracle and the benchmark baseline.

Walking times are whole seconds rounded up, so a plan that fits in whole seconds fits in
real time too, and all three methods judge feasibility on the same numbers.
"""

from analysis.network import DETOUR_FACTOR, WALKING_KMH, NetworkError
from analysis.routing.baselines import exact_best_value, greedy_plan
from analysis.routing.model import (
    EXACT_LIMIT,
    LEFT_OUT,
    MAX_BUDGET_MIN,
    MAX_SNAP_M,
    MAX_TEAMS,
    MINUTES_PER_STOP,
    NO_VALUE,
    TOO_FAR,
    UNREACHABLE,
    Plan,
    RouteSettings,
    RoutingError,
    TeamRoute,
    Walks,
    network_walks,
    route_seconds,
    straight_walks,
)
from analysis.routing.plan import plan_routes

__all__ = [
    "DETOUR_FACTOR",
    "EXACT_LIMIT",
    "LEFT_OUT",
    "MAX_BUDGET_MIN",
    "MAX_SNAP_M",
    "MAX_TEAMS",
    "MINUTES_PER_STOP",
    "NO_VALUE",
    "TOO_FAR",
    "UNREACHABLE",
    "WALKING_KMH",
    "NetworkError",
    "Plan",
    "RouteSettings",
    "RoutingError",
    "TeamRoute",
    "Walks",
    "exact_best_value",
    "greedy_plan",
    "network_walks",
    "plan_routes",
    "route_seconds",
    "straight_walks",
]
