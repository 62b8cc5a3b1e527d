"""Streets to draw from a walking network: chains through two-way nodes, and Douglas-Peucker
that keeps only the network's own nodes, checked against a textbook implementation."""

from __future__ import annotations

import itertools

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.streets import street_chains, street_lines

FloatArray = np.ndarray


def edges_of(chain: np.ndarray) -> list[tuple[int, int]]:
    return [(min(a, b), max(a, b)) for a, b in itertools.pairwise(chain.tolist())]


def test_chains_run_between_crossings_and_round_loops() -> None:
    # 0-1-2-3 with a branch 1-4; a loop 5-6-7-5; 2-1 again and a self-loop at 3 are dropped.
    u = np.array([0, 1, 2, 1, 5, 6, 7, 2, 3])
    v = np.array([1, 2, 3, 4, 6, 7, 5, 1, 3])
    chains = street_chains(u, v, 8)
    as_sets = sorted(sorted(edges_of(c)) for c in chains)
    assert as_sets == [[(0, 1)], [(1, 2), (2, 3)], [(1, 4)], [(5, 6), (5, 7), (6, 7)]]
    loop = next(c for c in chains if 5 in c.tolist())
    assert loop[0] == loop[-1] == 5 and len(loop) == 4  # closed, each node once
    assert street_chains(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), max_size=40))
def test_every_edge_is_drawn_once_and_only_two_way_nodes_are_passed_through(
    pairs: list[tuple[int, int]],
) -> None:
    u = np.array([a for a, _ in pairs], dtype=np.int64)
    v = np.array([b for _, b in pairs], dtype=np.int64)
    distinct = {(min(a, b), max(a, b)) for a, b in pairs if a != b}
    degree = {n: sum(n in e for e in distinct) for n in range(15)}
    chains = street_chains(u, v, 15)
    drawn = [e for c in chains for e in edges_of(c)]
    assert sorted(drawn) == sorted(distinct)  # each distinct edge exactly once
    for chain in chains:
        assert all(degree[n] == 2 for n in chain[1:-1].tolist())


def textbook_douglas_peucker(points: FloatArray, tolerance: float) -> list[int]:
    """Douglas and Peucker (1973), recursively, distances to the segment: the oracle."""

    def distance(p: FloatArray, a: FloatArray, b: FloatArray) -> float:
        ab = b - a
        length2 = float(ab @ ab)
        t = 0.0 if length2 == 0 else min(1.0, max(0.0, float((p - a) @ ab) / length2))
        return float(np.hypot(*(p - (a + t * ab))))

    def keep(i: int, j: int) -> list[int]:
        if j <= i + 1:
            return []
        far = [distance(points[k], points[i], points[j]) for k in range(i + 1, j)]
        k = int(np.argmax(far))
        if far[k] <= tolerance:
            return []
        return [*keep(i, i + 1 + k), i + 1 + k, *keep(i + 1 + k, j)]

    return [0, *keep(0, len(points) - 1), len(points) - 1]


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 40), st.integers(0, 2**31 - 1), st.floats(0.5, 8.0))
def test_simplification_keeps_the_textbook_points_of_the_network(
    n: int, seed: int, tolerance: float
) -> None:
    rng = np.random.default_rng(seed)
    # A bending street of n nodes, stored in a shuffled order as the import would.
    x = np.cumsum(rng.uniform(2.0, 30.0, n))
    y = np.cumsum(rng.normal(0.0, 4.0, n))
    order = rng.permutation(n)
    node_of_point = np.argsort(order)  # the stored position of the street's k-th point
    xs, ys = x[order], y[order]
    u, v = node_of_point[:-1], node_of_point[1:]
    (line,) = street_lines(xs, ys, u, v, tolerance)
    expected = node_of_point[textbook_douglas_peucker(np.column_stack([x, y]), tolerance)]
    assert line.tolist() in (expected.tolist(), expected[::-1].tolist())
    # Every node left out lies within the tolerance of the line drawn.
    drawn = shapely.LineString(np.column_stack([xs[line], ys[line]]))
    assert shapely.distance(shapely.points(xs, ys), drawn).max() <= tolerance + 1e-9


def test_a_straight_street_keeps_only_its_ends_and_a_loop_stays_drawn() -> None:
    x = np.array([0.0, 10.0, 20.0, 30.0, 100.0, 110.0, 110.0])
    y = np.array([0.0, 0.5, -0.5, 0.0, 0.0, 0.0, 10.0])
    u = np.array([0, 1, 2, 4, 5, 6])
    v = np.array([1, 2, 3, 5, 6, 4])
    lines = street_lines(x, y, u, v, 2.0)
    assert sorted(line.tolist() for line in lines) == [[0, 3], [4, 5, 6, 4]]
