from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.stscan import ScanError, ScanLimits, log_likelihood_ratio, space_time_scan

CELL_M = 100
Key = tuple[frozenset[int], int]


def brute_force_llrs(
    ix: np.ndarray, iy: np.ndarray, day: np.ndarray, limits: ScanLimits, last_day: int
) -> dict[Key, float]:
    """Every cylinder's LLR by plain loops: circles of all cells within a distance of a centre."""
    cells = sorted(set(zip(ix.tolist(), iy.tolist(), strict=True)))
    where = {cell: k for k, cell in enumerate(cells)}
    event_cell = [where[(x, y)] for x, y in zip(ix.tolist(), iy.tolist(), strict=True)]
    days = day.tolist()
    total = len(days)
    llrs: dict[Key, float] = {}
    for cx, cy in cells:
        squared = [(x - cx) ** 2 + (y - cy) ** 2 for x, y in cells]
        for reach in sorted(set(squared)):
            circle = frozenset(k for k, d in enumerate(squared) if d <= reach)
            if limits.max_cells is not None and len(circle) > limits.max_cells:
                break
            if limits.max_radius_m is not None and math.sqrt(reach) * CELL_M > limits.max_radius_m:
                break
            for window in range(1, limits.max_days + 1):
                inside = [e for e in range(total) if event_cell[e] in circle]
                recent = [e for e in range(total) if days[e] > last_day - window]
                count = len([e for e in inside if days[e] > last_day - window])
                mu = len(inside) * len(recent) / total
                llr = 0.0
                if count > mu:
                    llr = count * math.log(count / mu)
                    if count < total:
                        llr += (total - count) * math.log((total - count) / (total - mu))
                llrs[(circle, window)] = llr
    return llrs


def small_events(seed: int, *, n: int = 45, days: int = 12) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    ix = rng.integers(0, 5, n)
    iy = rng.integers(0, 4, n)
    day = rng.integers(0, days, n)
    day[:6] = days - 1 - rng.integers(0, 2, 6)  # something recent near one corner
    ix[:6], iy[:6] = rng.integers(0, 2, 6), rng.integers(0, 2, 6)
    return ix, iy, day


LIMITS = [
    ScanLimits(max_days=3, max_cells=4, max_radius_m=None),
    ScanLimits(max_days=4, max_cells=None, max_radius_m=150.0),
    ScanLimits(max_days=2, max_cells=6, max_radius_m=210.0),
    ScanLimits(max_days=12, max_cells=100, max_radius_m=None),  # circles up to every cell
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("limits", LIMITS)
def test_clusters_and_every_shuffle_equal_brute_force(seed: int, limits: ScanLimits) -> None:
    ix, iy, day = small_events(seed)
    found = space_time_scan(
        ix, iy, day, cell_m=CELL_M, limits=limits, last_day=11, permutations=15, seed=seed
    )
    truth = brute_force_llrs(ix, iy, day, limits, 11)
    best = max(truth.values())
    assert found.clusters and found.clusters[0].llr == pytest.approx(best, rel=1e-12, abs=1e-12)
    taken: set[int] = set()
    for cluster in found.clusters:
        key = (frozenset(cluster.cells.tolist()), cluster.days)
        assert cluster.llr == pytest.approx(truth[key], rel=1e-12, abs=1e-12)
        free = [v for (cells, _), v in truth.items() if not cells & taken]
        assert cluster.llr == pytest.approx(max(free), rel=1e-12, abs=1e-12)  # the best left
        assert not set(key[0]) & taken
        taken |= key[0]
    assert all(v == 0 for (cells, _), v in truth.items() if not cells & taken)
    # the null: each shuffle's largest LLR, with the shuffles drawn as the scan draws them
    rng = np.random.default_rng(seed)
    shuffled = [
        max(brute_force_llrs(ix, iy, rng.permutation(day), limits, 11).values()) for _ in range(15)
    ]
    np.testing.assert_allclose(found.null_max_llr, shuffled, rtol=1e-12, atol=1e-12)


def test_cluster_counts_and_expectations_by_hand() -> None:
    # Cell (0,0): 8 events on the last day; 20 others one per day elsewhere. N = 28; the
    # one-cell, one-day cylinder holds 8 of the 8 events of its cell and of its day:
    # mu = 8·8/28, LLR = 8 log(8/mu) + 20 log(20/(28 - mu)).
    ix = np.r_[np.zeros(8, dtype=int), np.arange(20) % 5]
    iy = np.r_[np.zeros(8, dtype=int), np.arange(20) // 5 + 2]
    day = np.r_[np.full(8, 29), np.arange(20)]
    limits = ScanLimits(max_days=5, max_cells=3, max_radius_m=None)
    best = space_time_scan(ix, iy, day, cell_m=CELL_M, limits=limits, permutations=0).clusters[0]
    mu = 64 / 28
    assert (best.observed, best.days, best.radius_m) == (8, 1, 0.0)
    assert best.expected == pytest.approx(mu, rel=1e-15)
    assert best.llr == pytest.approx(8 * math.log(8 / mu) + 20 * math.log(20 / (28 - mu)))
    assert (best.p, best.recurrence_interval) == (1.0, 1.0)  # no shuffles: nothing to beat


def test_log_likelihood_ratio_counts_only_excess() -> None:
    llr = log_likelihood_ratio([1, 2, 3, 10], [2.0, 2.0, 2.0, 4.0], 10)
    assert llr[0] == 0.0 and llr[1] == 0.0
    assert llr[2] == pytest.approx(3 * math.log(1.5) + 7 * math.log(7 / 8))
    assert llr[3] == pytest.approx(10 * math.log(10 / 4))  # all events inside: no outer term


def test_same_seed_same_p_values_other_seed_other_null() -> None:
    ix, iy, day = small_events(7, n=120, days=30)
    limits = ScanLimits(max_days=5, max_cells=5, max_radius_m=None)
    runs = [
        space_time_scan(ix, iy, day, cell_m=CELL_M, limits=limits, permutations=199, seed=s)
        for s in (42, 42, 43)
    ]
    assert np.array_equal(runs[0].null_max_llr, runs[1].null_max_llr)
    assert [c.p for c in runs[0].clusters] == [c.p for c in runs[1].clusters]
    assert not np.array_equal(runs[0].null_max_llr, runs[2].null_max_llr)
    best = runs[0].clusters[0]
    beaten = np.sum(runs[0].null_max_llr >= best.llr)
    assert best.p == (1 + beaten) / 200 and best.recurrence_interval == 1 / best.p


def town(
    seed: int, *, planted: int, side: int = 30, n: int = 1500
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A year of events over a square grid, uniform in space and time, plus a planted burst."""
    rng = np.random.default_rng(seed)
    ix, iy, day = rng.integers(0, side, n), rng.integers(0, side, n), rng.integers(0, 365, n)
    burst_x, burst_y = 12 + rng.integers(0, 2, planted), 7 + rng.integers(0, 2, planted)
    burst_day = 364 - rng.integers(0, 2, planted)
    return np.r_[ix, burst_x], np.r_[iy, burst_y], np.r_[day, burst_day]


def test_a_planted_burst_is_found_and_significant() -> None:
    ix, iy, day = town(1, planted=12)
    found = space_time_scan(ix, iy, day, cell_m=CELL_M, permutations=999, seed=3)
    best = found.clusters[0]
    near = (found.cell_ix[best.cells] - 12.5) ** 2 + (found.cell_iy[best.cells] - 7.5) ** 2
    assert best.p < 0.05 and best.days <= 3
    assert near.min() < 1  # the cluster holds the planted cells
    assert best.observed >= 12
    assert all(other.p > best.p or other.llr < best.llr for other in found.clusters[1:])


def test_uniform_data_rarely_gives_a_significant_cluster() -> None:
    significant = 0
    for seed in range(20):
        ix, iy, day = town(100 + seed, planted=0, side=20, n=800)
        found = space_time_scan(ix, iy, day, cell_m=CELL_M, permutations=99, seed=seed)
        significant += bool(found.clusters) and found.clusters[0].p < 0.05
    assert significant <= 4  # about 1 in 20 expected; loose for 20 runs


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"day": [1, 5, 9], "last_day": 8}, "after the scan's last day"),
        ({"limits": ScanLimits(max_days=0)}, "at least one day"),
        ({"limits": ScanLimits(max_cells=None, max_radius_m=None)}, "number of cells or a radius"),
        ({"limits": ScanLimits(max_cells=0)}, "at least one cell"),
        ({"limits": ScanLimits(max_radius_m=-1.0)}, "zero or more metres"),
        ({"ix": [0.5, 1, 2]}, "whole numbers"),
        ({"iy": [0, 1]}, "same length"),
        ({"day": [0, float("nan"), 2]}, "finite"),
        ({"permutations": -1}, "zero or more"),
        ({"day": ["a", "b", "c"]}, "must be numbers"),
    ],
)
def test_bad_input_is_refused(arguments: dict[str, object], message: str) -> None:
    call: dict[str, object] = {"ix": [0, 1, 2], "iy": [0, 1, 2], "day": [1, 2, 3]} | arguments
    with pytest.raises(ScanError, match=message):
        space_time_scan(cell_m=CELL_M, **call)  # type: ignore[arg-type]


def test_circles_too_large_for_the_cells_are_refused_before_any_work() -> None:
    ix, iy = np.arange(3000) % 60, np.arange(3000) // 60
    day = np.arange(3000) % 30
    with pytest.raises(ScanError, match="too large"):
        space_time_scan(
            ix, iy, day, cell_m=CELL_M, limits=ScanLimits(max_cells=2000, max_radius_m=None)
        )


def test_the_clusters_do_not_depend_on_event_order() -> None:
    ix, iy, day = town(5, planted=8, side=15, n=400)
    order = np.random.default_rng(0).permutation(len(ix))
    limits = ScanLimits(max_days=5, max_radius_m=250.0)
    runs = [
        space_time_scan(x, y, d, cell_m=CELL_M, limits=limits, permutations=0)
        for x, y, d in ((ix, iy, day), (ix[order], iy[order], day[order]))
    ]
    described = [
        [(c.cells.tolist(), c.days, c.observed, round(c.llr, 12)) for c in run.clusters]
        for run in runs
    ]
    assert described[0] == described[1] and len(described[0]) > 1
