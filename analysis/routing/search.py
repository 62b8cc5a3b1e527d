"""The searches behind ``plan_routes``: OR-Tools' routing solver, CP-SAT's circuit model for
the same problem, and the shortest order of a team's stops."""

from __future__ import annotations

import itertools
import os

import numpy as np
import numpy.typing as npt
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.sat.python import cp_model
from ortools.util import optional_boolean_pb2

from analysis.routing.model import (
    END,
    EXACT_LIMIT,
    START,
    RouteSettings,
)

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


def plan_value(orders: list[list[int]], units: list[int]) -> int:
    return sum(units[n] for order in orders for n in order)


def routing_search(
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


def circuit_search(
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


def shortest_order(local: npt.NDArray[np.int64], stops: list[int]) -> list[int]:
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
