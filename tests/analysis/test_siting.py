"""Locker siting: known answers, spopt's MCLP (PuLP + CBC) as the oracle, invariants."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pulp
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from spopt.locate import MCLP

from analysis.siting import (
    SitingError,
    cover_matrix,
    covered_by,
    fewest_covering,
    greedy_covering,
    maximal_covering,
    nearest_within,
    suitability_scores,
)


def test_the_obvious_best_pair_is_chosen_in_gain_order() -> None:
    # Candidate 0 reaches demand 0-1 (5 + 1), candidate 1 reaches 1-2 (1 + 4),
    # candidate 2 reaches 3 (10), candidate 3 reaches nothing.
    cover = csr_matrix(np.array([
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
    ], dtype=bool))  # fmt: skip
    weights = np.array([5.0, 1.0, 4.0, 10.0])
    best = maximal_covering(cover, weights, 2)
    assert best.chosen == (2, 0)  # 10 first, then 6
    assert best.gains == (10.0, 6.0)
    assert best.covered == 16.0 and best.total == 20.0
    assert best.status == "optimal" and best.gap == 0.0
    three = maximal_covering(cover, weights, 3)
    assert set(three.chosen) == {0, 1, 2} and three.covered == 20.0


def test_how_many_sites_cover_a_share() -> None:
    cover = csr_matrix(np.eye(4, dtype=bool))
    weights = np.array([50.0, 30.0, 15.0, 5.0])
    answer = fewest_covering(cover, weights, 0.8 * weights.sum())
    assert answer is not None
    assert sorted(answer.chosen) == [0, 1] and answer.covered == 80.0
    assert answer.bound == 2  # proven: no single site covers 80
    assert fewest_covering(cover, weights, 81.0) is not None
    assert len(fewest_covering(cover, weights, 81.0).chosen) == 3  # type: ignore[union-attr]
    uncoverable = csr_matrix(np.array([[1], [0]], dtype=bool))
    assert fewest_covering(uncoverable, np.array([1.0, 1.0]), 1.5) is None


def test_bad_questions_are_refused() -> None:
    cover = csr_matrix(np.eye(3, dtype=bool))
    with pytest.raises(SitingError, match="p must be"):
        maximal_covering(cover, np.ones(3), 4)
    with pytest.raises(SitingError, match="p must be"):
        maximal_covering(cover, np.ones(3), 0)
    with pytest.raises(SitingError, match="not negative"):
        maximal_covering(cover, np.array([1.0, -1.0, 1.0]), 1)
    with pytest.raises(SitingError, match="one row per demand"):
        maximal_covering(cover, np.ones(2), 1)


def random_instance(
    seed: int, demand: int, candidates: int, radius: float = 250.0
) -> tuple[Any, ...]:
    rng = np.random.default_rng(seed)
    d = rng.uniform(0, 2000, (demand, 2))
    c = rng.uniform(0, 2000, (candidates, 2))
    cost = np.hypot(d[:, None, 0] - c[None, :, 0], d[:, None, 1] - c[None, :, 1])
    weights = rng.integers(1, 30, demand).astype(float)
    return cost, weights, radius


# spopt 0.7 builds its model in the PuLP 3 way, which PuLP 3.3 warns will change in 4.0.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:spopt")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp")
@pytest.mark.parametrize(("seed", "p"), [(0, 3), (1, 5), (2, 8), (3, 1)])
def test_the_objective_equals_spopts_mclp(seed: int, p: int) -> None:
    cost, weights, radius = random_instance(seed, 300, 40)
    ours = maximal_covering(csr_matrix(cost <= radius), weights, p, gap=0.0)
    oracle = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
    oracle.solve(pulp.PULP_CBC_CMD(msg=False))
    assert pulp.LpStatus[oracle.problem.status] == "Optimal"
    assert ours.covered == pytest.approx(pulp.value(oracle.problem.objective))
    assert ours.status == "optimal" and ours.bound == pytest.approx(ours.covered)
    cover = csr_matrix(cost <= radius)
    assert ours.covered >= covered_by(cover, weights, greedy_covering(cover, weights, p))


def clustered_instance(seed: int, demand: int, candidates: int) -> tuple[Any, ...]:
    """Event counts piled around a few centres on a 100 m grid, as in a town."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(demand)))
    gx, gy = np.meshgrid(np.arange(side) * 100.0, np.arange(side) * 100.0)
    d = np.column_stack([gx.ravel(), gy.ravel()])[:demand]
    centres = rng.uniform(0, side * 100.0, (6, 2))
    pull = sum(20 * np.exp(-((d - c) ** 2).sum(axis=1) / (2 * 500.0**2)) for c in centres)
    c = rng.uniform(0, side * 100.0, (candidates, 2))
    cost = np.hypot(d[:, None, 0] - c[None, :, 0], d[:, None, 1] - c[None, :, 1])
    return cost, rng.poisson(0.2 + pull).astype(float), 750.0


@pytest.mark.filterwarnings("ignore::DeprecationWarning:spopt")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp")
def test_a_clustered_town_sized_instance_equals_spopt() -> None:
    cost, weights, radius = clustered_instance(1, 900, 200)
    ours = maximal_covering(csr_matrix(cost <= radius), weights, 6, gap=0.0, seconds=20)
    oracle = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=6)
    oracle.solve(pulp.PULP_CBC_CMD(msg=False))
    assert ours.covered == pytest.approx(pulp.value(oracle.problem.objective))
    assert ours.status == "optimal"


def test_brute_force_agrees_on_every_p() -> None:
    cost, weights, radius = random_instance(9, 60, 9, radius=400.0)
    cover = csr_matrix(cost <= radius)
    for p in range(1, 10):
        best = max(covered_by(cover, weights, c) for c in itertools.combinations(range(9), p))
        assert maximal_covering(cover, weights, p, gap=0.0).covered == pytest.approx(best)


@hsettings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.integers(1, 6))
def test_gains_add_up_and_the_bound_holds(seed: int, p: int) -> None:
    cost, weights, radius = random_instance(seed, 80, 12)
    cover = csr_matrix(cost <= radius)
    plan = maximal_covering(cover, weights, p)
    assert len(plan.chosen) == len(set(plan.chosen)) <= p
    assert sum(plan.gains) == pytest.approx(plan.covered)
    assert list(plan.gains) == sorted(plan.gains, reverse=True)
    assert plan.covered <= plan.bound + 1e-9 <= plan.total + 2e-9
    assert plan.gap <= 0.005 + 1e-9
    greedy = covered_by(cover, weights, greedy_covering(cover, weights, p))
    assert greedy <= plan.covered + 1e-9


def test_cover_matrix_covers_costs_up_to_the_limit_dense_and_sparse() -> None:
    # Two demand points, three candidates: spopt's cost matrix shape (clients x facilities).
    costs = np.array([[0.0, 250.0, np.inf], [400.0, 300.0, np.nan]])
    assert cover_matrix(costs, 300.0).toarray().tolist() == [
        [True, True, False],
        [False, True, False],
    ]
    # Sparse: only pairs within some reach are stored; a stored 0 (a site on the point) covers.
    stored = csr_matrix(([0.0, 250.0, 300.0], ([0, 0, 1], [0, 1, 1])), shape=(2, 3))
    assert stored.nnz == 3
    assert cover_matrix(stored, 260.0).toarray().tolist() == [
        [True, True, False],
        [False, False, False],
    ]
    with pytest.raises(SitingError):
        cover_matrix(costs, -1.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:spopt")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp")
def test_cover_matrix_is_what_spopt_builds_from_a_cost_matrix() -> None:
    rng = np.random.default_rng(3)
    costs = rng.uniform(0, 1000, size=(12, 5))
    weights = rng.integers(1, 9, size=12)
    ours = maximal_covering(cover_matrix(costs, 400.0), weights, 2)
    theirs = MCLP.from_cost_matrix(costs, weights, service_radius=400.0, p_facilities=2)
    theirs = theirs.solve(pulp.PULP_CBC_CMD(msg=False))
    assert np.array_equal(cover_matrix(costs, 400.0).toarray(), theirs.aij.astype(bool))
    assert ours.covered == pytest.approx(float(theirs.problem.objective.value()))


def test_suitability_scores_scale_by_the_largest_then_weigh() -> None:
    criteria = np.array([[4.0, 0.0, 500.0], [2.0, 0.0, 2000.0], [0.0, 0.0, 1000.0]])
    got = suitability_scores(criteria, [0.5, 0.3, 0.2])
    assert got.scaled.tolist() == [[1.0, 0.0, 0.25], [0.5, 0.0, 1.0], [0.0, 0.0, 0.5]]
    assert got.contributions[1].tolist() == pytest.approx([0.25, 0.0, 0.2])
    assert got.scores.tolist() == pytest.approx([0.55, 0.45, 0.1])
    # Weights are relative: doubling them all changes nothing.
    assert suitability_scores(criteria, [1.0, 0.6, 0.4]).scores == pytest.approx(got.scores)
    assert suitability_scores(np.zeros((0, 3)), [1, 1, 1]).scores.shape == (0,)
    for bad in ([0, 0, 0], [1, -1, 1], [1, np.nan, 1], [1, 1]):
        with pytest.raises(SitingError):
            suitability_scores(criteria, bad)


def test_nearest_within_takes_the_shortest_stored_distance_or_the_cap() -> None:
    metres = csr_matrix(([300.0, 0.0, 700.0], ([0, 1, 1], [1, 0, 1])), shape=(3, 2))
    assert nearest_within(metres, 2000.0).tolist() == [300.0, 0.0, 2000.0]
