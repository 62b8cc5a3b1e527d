"""Clean-up routes: known answers, the exact search as oracle, networkx for shortest paths."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from analysis.network import WalkingNetwork
from analysis.routing import (
    LEFT_OUT,
    NO_VALUE,
    TOO_FAR,
    UNREACHABLE,
    RouteSettings,
    RoutingError,
    exact_best_value,
    greedy_plan,
    network_walks,
    plan_routes,
    route_seconds,
    straight_walks,
)

# 3.6 km/h is one metre a second, so seconds can be read off the distances.
ONE_M_PER_S = 3.6


def points(*xy: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array(xy, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def test_the_known_best_route_is_found() -> None:
    # start = end at the origin; A east, B far north (worth most), C west.
    x, y = points((0, 0), (0, 0), (100, 0), (0, 1000), (-100, 0))
    walks = straight_walks(x, y, detour_factor=1.0)
    values = [1.0, 10.0, 1.0]
    # 34 min: the round trip to B alone (2,000 s) fits; B with A or C (2,105 s+) does not.
    tight = RouteSettings(budget_min=34, walking_kmh=ONE_M_PER_S, minutes_per_stop=0,
                          search_seconds=0.2)  # fmt: skip
    plan = plan_routes(walks, values, tight)
    assert plan.routes[0].stops == (1,)
    assert plan.value == 10.0
    assert plan.skipped == {0: LEFT_OUT, 2: LEFT_OUT}
    assert plan.routes[0].arrival_min == pytest.approx((1000 / 60,))
    # 40 min: A, B and C in a loop (2,210 s) fits, in either direction.
    loose = RouteSettings(budget_min=40, walking_kmh=ONE_M_PER_S, minutes_per_stop=0,
                          search_seconds=0.2)  # fmt: skip
    plan = plan_routes(walks, values, loose)
    assert plan.value == 12.0
    assert plan.routes[0].stops in ((0, 1, 2), (2, 1, 0))
    assert plan.routes[0].distance_m == pytest.approx(200 + 2 * np.hypot(100, 1000))


def test_stop_time_counts_against_the_budget() -> None:
    x, y = points((0, 0), (0, 0), (300, 0), (-300, 0))
    walks = straight_walks(x, y, detour_factor=1.0)
    # Each stop is a 600 s round trip plus 10 min of cleaning: one fits in 21 min, not two.
    settings = RouteSettings(budget_min=21, walking_kmh=ONE_M_PER_S, minutes_per_stop=10,
                             search_seconds=0.2)  # fmt: skip
    plan = plan_routes(walks, [5.0, 4.0], settings)
    assert plan.routes[0].stops == (0,)
    assert plan.routes[0].duration_min == pytest.approx(20.0)
    # Two teams take one each.
    two = RouteSettings(budget_min=21, walking_kmh=ONE_M_PER_S, minutes_per_stop=10, teams=2,
                        search_seconds=0.2)  # fmt: skip
    plan = plan_routes(walks, [5.0, 4.0], two)
    assert sorted(r.stops for r in plan.routes) == [(0,), (1,)]
    assert plan.value == 9.0


def test_unreachable_far_and_worthless_stops_are_skipped_with_a_reason() -> None:
    # A network of two pieces: a street along y = 0, and a separate one up at y = 5,000.
    net = WalkingNetwork(
        x=np.array([0.0, 100.0, 200.0, 0.0, 100.0]),
        y=np.array([0.0, 0.0, 0.0, 5000.0, 5000.0]),
        u=np.array([0, 1, 3]),
        v=np.array([1, 2, 4]),
        length_m=np.array([100.0, 100.0, 100.0]),
    )
    x, y = points((0, 0), (0, 0), (200, 10), (100, 5000), (100, 2000), (100, 0))
    walks = network_walks(net, x, y)
    settings = RouteSettings(budget_min=60, walking_kmh=ONE_M_PER_S, minutes_per_stop=5,
                             search_seconds=0.2)  # fmt: skip
    plan = plan_routes(walks, [3.0, 9.0, 9.0, 0.0], settings)
    assert plan.routes[0].stops == (0,)
    assert plan.skipped[1] == UNREACHABLE
    assert plan.skipped[2] == "more than 300 m from any walkable path"
    assert plan.skipped[3] == NO_VALUE
    # The walked line follows the street: start node, along y = 0, then the step into the cell.
    line = walks.line(0, 2)
    assert line[0] == (0.0, 0.0) and line[-1] == (200.0, 10.0)
    assert (100.0, 0.0) in line
    # A stop that only fits if the budget were longer.
    short = RouteSettings(budget_min=6, walking_kmh=ONE_M_PER_S, minutes_per_stop=5,
                          search_seconds=0.2)  # fmt: skip
    assert plan_routes(walks, [3.0, 9.0, 9.0, 0.0], short).skipped[0] == TOO_FAR


def test_an_empty_candidate_list_is_an_empty_plan() -> None:
    x, y = points((0, 0), (50, 0))
    plan = plan_routes(straight_walks(x, y), [], RouteSettings(budget_min=30, teams=2))
    assert plan.value == 0 and plan.visited == [] and len(plan.routes) == 2
    assert plan.solver == "no stops to choose from"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget_min": 0}, "budget_min"),
        ({"budget_min": -5}, "budget_min"),
        ({"budget_min": 10_000}, "budget_min"),
        ({"budget_min": float("nan")}, "budget_min"),
        ({"budget_min": 60, "teams": 0}, "teams"),
        ({"budget_min": 60, "walking_kmh": 0}, "walking_kmh"),
        ({"budget_min": 60, "minutes_per_stop": -1}, "minutes_per_stop"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        RouteSettings(**kwargs)  # type: ignore[arg-type]


def random_instance(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([[0.0, 0.0], rng.uniform(-1200, 1200, n)])
    y = np.concatenate([[0.0, 0.0], rng.uniform(-1200, 1200, n)])
    return x, y, rng.integers(1, 20, n).astype(np.float64)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("teams", [1, 2])
def test_the_solver_equals_the_exact_search_on_ten_stops(seed: int, teams: int) -> None:
    x, y, values = random_instance(seed, 10)
    walks = straight_walks(x, y)
    # A generous search: the time limit is wall-clock, and CI machines are busy.
    settings = RouteSettings(budget_min=75, teams=teams, minutes_per_stop=5, search_seconds=1.0)
    plan = plan_routes(walks, values, settings)
    best = exact_best_value(walks, values, settings)
    assert plan.value == pytest.approx(best)
    assert greedy_plan(walks, values, settings).value <= best + 1e-9


def test_the_exact_search_agrees_with_brute_force_permutations() -> None:
    x, y, values = random_instance(7, 6)
    walks = straight_walks(x, y)
    settings = RouteSettings(budget_min=50, minutes_per_stop=5)
    best = 0.0
    for size in range(1, 7):
        for order in itertools.permutations(range(6), size):
            if route_seconds(walks, order, settings) <= settings.budget_s:
                best = max(best, float(values[list(order)].sum()))
    assert exact_best_value(walks, values, settings) == pytest.approx(best)


@hsettings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 25),
    teams=st.integers(1, 3),
    budget=st.floats(5, 150),
)
def test_routes_fit_the_budget_and_teams_never_share_a_stop(
    seed: int, n: int, teams: int, budget: float
) -> None:
    x, y, values = random_instance(seed, n)
    walks = straight_walks(x, y)
    settings = RouteSettings(budget_min=budget, teams=teams, search_seconds=0.05)
    for plan in (plan_routes(walks, values, settings), greedy_plan(walks, values, settings)):
        visited = plan.visited
        assert len(visited) == len(set(visited))  # disjoint across teams, no repeats
        assert set(visited) | set(plan.skipped) == set(range(n))
        assert not set(visited) & set(plan.skipped)
        for route in plan.routes:
            assert route_seconds(walks, route.stops, settings) <= settings.budget_s
            assert route.duration_min <= budget + 1e-9
            assert list(route.arrival_min) == sorted(route.arrival_min)
        assert plan.value == pytest.approx(float(values[visited].sum()) if visited else 0.0)
    # The search starts from the greedy plan, so it never collects less (several teams too).
    assert plan_routes(walks, values, settings).value >= greedy_plan(walks, values, settings).value


@pytest.mark.parametrize("seed", range(4))
def test_each_team_walks_its_stops_in_the_shortest_order(seed: int) -> None:
    x, y, values = random_instance(seed, 12)
    walks = straight_walks(x, y)
    settings = RouteSettings(budget_min=90, teams=2, minutes_per_stop=3, search_seconds=0.3)
    plan = plan_routes(walks, values, settings)
    assert plan.visited
    for route in plan.routes:
        orders = itertools.permutations(route.stops)
        shortest = min(route_seconds(walks, order, settings) for order in orders)
        assert route_seconds(walks, route.stops, settings) == shortest
        assert route.duration_min == pytest.approx(shortest / 60)


def test_a_small_plan_is_proven_best_and_says_so() -> None:
    x, y, values = random_instance(4, 8)
    walks = straight_walks(x, y)
    settings = RouteSettings(budget_min=60, minutes_per_stop=5, search_seconds=5.0)
    plan = plan_routes(walks, values, settings)
    assert plan.solver.startswith("proven best")
    assert plan.value == pytest.approx(exact_best_value(walks, values, settings))
    # Proof ends the search early; it does not run out the clock.
    assert plan.solve_seconds < 4.0


def grid_network(seed: int, size: int = 12, spacing: float = 100.0) -> WalkingNetwork:
    """A street grid with some blocks missing, as a city's walking network looks."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(size), np.arange(size))
    x, y = gx.ravel() * spacing, gy.ravel() * spacing
    idx = np.arange(size * size).reshape(size, size)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.2
    length = spacing * rng.uniform(1.0, 1.4, len(u))
    return WalkingNetwork(x.astype(float), y.astype(float), u[keep], v[keep], length[keep])


@pytest.mark.parametrize("seed", range(3))
def test_network_distances_and_paths_equal_networkx(seed: int) -> None:
    net = grid_network(seed).largest_component()
    graph = nx.Graph()
    for a, b, w in zip(net.u.tolist(), net.v.tolist(), net.length_m.tolist(), strict=True):
        if not graph.has_edge(a, b) or graph[a][b]["weight"] > w:
            graph.add_edge(a, b, weight=w)
    rng = np.random.default_rng(seed)
    px = rng.uniform(0, 1100, 8)
    py = rng.uniform(0, 1100, 8)
    walks = network_walks(net, px, py)
    nodes, snap = net.nearest(px, py)
    for a in range(8):
        for b in range(8):
            if a == b:
                continue
            expected = nx.shortest_path_length(graph, int(nodes[a]), int(nodes[b]), weight="weight")
            assert walks.metres[a, b] == pytest.approx(expected + snap[a] + snap[b])
            line = np.array(walks.line(a, b))
            walked = np.hypot(*np.diff(line, axis=0).T).sum()
            # Edge lengths here exceed their straight spans (curving streets), so the drawn
            # line is never longer than the walk it depicts.
            assert walked <= walks.metres[a, b] + 1e-6


def test_the_largest_component_is_kept() -> None:
    net = WalkingNetwork(
        x=np.arange(6, dtype=float),
        y=np.zeros(6),
        u=np.array([0, 1, 3, 4]),
        v=np.array([1, 2, 4, 5]),
        length_m=np.ones(4),
    )
    net.u[3] = 5  # 3-4, 4-5 -> 3-4, 5-5: the pieces are {0, 1, 2}, {3, 4}, {5}
    net.v[3] = 5
    kept = net.largest_component()
    assert kept.nodes == 3 and kept.edges == 2
    assert kept.x.tolist() == [0.0, 1.0, 2.0]
