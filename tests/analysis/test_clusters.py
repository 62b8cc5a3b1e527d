from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN, HDBSCAN

from analysis.clusters import (
    ClusterError,
    dbscan_labels,
    describe_clusters,
    hdbscan_labels,
    rank_labels,
)
from analysis.grid import CellCounts, Grid, count_in_grid
from tests.analysis.conftest import Snapped

GRID = Grid(origin_x_m=1000.0, origin_y_m=-500.0, base_cell_m=125)


def two_blobs_and_noise(seed: int = 0) -> CellCounts:
    rng = np.random.default_rng(seed)
    ix = np.concatenate(
        [rng.integers(0, 4, 300), rng.integers(20, 23, 120), rng.integers(30, 60, 25)]
    )
    iy = np.concatenate(
        [rng.integers(0, 4, 300), rng.integers(10, 13, 120), rng.integers(20, 50, 25)]
    )
    hours = rng.integers(0, 1000, len(ix)) * 3600
    return count_in_grid(
        ix, iy, np.ones(len(ix)), cell_m=125, first_start=hours, last_end=hours + 3600
    )


def expanded(cells: CellCounts) -> np.ndarray:
    """Every event at its cell centre, cell by cell in the cells' order."""
    centres = np.column_stack([cells.ix, cells.iy]) * 125.0 + 62.5
    return np.repeat(centres, cells.count, axis=0)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to renaming the clusters; noise must be noise in both."""
    if not np.array_equal(a == -1, b == -1):
        return False
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True) if x != -1}
    return len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})


def random_cells(seed: int, high: int = 9) -> CellCounts:
    rng = np.random.default_rng(seed)
    n = 400
    ix, iy = rng.integers(0, 30, n), rng.integers(0, 30, n)
    return count_in_grid(ix, iy, rng.integers(1, high, n), cell_m=125)


# -- scikit-learn on the events themselves is the oracle -----------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("eps_m", "min_events"), [(130.0, 8), (180.0, 15), (250.0, 30), (400.0, 60)]
)
def test_weighted_dbscan_equals_dbscan_on_every_event(
    seed: int, eps_m: float, min_events: int
) -> None:
    cells = random_cells(seed)
    ours = np.repeat(dbscan_labels(cells, eps_m=eps_m, min_events=min_events), cells.count)
    theirs = DBSCAN(eps=eps_m, min_samples=min_events).fit_predict(expanded(cells))
    assert same_partition(ours, theirs)
    assert len(set(ours) - {-1}) >= 1  # the case actually has clusters


@pytest.mark.parametrize("seed", [0, 1])
def test_hdbscan_labels_each_cell_as_hdbscan_labels_most_of_its_events(seed: int) -> None:
    # With no cell above the cap of 10 the input is every event at its cell centre.
    # scikit-learn itself splits the events of a few cells (tied distances), so each cell
    # takes the label most of its events get.
    cells = random_cells(seed, high=4)
    ours = hdbscan_labels(cells, min_cluster_size=10, merge_within_m=0.0)
    theirs = HDBSCAN(min_cluster_size=10, copy=True).fit_predict(expanded(cells))
    owner = np.repeat(np.arange(len(cells)), cells.count)
    for cell in range(len(cells)):
        labels, votes = np.unique(theirs[owner == cell], return_counts=True)
        assert ours[cell] in labels[votes == votes.max()]
    assert (np.repeat(ours, cells.count) == theirs).mean() > 0.97
    assert len(set(ours) - {-1}) >= 5


# -- known answers -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
def test_two_blobs_are_found_ranked_and_described(method: str) -> None:
    cells = two_blobs_and_noise()
    if method == "dbscan":
        labels = dbscan_labels(cells, eps_m=180.0, min_events=20)
    else:
        labels = hdbscan_labels(cells, min_cluster_size=40)
    clusters = describe_clusters(cells, rank_labels(labels, cells.count), grid=GRID)
    assert [c.rank for c in clusters] == [1, 2]
    big, small = clusters
    # the big blob is the 4 × 4 block at the origin, the small one the 3 × 3 block at (20, 10)
    # DBSCAN gives exactly the blocks; HDBSCAN may take in a stray event or two nearby
    assert 16 <= big.cells <= 18 and 9 <= small.cells <= 11
    assert 300 <= big.count <= 302 and 120 <= small.count <= 122
    if method == "dbscan":
        assert (big.cells, small.cells, big.count, small.count) == (16, 9, 300, 120)
    assert big.share == pytest.approx(big.count / cells.total)
    assert big.polygon_m.area == pytest.approx(big.cells * 125**2)
    assert big.polygon_m.buffer(1e-6).contains(shapely.box(1000.0, -500.0, 1500.0, 0.0))
    cx, cy = big.centroid_m
    assert 1000 < cx < 1500 and -500 < cy < 0
    assert big.first_start >= 0 and big.last_end <= 1000 * 3600
    assert big.last_end - big.first_start > 900 * 3600  # the events span the whole window


def test_cluster_polygons_of_cells_touching_only_at_corners_stay_one_multipolygon() -> None:
    cells = count_in_grid([0, 1], [0, 1], [10, 10], cell_m=125)
    clusters = describe_clusters(cells, np.array([1, 1]), grid=GRID)
    assert clusters[0].polygon_m.area == pytest.approx(2 * 125**2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: dbscan_labels(c, eps_m=-1.0, min_events=5), "eps_m"),
        (lambda c: dbscan_labels(c, eps_m=100.0, min_events=0), "min_events"),
        (lambda c: hdbscan_labels(c, min_cluster_size=1), "min_cluster_size"),
        (lambda c: hdbscan_labels(c, min_cluster_size=5, min_samples=0), "min_samples"),
    ],
)
def test_bad_parameters_are_refused(call: object, message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        call(two_blobs_and_noise())  # type: ignore[operator]


def test_too_few_events_for_hdbscan_is_all_noise() -> None:
    cells = count_in_grid([0, 5], [0, 0], [1, 1], cell_m=125)
    assert hdbscan_labels(cells, min_cluster_size=5).tolist() == [-1, -1]


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
def test_boston_clusters_sit_in_the_busiest_neighbourhoods(boston: Snapped, method: str) -> None:
    cells = boston.cells
    if method == "dbscan":
        labels = dbscan_labels(cells, eps_m=300.0, min_events=20)
    else:
        labels = hdbscan_labels(cells, min_cluster_size=20)
    ranks = rank_labels(labels, cells.count)
    clusters = describe_clusters(cells, ranks, grid=Grid(0.0, 0.0, 125))
    assert len(clusters) >= 2
    top = clusters[0]
    lookup = {(x, y): r for x, y, r in zip(cells.ix, cells.iy, ranks, strict=True)}
    in_top = np.array([lookup[(x, y)] == 1 for x, y in zip(boston.ix, boston.iy, strict=True)])
    assert in_top.sum() == top.count
    busiest = set(boston.neighbourhood.value_counts().index[:5])
    assert boston.neighbourhood[in_top].isin(busiest).mean() > 0.8


# -- invariants ----------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), shuffle=st.integers(0, 1000))
def test_clusters_do_not_depend_on_row_order(seed: int, shuffle: int) -> None:
    rng = np.random.default_rng(seed)
    ix, iy = rng.integers(0, 25, 300), rng.integers(0, 25, 300)
    order = np.random.default_rng(shuffle).permutation(300)
    a = count_in_grid(ix, iy, np.ones(300), cell_m=125)
    b = count_in_grid(ix[order], iy[order], np.ones(300), cell_m=125)
    methods: list[Callable[[CellCounts], npt.NDArray[np.int64]]] = [
        lambda c: dbscan_labels(c, eps_m=180.0, min_events=6),
        lambda c: hdbscan_labels(c, min_cluster_size=12),
    ]
    for method in methods:
        assert rank_labels(method(a), a.count).tolist() == rank_labels(method(b), b.count).tolist()


@given(st.lists(st.tuples(st.integers(-1, 6), st.integers(1, 50)), max_size=40))
def test_ranks_order_clusters_by_events(rows: list[tuple[int, int]]) -> None:
    labels = np.array([r[0] for r in rows], dtype=np.int64)
    count = np.array([r[1] for r in rows], dtype=np.int64)
    ranks = rank_labels(labels, count)
    totals = [count[ranks == r].sum() for r in range(1, int(ranks.max(initial=0)) + 1)]
    assert totals == sorted(totals, reverse=True)
    assert ((ranks == 0) == (labels == -1)).all()
    assert len(totals) == len(set(labels.tolist()) - {-1})


def shuffled_rows(cells: CellCounts, order: npt.NDArray[np.int64]) -> CellCounts:
    """The same cells, rows in another order (as a database may hand them over)."""
    return CellCounts(
        cell_m=cells.cell_m,
        ix=cells.ix[order],
        iy=cells.iy[order],
        count=cells.count[order],
        first_start=cells.first_start[order],
        last_end=cells.last_end[order],
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_hdbscan_gives_each_cell_the_same_label_whatever_the_row_order(seed: int) -> None:
    # Gridded data ties many distances; before the cells were put in one canonical order,
    # shuffling the rows of one city gave anything from 9 to 16 clusters.
    cells = random_cells(seed, high=4)
    reference = hdbscan_labels(cells, min_cluster_size=10)
    ranks = rank_labels(reference, cells.count)
    assert len(set(reference.tolist()) - {-1}) >= 3
    rng = np.random.default_rng(seed)
    for _ in range(20):
        order = rng.permutation(len(cells))
        labels = hdbscan_labels(shuffled_rows(cells, order), min_cluster_size=10)
        assert labels.tolist() == reference[order].tolist()
        shuffled_ranks = rank_labels(labels, cells.count[order])
        assert same_partition(shuffled_ranks, ranks[order])
