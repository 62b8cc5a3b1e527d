"""Density clusters of events: DBSCAN and HDBSCAN on cell centres weighted by counts.

Clustering runs on cells, not events, so a million events cost what their few thousand cells
cost. DBSCAN takes the counts as sample weights, which gives exactly the clusters of DBSCAN on
the events themselves placed at their cell centres (the tests hold it to that). scikit-learn's
HDBSCAN takes no weights; see :func:`hdbscan_labels` for how counts enter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry
from sklearn.cluster import DBSCAN, HDBSCAN

from analysis.grid import CellCounts, FloatArray, Grid, IntArray, cell_bounds, cell_centres

NOISE = -1


class ClusterError(ValueError):
    """Clustering parameters are out of range."""


@dataclass(frozen=True)
class Cluster:
    """One cluster: rank 1 holds the most events."""

    rank: int
    count: int
    share: float  # of all events given to the clustering
    cells: int
    polygon_m: BaseGeometry  # union of the cluster's cells, projected metres
    centroid_m: tuple[float, float]  # count-weighted mean of the cell centres
    first_start: int  # UTC epoch seconds
    last_end: int


def _centres(cells: CellCounts) -> FloatArray:
    # Local metres from the grid origin: distances are all that clustering sees.
    half = cells.cell_m / 2.0
    return np.column_stack([cells.ix * cells.cell_m + half, cells.iy * cells.cell_m + half])


def dbscan_labels(cells: CellCounts, *, eps_m: float, min_events: int) -> IntArray:
    """DBSCAN labels per cell: a cell is a core when its ``eps_m`` disk holds ``min_events``.

    Examples
    --------
    >>> from analysis.grid import count_in_grid
    >>> cells = count_in_grid([0, 1, 9], [0, 0, 0], [4, 3, 1], cell_m=125)
    >>> dbscan_labels(cells, eps_m=130.0, min_events=5).tolist()
    [0, 0, -1]
    """
    if not (eps_m > 0 and np.isfinite(eps_m)):
        raise ClusterError("eps_m must be a positive number of metres")
    if min_events < 1:
        raise ClusterError("min_events must be at least 1")
    if len(cells) == 0:
        return np.zeros(0, dtype=np.int64)
    model = DBSCAN(eps=eps_m, min_samples=min_events)
    labels = model.fit_predict(_centres(cells), sample_weight=cells.count)
    return np.asarray(labels, dtype=np.int64)


def hdbscan_labels(
    cells: CellCounts,
    *,
    min_cluster_size: int,
    min_samples: int | None = None,
    merge_within_m: float | None = None,
) -> IntArray:
    """HDBSCAN labels per cell, with ``min_cluster_size`` and ``min_samples`` in events.

    scikit-learn's HDBSCAN has no sample weights, so each cell enters as copies of its centre,
    at most ``cap = max(min_cluster_size, min_samples)`` of them. Capping changes neither any
    core distance (a cell holding ``cap`` events already meets ``min_samples`` alone) nor
    whether a group reaches ``min_cluster_size``; it only lightens very busy cells in the
    stability score that chooses between nested clusters. With no cell above the cap the
    result is HDBSCAN on the events themselves.

    On a grid many distances tie, and HDBSCAN then splits a blob into arbitrary pieces that
    are born and die at the same distance. Clusters with cells closer than ``merge_within_m``
    (default one and a half cells, past the diagonal neighbour) are therefore joined, in the
    spirit of HDBSCAN's ``cluster_selection_epsilon`` (which scikit-learn cannot run on tied
    distances under numpy 2, scikit-learn#33219).
    """
    if min_cluster_size < 2:
        raise ClusterError("min_cluster_size must be at least 2 events")
    samples = min_cluster_size if min_samples is None else min_samples
    if samples < 1:
        raise ClusterError("min_samples must be at least 1 event")
    merge_m = 1.5 * cells.cell_m if merge_within_m is None else merge_within_m
    if not (merge_m >= 0 and np.isfinite(merge_m)):
        raise ClusterError("merge_within_m must be zero or more metres")
    cap = max(min_cluster_size, samples)
    if np.minimum(cells.count, cap).sum() <= samples:  # too few points for core distances
        return np.full(len(cells), NOISE, dtype=np.int64)
    # Tied distances make HDBSCAN's tree depend on the order of its points, so it always
    # sees the cells in one canonical order and the labels go back row by row. The order is
    # CellCounts' own, by (iy, ix), so cells from count_in_grid cluster exactly as before.
    canonical = np.lexsort((cells.ix, cells.iy))
    labels = np.empty(len(cells), dtype=np.int64)
    labels[canonical] = _hdbscan_in_order(
        _reordered(cells, canonical), min_cluster_size, samples, cap, merge_m
    )
    return labels


def _reordered(cells: CellCounts, order: IntArray) -> CellCounts:
    return CellCounts(
        cell_m=cells.cell_m,
        ix=cells.ix[order],
        iy=cells.iy[order],
        count=cells.count[order],
        first_start=cells.first_start[order],
        last_end=cells.last_end[order],
    )


def _hdbscan_in_order(
    cells: CellCounts, min_cluster_size: int, samples: int, cap: int, merge_m: float
) -> IntArray:
    copies = np.minimum(cells.count, cap)
    points = np.repeat(_centres(cells), copies, axis=0)
    model = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=samples,
        copy=False,  # the points are ours; spare a copy
    )
    point_labels = np.asarray(model.fit_predict(points), dtype=np.int64)
    # Copies of one cell sit at one point and almost always share a label; take the most
    # common one so a tie inside the tree cannot split a cell.
    owner = np.repeat(np.arange(len(cells)), copies)
    pairs, votes = np.unique(np.column_stack([owner, point_labels]), axis=0, return_counts=True)
    order = np.lexsort((-votes, pairs[:, 0]))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pairs[order[1:], 0] != pairs[order[:-1], 0]
    labels = np.full(len(cells), NOISE, dtype=np.int64)
    labels[pairs[order[first], 0]] = pairs[order[first], 1]
    return _join_close_clusters(cells, labels, within_m=merge_m)


def _join_close_clusters(cells: CellCounts, labels: IntArray, *, within_m: float) -> IntArray:
    members = np.flatnonzero(labels != NOISE)
    if len(members) == 0 or within_m <= 0:
        return labels
    pairs = cKDTree(_centres(cells)[members]).query_pairs(r=within_m, output_type="ndarray")
    ids, local = np.unique(labels[members], return_inverse=True)
    links = sparse.coo_matrix(
        (np.ones(len(pairs)), (local[pairs[:, 0]], local[pairs[:, 1]])), shape=(len(ids),) * 2
    )
    _, component = connected_components(links, directed=False)
    joined = labels.copy()
    joined[members] = component[local]
    return joined


def rank_labels(labels: npt.ArrayLike, count: npt.ArrayLike) -> IntArray:
    """Renumber clusters 1, 2, … by events held (most first); noise becomes 0.

    Ties go to the cluster met first in the cells' order, so the ranks are reproducible.

    Examples
    --------
    >>> rank_labels([0, 0, 1, -1, 1, 1], [1, 1, 5, 9, 1, 1]).tolist()
    [2, 2, 1, 0, 1, 1]
    """
    raw = np.asarray(labels, dtype=np.int64)
    weight = np.asarray(count, dtype=np.int64)
    ranked = np.zeros(len(raw), dtype=np.int64)
    found = raw != NOISE
    if not found.any():
        return ranked
    ids, first_seen, inverse = np.unique(raw[found], return_index=True, return_inverse=True)
    totals = np.bincount(inverse, weights=weight[found])
    order = np.lexsort((first_seen, -totals))
    rank_of = np.empty(len(ids), dtype=np.int64)
    rank_of[order] = np.arange(1, len(ids) + 1)
    ranked[found] = rank_of[inverse]
    return ranked


def describe_clusters(cells: CellCounts, ranks: IntArray, *, grid: Grid) -> list[Cluster]:
    """One :class:`Cluster` per rank > 0, in rank order."""
    total = cells.total
    xmin, ymin, xmax, ymax = cell_bounds(cells.ix, cells.iy, grid=grid, cell_m=cells.cell_m)
    cx, cy = cell_centres(cells.ix, cells.iy, grid=grid, cell_m=cells.cell_m)
    boxes = shapely.box(xmin, ymin, xmax, ymax)
    out = []
    for rank in range(1, int(ranks.max(initial=0)) + 1):
        members = ranks == rank
        weight = cells.count[members].astype(np.float64)
        out.append(
            Cluster(
                rank=rank,
                count=int(weight.sum()),
                share=float(weight.sum() / total) if total else 0.0,
                cells=int(members.sum()),
                polygon_m=shapely.coverage_union_all(boxes[members]),
                centroid_m=(
                    float(np.average(cx[members], weights=weight)),
                    float(np.average(cy[members], weights=weight)),
                ),
                first_start=int(cells.first_start[members].min()),
                last_end=int(cells.last_end[members].max()),
            )
        )
    return out
