"""Clean-up routes: which hot-spot cells a crew walks to, in what order, within a time budget.

This is a prize-collecting (orienteering) problem with several teams. OR-Tools' routing
solver does the search: every stop is optional (a disjunction whose penalty is the stop's
value), a time dimension caps each team's walk plus stops at the budget, and each team is a
vehicle, so teams never share a stop. An exact subset search for small instances and a greedy
nearest-valuable-stop rule are kept here as the test oracle and the benchmark baseline.

Walking times are whole seconds rounded up, so a plan that fits in whole seconds fits in
real time too, and all three methods judge feasibility on the same numbers.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.sat.python import cp_model
from ortools.util import optional_boolean_pb2

from analysis.network import NetworkError, WalkingNetwork, path_nodes

FloatArray = npt.NDArray[np.float64]

WALKING_KMH = 4.5
MINUTES_PER_STOP = 10.0
DETOUR_FACTOR = 1.3  # typical ratio of street to straight-line distance in small towns
MAX_SNAP_M = 300.0  # a cell further than this from any walkable way is not reachable
MAX_BUDGET_MIN = 8 * 60  # one long shift; longer asks are almost surely a unit mistake
MAX_TEAMS = 20
EXACT_LIMIT = 14  # the subset search doubles its work with every stop

_FIRST = routing_enums_pb2.FirstSolutionStrategy
FIRST_PLANS = (
    _FIRST.PATH_CHEAPEST_ARC,  # started from the greedy plan
    _FIRST.SAVINGS,
    _FIRST.LOCAL_CHEAPEST_INSERTION,
    _FIRST.ALL_UNPERFORMED,
)
# Moves that swap visited and skipped stops, and rebuild parts of routes (off by default).
EXTRA_OPERATORS = (
    "use_extended_swap_active",
    "use_relocate_and_make_active",
    "use_exchange_and_make_active",
    "use_inactive_lns",
    "use_path_lns",
    "use_full_path_lns",
    "use_tsp_lns",
    "use_relocate_neighbors",
    "use_cross_exchange",
    "use_node_pair_swap_active",
    "use_global_cheapest_insertion_close_nodes_lns",
    "use_local_cheapest_insertion_close_nodes_lns",
    "use_global_cheapest_insertion_expensive_chain_lns",
    "use_local_cheapest_insertion_expensive_chain_lns",
)

# Points in a walk matrix: the start, the end, then the candidate stops.
START, END = 0, 1

UNREACHABLE = "no walking path joins this cell to the start and the end"
TOO_FAR = "too far: walking there, stopping and walking on to the end takes longer than the budget"
NO_VALUE = "nothing expected here yet (cleaned recently or no recent reports)"
LEFT_OUT = "left out: the time is better spent on stops expected to hold more"


class RoutingError(ValueError):
    """The route cannot be planned as asked (bad settings)."""


@dataclass(frozen=True)
class RouteSettings:
    budget_min: float
    walking_kmh: float = WALKING_KMH
    minutes_per_stop: float = MINUTES_PER_STOP
    teams: int = 1
    search_seconds: float = 1.0

    def __post_init__(self) -> None:
        checks = (
            (math.isfinite(self.budget_min) and 0 < self.budget_min <= MAX_BUDGET_MIN,
             f"budget_min must be more than 0 and at most {MAX_BUDGET_MIN} minutes"),
            (math.isfinite(self.walking_kmh) and 1.0 <= self.walking_kmh <= 10.0,
             "walking_kmh must be between 1 and 10 km/h"),
            (math.isfinite(self.minutes_per_stop) and 0 <= self.minutes_per_stop <= 120,
             "minutes_per_stop must be between 0 and 120"),
            (1 <= self.teams <= MAX_TEAMS, f"teams must be between 1 and {MAX_TEAMS}"),
            (math.isfinite(self.search_seconds) and 0.01 <= self.search_seconds <= 30,
             "search_seconds must be between 0.01 and 30"),
        )  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise RoutingError(message)

    @property
    def budget_s(self) -> int:
        return math.floor(self.budget_min * 60)

    @property
    def stop_s(self) -> int:
        return round(self.minutes_per_stop * 60)

    def seconds(self, metres: FloatArray) -> npt.NDArray[np.int64]:
        """Walking seconds, rounded up; unreachable pairs become more than any budget."""
        speed = self.walking_kmh / 3.6
        out = np.full(metres.shape, self.budget_s + 1, dtype=np.int64)
        finite = np.isfinite(metres)
        out[finite] = np.ceil(metres[finite] / speed - 1e-9).astype(np.int64)
        return out


@dataclass(frozen=True)
class TeamRoute:
    stops: tuple[int, ...]  # candidate positions, in walking order
    arrival_min: tuple[float, ...]  # minutes after the start at which each stop is reached
    distance_m: float
    duration_min: float  # walking and stops, start to end
    value: float


@dataclass(frozen=True)
class Plan:
    routes: tuple[TeamRoute, ...]
    skipped: dict[int, str]  # candidate position -> why it is not on any route
    value: float
    solver: str
    solve_seconds: float

    @property
    def visited(self) -> list[int]:
        return [s for r in self.routes for s in r.stops]


@dataclass(frozen=True)
class Walks:
    """Walking distances between the start, the end and the stops, and the lines walked."""

    metres: FloatArray  # (2 + stops) square; inf where no walk exists
    mode: str  # "network" or "straight"
    detour_factor: float = 1.0
    reasons: dict[int, str] = field(default_factory=dict)  # point -> why it cannot be reached
    _network: WalkingNetwork | None = None
    _nodes: npt.NDArray[np.int64] | None = None
    _sources: npt.NDArray[np.int64] | None = None
    _pred: npt.NDArray[np.int64] | None = None
    _points: FloatArray | None = None

    def line(self, a: int, b: int) -> list[tuple[float, float]]:
        """The walked line from point ``a`` to point ``b``, in metres."""
        assert self._points is not None
        pa, pb = tuple(self._points[a]), tuple(self._points[b])
        if self.mode == "straight" or a == b:
            return [pa, pb] if a != b else [pa]
        assert self._network is not None and self._nodes is not None
        assert self._sources is not None and self._pred is not None
        row = int(np.searchsorted(self._sources, self._nodes[a]))
        nodes = path_nodes(self._pred, row, int(self._nodes[b]), int(self._nodes[a]))
        net = self._network
        inner = [(float(net.x[n]), float(net.y[n])) for n in nodes]
        return [pa, *inner, pb]


def straight_walks(x: FloatArray, y: FloatArray, *, detour_factor: float = DETOUR_FACTOR) -> Walks:
    """Straight-line distance times a detour factor, for programs with no network loaded."""
    if not (math.isfinite(detour_factor) and 1.0 <= detour_factor <= 3.0):
        raise RoutingError("detour_factor must be between 1 and 3")
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) * detour_factor
    return Walks(
        d,
        "straight",
        detour_factor,
        _points=np.column_stack([x, y]),
    )


def network_walks(
    network: WalkingNetwork, x: FloatArray, y: FloatArray, *, max_snap_m: float = MAX_SNAP_M
) -> Walks:
    """Shortest walks on the network between points, each joined to its nearest node by a
    straight step (a cell centre is rarely on a path). Points further than ``max_snap_m``
    from the network cannot be reached."""
    nodes, snap = network.nearest(x, y)
    sources = np.unique(nodes)
    dist, pred = network.shortest(sources)
    row = np.searchsorted(sources, nodes)
    d = dist[row][:, nodes] + snap[:, None] + snap[None, :]
    np.fill_diagonal(d, 0.0)
    reasons: dict[int, str] = {}
    far = np.flatnonzero(snap > max_snap_m)
    for p in far.tolist():
        reasons[p] = f"more than {max_snap_m:g} m from any walkable path"
    d[far, :] = np.inf
    d[:, far] = np.inf
    d[far, far] = 0.0
    return Walks(
        d,
        "network",
        1.0,
        reasons,
        network,
        nodes,
        sources,
        pred,
        np.column_stack([x, y]),
    )


# -- the planner ---------------------------------------------------------------------------


def _screen(
    walks: Walks, values: FloatArray, settings: RouteSettings
) -> tuple[list[int], dict[int, str]]:
    """Candidates worth giving the solver, and the reason each of the others is left out."""
    t = settings.seconds(walks.metres)
    skipped: dict[int, str] = {}
    keep = []
    for i, value in enumerate(values.tolist()):
        p = i + 2
        if p in walks.reasons:
            skipped[i] = walks.reasons[p]
        elif not (np.isfinite(walks.metres[START, p]) and np.isfinite(walks.metres[p, END])):
            skipped[i] = UNREACHABLE
        elif t[START, p] + settings.stop_s + t[p, END] > settings.budget_s:
            skipped[i] = TOO_FAR
        elif not value > 0:
            skipped[i] = NO_VALUE
        else:
            keep.append(i)
    return keep, skipped


def _check(walks: Walks, values: FloatArray) -> None:
    if walks.metres.shape != (len(values) + 2, len(values) + 2):
        raise RoutingError("the walk matrix must cover the start, the end and every stop")
    if np.any(~np.isfinite(values)) or np.any(values < 0):
        raise RoutingError("stop values must be finite and not negative")


def plan_routes(walks: Walks, values: npt.ArrayLike, settings: RouteSettings) -> Plan:
    """The most valuable set of stops for each team, ordered, within the time budget."""
    vals = np.asarray(values, dtype=np.float64)
    _check(walks, vals)
    began = time.perf_counter()
    keep, skipped = _screen(walks, vals, settings)
    t = settings.seconds(walks.metres)
    if t[START, END] > settings.budget_s:
        raise RoutingError("the end cannot be reached from the start within the budget")
    if not keep:
        empty = _empty_routes(walks, settings)
        return Plan(empty, skipped, 0.0, "no stops to choose from", time.perf_counter() - began)
    points = [START, END] + [k + 2 for k in keep]
    local = t[np.ix_(points, points)]  # seconds between the start, the end and kept stops
    units = [0, 0] + [round(vals[k] * 100) for k in keep]
    position = {k: n for n, k in enumerate(keep, start=2)}
    greedy = greedy_plan(walks, vals, settings)
    best = [[position[s] for s in r.stops] for r in greedy.routes]
    # CP-SAT proves small plans best in a fraction of the time; on larger ones it rarely
    # gets past its hint, and OR-Tools routing's local search does better with the rest.
    found, proven = _circuit_search(local, units, settings, best, 0.3 * settings.search_seconds)
    if found is not None and _units(found, units) > _units(best, units):
        best = found
    if not proven:
        share = (settings.search_seconds - (time.perf_counter() - began)) / len(FIRST_PLANS)
        for first in FIRST_PLANS:
            warm = best if first == FIRST_PLANS[0] else None
            found = _routing_search(local, units, settings, first, share, warm)
            if found is not None and _units(found, units) > _units(best, units):
                best = found
    routes = []
    for order in best:
        nodes = _shortest_order(local, order)
        routes.append(_timed_route(walks, vals, local, [keep[n - 2] for n in nodes], nodes,
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


def _units(orders: list[list[int]], units: list[int]) -> int:
    return sum(units[n] for order in orders for n in order)


def _routing_search(
    local: npt.NDArray[np.int64],
    units: list[int],
    settings: RouteSettings,
    first: int,
    seconds: float,
    warm: list[list[int]] | None,
) -> list[list[int]] | None:
    """One time-bounded OR-Tools routing search for the most value; stops in visiting order
    (local node numbers) per team. Arcs cost nothing: the order is settled afterwards, and a
    walking-time term in the objective only makes the search slower to swap stops."""
    teams = settings.teams
    transit = local.copy()
    transit[2:, :] += settings.stop_s  # a stop's time is spent before leaving it
    np.fill_diagonal(transit, 0)
    manager = pywrapcp.RoutingIndexManager(len(transit), teams, [START] * teams, [END] * teams)
    model = pywrapcp.RoutingModel(manager)
    callback = model.RegisterTransitMatrix(transit.tolist())
    model.AddDimension(callback, 0, settings.budget_s, True, "time")
    for node in range(2, len(transit)):
        model.AddDisjunction([manager.NodeToIndex(node)], units[node])
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = first
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    for operator in EXTRA_OPERATORS:
        setattr(params.local_search_operators, operator, optional_boolean_pb2.BOOL_TRUE)
    params.time_limit.FromMilliseconds(max(5, int(seconds * 1000)))
    if warm is not None:
        model.CloseModelWithParameters(params)
        # Routes are read as solver indices, which differ from nodes once there are teams.
        indices = [[manager.NodeToIndex(n) for n in order] for order in warm]
        start = model.ReadAssignmentFromRoutes(indices, True)
        solution = model.SolveFromAssignmentWithParameters(start, params) if start else None
    else:
        solution = model.SolveWithParameters(params)
    if solution is None:
        return None
    orders = []
    for team in range(teams):
        index, order = model.Start(team), []
        while not model.IsEnd(index := solution.Value(model.NextVar(index))):
            order.append(manager.IndexToNode(index))
        orders.append(order)
    return orders


def _circuit_search(
    local: npt.NDArray[np.int64],
    units: list[int],
    settings: RouteSettings,
    hint: list[list[int]],
    seconds: float,
) -> tuple[list[list[int]] | None, bool]:
    """The same problem as a CP-SAT model: one multi-circuit through a depot (leaving it is
    leaving the start, returning is reaching the end), a self-loop on every skipped stop, and
    arrival times that grow along each arc. Returns the best plan found and whether CP-SAT
    proved that no plan collects more."""
    n = len(local)
    budget, stop = settings.budget_s, settings.stop_s
    model = cp_model.CpModel()
    arrive = [model.new_int_var(0, budget, f"arrive{j}") for j in range(n)]
    visit = [model.new_bool_var(f"visit{j}") for j in range(n)]
    # Node 1 (the end) is the depot's way in, so it sits out of the circuit on a self-loop.
    arcs: list[tuple[int, int, cp_model.LiteralT]] = [(1, 1, model.new_constant(1))]
    leave, arc_of = [], {}
    for j in range(2, n):
        arcs.append((j, j, ~visit[j]))
        out = model.new_bool_var("")
        model.add(arrive[j] >= int(local[START, j])).only_enforce_if(out)
        home = model.new_bool_var("")
        model.add(arrive[j] + stop + int(local[j, END]) <= budget).only_enforce_if(home)
        arcs += [(0, j, out), (j, 0, home)]
        leave.append(out)
        arc_of[0, j], arc_of[j, 0] = out, home
        for i in range(2, n):
            if i != j and local[START, i] + local[i, j] + local[j, END] + 2 * stop <= budget:
                step = model.new_bool_var("")
                model.add(arrive[j] >= arrive[i] + stop + int(local[i, j])).only_enforce_if(step)
                arcs.append((i, j, step))
                arc_of[i, j] = step
    model.add_multiple_circuit(arcs)
    model.add(sum(leave) <= settings.teams)
    model.maximize(sum(units[j] * visit[j] for j in range(2, n)))
    for order in hint:
        for a, b in itertools.pairwise([0, *order, 0]):
            if (a, b) in arc_of:
                model.add_hint(arc_of[a, b], True)
        for j in order:
            model.add_hint(visit[j], True)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, seconds)
    solver.parameters.num_workers = max(1, min(8, os.cpu_count() or 1))
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    following = {a: b for (a, b), lit in arc_of.items() if a != 0 and solver.value(lit)}
    orders = []
    for (a, b), lit in arc_of.items():
        if a == 0 and solver.value(lit):
            order = [b]
            while order[-1] in following and following[order[-1]] != 0:
                order.append(following[order[-1]])
            orders.append(order)
    orders += [[] for _ in range(settings.teams - len(orders))]
    return orders, status == cp_model.OPTIMAL


def _shortest_order(local: npt.NDArray[np.int64], stops: list[int]) -> list[int]:
    """The order of ``stops`` (local nodes) with the least walking from the start to the end:
    Held-Karp over subsets for routes of up to EXACT_LIMIT stops, the given order beyond."""
    m = len(stops)
    if m <= 1 or m > EXACT_LIMIT:
        return list(stops)
    idx = np.array(stops)
    between = local[np.ix_(idx, idx)].astype(np.float64)
    full = 1 << m
    walk = np.full((full, m), np.inf)
    came = np.full((full, m), -1, dtype=np.int64)
    for j in range(m):
        walk[1 << j, j] = local[START, idx[j]]
    for mask in range(1, full):
        row = walk[mask]
        if not np.isfinite(row).any():
            continue
        reach = row[:, None] + between  # from j to k
        via = reach.argmin(axis=0)
        for k in range(m):
            nxt = mask | (1 << k)
            if nxt != mask and reach[via[k], k] < walk[nxt, k]:
                walk[nxt, k], came[nxt, k] = reach[via[k], k], via[k]
    last = int(np.argmin(walk[full - 1] + local[idx, END]))
    order, mask = [], full - 1
    while last >= 0:
        order.append(int(idx[last]))
        mask, last = mask ^ (1 << last), int(came[mask, last])
    order.reverse()
    before = sum(int(local[a, b]) for a, b in itertools.pairwise([START, *stops, END]))
    after = sum(int(local[a, b]) for a, b in itertools.pairwise([START, *order, END]))
    return order if after <= before else list(stops)


def _timed_route(
    walks: Walks,
    values: FloatArray,
    local: npt.NDArray[np.int64],
    order: list[int],
    nodes: list[int],
    settings: RouteSettings,
) -> TeamRoute:
    clock, arrivals = 0, []
    for a, b in itertools.pairwise([START, *nodes]):
        clock += int(local[a, b])
        arrivals.append(clock / 60.0)
        clock += settings.stop_s
    clock += int(local[nodes[-1] if nodes else START, END])
    return _team_route(walks, values, order, arrivals, clock / 60.0)


def _team_route(
    walks: Walks, values: FloatArray, order: list[int], arrivals: list[float], finish_min: float
) -> TeamRoute:
    points = [START, *(s + 2 for s in order), END]
    distance = float(sum(walks.metres[a, b] for a, b in itertools.pairwise(points)))
    return TeamRoute(
        tuple(order),
        tuple(arrivals),
        distance,
        finish_min,
        float(values[order].sum()) if order else 0.0,
    )


def _empty_routes(walks: Walks, settings: RouteSettings) -> tuple[TeamRoute, ...]:
    back = float(settings.seconds(walks.metres)[START, END]) / 60.0
    return tuple(
        _team_route(walks, np.zeros(0), [], [], back if walks.metres[START, END] > 0 else 0.0)
        for _ in range(settings.teams)
    )


def route_seconds(walks: Walks, order: Sequence[int], settings: RouteSettings) -> int:
    """Whole seconds a team needs for ``order`` (walking plus stops), start to end."""
    t = settings.seconds(walks.metres)
    points = [START, *(s + 2 for s in order), END]
    walk = sum(int(t[a, b]) for a, b in itertools.pairwise(points))
    return walk + settings.stop_s * len(order)


# -- oracle and baseline -------------------------------------------------------------------


def exact_best_value(walks: Walks, values: npt.ArrayLike, settings: RouteSettings) -> float:
    """The highest value any plan can collect, by searching every subset of stops (small
    instances only): the oracle the solver is tested against."""
    vals = np.asarray(values, dtype=np.float64)
    _check(walks, vals)
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
    _check(walks, vals)
    began = time.perf_counter()
    keep, skipped = _screen(walks, vals, settings)
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
        routes.append(_team_route(walks, vals, order, arrivals, clock / 60.0))
    for s in left:
        skipped[s] = LEFT_OUT
    return Plan(
        tuple(routes),
        dict(sorted(skipped.items())),
        float(sum(r.value for r in routes)),
        "greedy",
        time.perf_counter() - began,
    )


__all__ = [
    "DETOUR_FACTOR",
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
