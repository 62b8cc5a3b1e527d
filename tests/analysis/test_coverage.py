"""Coverage by place and hour: known answers, networkx as the walking oracle, invariants."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix

from analysis.coverage import (
    HOURS_OF_WEEK,
    CoverageError,
    coverage,
    gain_weights,
    network_reach,
    spread_over_week,
    straight_reach,
    walk_limit_m,
)
from analysis.network import WalkingNetwork

MONDAY = 0  # hour of week of Monday 00:00


def open_hours(*spans: tuple[float, float], day: int = 0) -> np.ndarray:
    """Share of each hour of the week open, for spans (from, to) in hours of ``day``."""
    out = np.zeros(HOURS_OF_WEEK)
    for start, end in spans:
        for h in range(24):
            out[day * 24 + h] = max(0.0, min(end, h + 1) - max(start, h))
    return out


def test_a_bucket_is_spread_over_its_hours_and_wraps_into_monday() -> None:
    demand = spread_over_week(
        cell=np.array([0, 1]),
        hour_of_week=np.array([165, 10]),  # Sunday 21:00; Monday 10:00
        bucket_hours=np.array([6, 1]),
        count=np.array([6.0, 2.0]),
        cells=2,
    )
    assert demand[0, [165, 166, 167, 0, 1, 2]].tolist() == [1.0] * 6
    assert demand[0].sum() == 6.0 and demand[1, 10] == 2.0 and demand[1].sum() == 2.0


def test_a_nine_to_five_site_covers_no_two_a_m_event() -> None:
    demand = np.zeros((1, HOURS_OF_WEEK))
    demand[0, MONDAY + 2] = 3.0  # 02:00
    demand[0, MONDAY + 10] = 2.0  # 10:00
    demand[0, MONDAY + 16] = 4.0  # 16:00, and the site closes at 16:30
    site = open_hours((9, 16.5))[None, :]
    result = coverage(csr_matrix(np.array([[True]])), site, demand)
    assert result.total == 9.0
    assert result.covered == pytest.approx(2.0 + 0.5 * 4.0)
    assert result.covered_anytime == 9.0  # ignoring hours, the cell is within reach
    events, covered = result.by_hour()
    assert covered[MONDAY + 2] == 0.0 and covered[MONDAY + 10] == 2.0
    assert events[MONDAY + 16] == 4.0 and covered[MONDAY + 16] == pytest.approx(2.0)
    assert result.uncovered()[0] == pytest.approx(3.0 + 2.0)


def test_the_best_open_site_in_reach_counts_and_sites_out_of_reach_do_not() -> None:
    demand = np.zeros((2, HOURS_OF_WEEK))
    demand[:, MONDAY + 20] = 1.0  # 20:00 in both cells
    day = open_hours((9, 17))
    evening = open_hours((12, 22))
    reach = csr_matrix(np.array([[True, True], [False, True]]))  # the evening site reaches cell 1
    result = coverage(reach, np.vstack([day, evening]), demand)
    assert result.uncovered().tolist() == [1.0, 0.0]
    assert result.uncovered_anytime().tolist() == [0.0, 0.0]
    # A 24/7 locker reaching cell 0 would add exactly its uncovered evening event.
    assert gain_weights(result, np.ones(HOURS_OF_WEEK)).tolist() == [1.0, 0.0]


def test_straight_reach_includes_the_limit_and_sites_on_a_centre() -> None:
    reach = straight_reach(
        np.array([0.0]), np.array([0.0]),
        np.array([0.0, 200.0, 201.0]), np.array([0.0, 0.0, 0.0]),
        260.0, detour_factor=1.3,
    )  # fmt: skip
    assert reach.reaches.toarray().tolist() == [[True, True, False]]
    assert reach.metres[0, 1] == pytest.approx(260.0)


def test_bad_thresholds_are_refused() -> None:
    assert walk_limit_m(10) == pytest.approx(750.0)
    for minutes in (0, -5, float("nan"), 500):
        with pytest.raises(CoverageError, match="minutes"):
            walk_limit_m(minutes)
    with pytest.raises(CoverageError, match="line up"):
        coverage(csr_matrix((1, 2), dtype=bool), np.ones((1, 24)), np.ones((2, HOURS_OF_WEEK)))


def grid(seed: int, size: int = 10, spacing: float = 100.0) -> WalkingNetwork:
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(size), np.arange(size))
    idx = np.arange(size * size).reshape(size, size)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) > 0.25
    length = spacing * rng.uniform(1.0, 1.5, len(u))
    x, y = (gx.ravel() * np.float64(spacing), gy.ravel() * np.float64(spacing))
    return WalkingNetwork(x, y, u[keep], v[keep], length[keep])


@pytest.mark.parametrize("seed", range(3))
def test_network_reach_equals_networkx_with_a_cutoff(seed: int) -> None:
    net = grid(seed)
    graph = nx.Graph()
    graph.add_nodes_from(range(net.nodes))
    for a, b, w in zip(net.u.tolist(), net.v.tolist(), net.length_m.tolist(), strict=True):
        graph.add_edge(a, b, weight=w)
    rng = np.random.default_rng(seed)
    sx, sy = rng.uniform(0, 900, 5), rng.uniform(0, 900, 5)
    tx, ty = rng.uniform(0, 900, 40), rng.uniform(0, 900, 40)
    limit = 450.0
    reach = network_reach(net, sx, sy, tx, ty, limit)
    s_node, s_snap = net.nearest(sx, sy)
    t_node, t_snap = net.nearest(tx, ty)
    expected = np.full((5, 40), np.inf)
    for s in range(5):
        lengths = nx.single_source_dijkstra_path_length(graph, int(s_node[s]), weight="weight")
        for t in range(40):
            d = lengths.get(int(t_node[t]), np.inf) + s_snap[s] + t_snap[t]
            expected[s, t] = d if d <= limit else np.inf
    got = np.full((5, 40), np.inf)
    m = reach.metres.tocoo()
    got[m.row, m.col] = m.data
    assert np.array_equal(np.isfinite(got), np.isfinite(expected))
    assert np.allclose(got[np.isfinite(got)], expected[np.isfinite(expected)])
    assert np.isfinite(got).any() and not np.isfinite(got).all()  # the cutoff bites


def test_points_far_from_any_path_are_reached_by_nothing() -> None:
    net = grid(0)
    reach = network_reach(net, np.array([0.0]), np.array([0.0]), np.array([5000.0, 0.0]),
                          np.array([5000.0, 0.0]), 10_000.0)  # fmt: skip
    assert reach.reaches.toarray().tolist() == [[False, True]]


@hsettings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), sites=st.integers(0, 4), cells=st.integers(1, 12))
def test_coverage_never_exceeds_reach_and_counts_are_preserved(
    seed: int, sites: int, cells: int
) -> None:
    rng = np.random.default_rng(seed)
    demand = rng.poisson(0.05, (cells, HOURS_OF_WEEK)).astype(float)
    hours = rng.choice([0.0, 0.5, 1.0], (sites, HOURS_OF_WEEK))
    reach = csr_matrix(rng.random((sites, cells)) < 0.4)
    result = coverage(reach, hours, demand)
    assert result.covered <= result.covered_anytime + 1e-9 <= result.total + 2e-9
    events, covered = result.by_hour()
    assert events.sum() == pytest.approx(result.total)
    assert covered.sum() == pytest.approx(result.covered)
    assert result.uncovered().sum() + result.covered == pytest.approx(result.total)
    assert result.uncovered_anytime().sum() + result.covered_anytime == pytest.approx(result.total)
    # Open at every hour, the same sites cover exactly what they reach.
    always = coverage(reach, np.ones((sites, HOURS_OF_WEEK)), demand)
    assert always.covered == pytest.approx(result.covered_anytime)
