"""Getis-Ord Gi* hot spots on the grid, with permutation inference and FDR classes.

The weights are a binary distance band between cell centres with each cell its own neighbour
(Gi*), over a study area of cells that includes the empty ones. On a grid the band is the same
disk around every cell, so the neighbourhood sums are array shifts rather than a sparse
weights matrix; esda's ``G_Local(star=True, transform="B")`` is the reference the tests hold
the z-scores to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from analysis.grid import FloatArray, GridError, IntArray, Raster, disk_offsets, disk_sum

#: Two-sided significance levels behind the classes ±3, ±2, ±1 (ArcGIS Pro's convention).
CONFIDENCE_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))
FEW_CELLS = 30


class HotspotError(ValueError):
    """The input cannot be analysed as asked (no events, bad band, mismatched arrays)."""


@dataclass(frozen=True)
class GiStar:
    """Gi* per study cell, in the order the cells were given."""

    distance_m: float
    z: FloatArray
    p: FloatArray  # two-sided; from permutations (ties counted on both sides) when run
    p_norm: FloatArray  # two-sided, from the normal approximation
    p_sim: FloatArray | None  # esda's folded pseudo p-value, (larger + 1) / (permutations + 1)
    neighbours: IntArray  # cells in each cell's band, itself included
    permutations: int


def gi_star(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    count: npt.ArrayLike,
    *,
    cell_m: int,
    distance_m: float,
    permutations: int = 0,
    seed: int | None = None,
) -> GiStar:
    """Gi* z-scores for every cell of a study area (empty cells included, count 0).

    Examples
    --------
    A lone busy cell in a 5 × 5 block is hot; the band of 125 m holds it and its 4 neighbours.

    >>> ix, iy = np.meshgrid(np.arange(5), np.arange(5))
    >>> count = np.where((ix == 2) & (iy == 2), 9, 0).ravel()
    >>> result = gi_star(ix.ravel(), iy.ravel(), count, cell_m=125, distance_m=125.0)
    >>> round(float(result.z[12]), 3), int(result.neighbours[12])
    (2.0, 5)
    """
    cells_x, cells_y, values = study_arrays(ix, iy, count)
    if distance_m <= 0 or not np.isfinite(distance_m):
        raise HotspotError("the distance band must be a positive number of metres")
    if permutations < 0:
        raise HotspotError("permutations must be zero or more")
    raster = Raster.around(cells_x, cells_y)
    offsets = disk_offsets(distance_m, cell_m)
    lag = raster.read(disk_sum(raster.paint(cells_x, cells_y, values), offsets), cells_x, cells_y)
    band = raster.read(disk_sum(raster.paint(cells_x, cells_y, 1.0), offsets), cells_x, cells_y)
    z = _analytic_z(values, lag, band)
    p_norm = 2.0 * stats.norm.sf(np.abs(z))
    p_sim = p = None
    if permutations:
        order = np.lexsort((cells_x, cells_y))  # row order must not change the draws
        at_least, at_most = _tail_counts(
            values[order], lag[order], band[order].astype(np.int64), permutations, seed
        )
        p_sim, p = np.empty(len(values)), np.empty(len(values))
        # esda folds with a strict lower tail; with many tied (empty) neighbourhoods that
        # calls every empty corner a significant cold spot, so classes count ties both ways.
        p_sim[order] = (np.minimum(at_least, permutations - at_least) + 1.0) / (permutations + 1)
        p[order] = np.minimum(1.0, 2.0 * (np.minimum(at_least, at_most) + 1.0) / (permutations + 1))
    return GiStar(
        distance_m=float(distance_m),
        z=z,
        p=p_norm if p is None else p,
        p_norm=p_norm,
        p_sim=p_sim,
        neighbours=band.astype(np.int64),
        permutations=permutations,
    )


def study_arrays(
    ix: npt.ArrayLike, iy: npt.ArrayLike, count: npt.ArrayLike
) -> tuple[IntArray, IntArray, FloatArray]:
    cells_x = np.asarray(ix, dtype=np.int64)
    cells_y = np.asarray(iy, dtype=np.int64)
    values = np.asarray(count, dtype=np.float64)
    if not (cells_x.shape == cells_y.shape == values.shape) or cells_x.ndim != 1:
        raise HotspotError("ix, iy and count must be one-dimensional and of the same length")
    if len(values) < 2:
        raise HotspotError("Gi* needs a study area of at least two cells")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise HotspotError("counts must be finite and not negative")
    if values.sum() == 0:
        raise HotspotError("there are no events in the study area")
    try:
        raster = Raster.around(cells_x, cells_y)
    except GridError as exc:
        raise HotspotError(str(exc)) from None
    seen = np.zeros((raster.ny, raster.nx), dtype=np.int64)
    np.add.at(seen, (cells_y - raster.iy0, cells_x - raster.ix0), 1)
    if seen.max() > 1:
        raise HotspotError("a cell is listed more than once in the study area")
    return cells_x, cells_y, values


def _analytic_z(values: FloatArray, lag: FloatArray, band: FloatArray) -> FloatArray:
    # Getis & Ord (1995) Gi*, written as (lag - mean·band) / (s·sqrt(band(n-band)/(n-1))),
    # which is esda's (G - E[G]) / sqrt(V[G]) without dividing by the total twice.
    n = len(values)
    mean = values.mean()
    spread = np.sqrt(max(float((values**2).mean() - mean**2), 0.0))
    scale = spread * np.sqrt(band * (n - band) / (n - 1))
    z = np.zeros(n)
    defined = scale > 0  # a band holding the whole area, or equal counts everywhere
    z[defined] = (lag[defined] - mean * band[defined]) / scale[defined]
    return z


def _tail_counts(
    values: FloatArray, lag: FloatArray, band: IntArray, permutations: int, seed: int | None
) -> tuple[IntArray, IntArray]:
    """How many conditional randomizations reach at least / at most each lag, in O(cells)."""
    # Each cell keeps its own value; its k = band - 1 neighbours are replaced by k cells drawn
    # without replacement from the other n - 1. One random prefix of length K + 1 per
    # permutation serves every cell: dropping cell i from a uniform random order of all cells
    # leaves a uniform random order of the others, so cell i's draw is the first k of the
    # prefix, or the first k + 1 minus itself when it appears among the first k.
    n = len(values)
    others = band - 1
    length = min(int(others.max()) + 1, n)
    rng = np.random.default_rng(seed)
    drawn = np.stack([rng.choice(n, size=length, replace=False) for _ in range(permutations)])
    running = np.zeros((permutations, length + 1))
    np.cumsum(values[drawn], axis=1, out=running[:, 1:])
    observed = lag - values  # the neighbours' part of each cell's lag
    larger = np.zeros(n, dtype=np.int64)
    smaller = np.zeros(n, dtype=np.int64)
    for k in np.unique(others):
        cells = np.flatnonzero(others == k)
        sims = np.sort(running[:, k])
        larger[cells] = permutations - np.searchsorted(sims, observed[cells], side="left")
        smaller[cells] = np.searchsorted(sims, observed[cells], side="right")
    # Fix the draws that picked the cell itself among its first k.
    perm, pos = np.nonzero(np.ones_like(drawn, dtype=bool))
    cell = drawn[perm, pos]
    hit = pos < others[cell]
    perm, cell = perm[hit], cell[hit]
    k = others[cell]
    was, now = running[perm, k], running[perm, k + 1] - values[cell]
    target = observed[cell]
    np.add.at(larger, cell, (now >= target).astype(np.int64) - (was >= target))
    np.add.at(smaller, cell, (now <= target).astype(np.int64) - (was <= target))
    return larger, smaller


def confidence_classes(
    z: FloatArray, p: FloatArray, *, fdr: bool = True
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """ArcGIS-style classes (+3/+2/+1 hot at 99/95/90 %, negative for cold, 0 otherwise).

    With ``fdr`` the p-values are first adjusted by Benjamini–Hochberg over all cells (the
    adjusted value is returned); a cell is in class 3 when its adjusted p is at most 0.01.

    Examples
    --------
    >>> classes, _ = confidence_classes(np.array([3.0, -2.0, 0.5]), np.array([0.003, 0.04, 0.6]),
    ...                                 fdr=False)
    >>> classes.tolist()
    [3, -2, 0]
    """
    adjusted = stats.false_discovery_control(p, method="bh") if fdr else p.copy()
    level = np.zeros(len(p), dtype=np.int8)
    for value, alpha in reversed(CONFIDENCE_LEVELS):
        level[adjusted <= alpha] = value
    return (np.sign(z).astype(np.int8) * level).astype(np.int8), adjusted


def hot_spots_hold_events(
    classes: npt.NDArray[np.int8], count: npt.ArrayLike
) -> tuple[npt.NDArray[np.int8], int]:
    """Classes with no hot spot where there are no events, and how many cells that changed.

    ArcGIS ("How Hot Spot Analysis (Getis-Ord Gi*) works"): "To be a statistically significant
    hot spot, a feature will have a high value and be surrounded by other features with high
    values as well." Gi* sums a cell with its neighbours, so on sparse counts the empty ring
    around one busy cell is significant at any band, even one cell wide; such a cell is
    busy around, not busy, and is left unclassed (its z and p are kept).

    >>> hot_spots_hold_events(np.array([3, 2, -2, 1], dtype=np.int8), [5, 0, 0, 0])
    (array([ 3,  0, -2,  0], dtype=int8), 2)
    """
    empty_hot = (classes > 0) & (np.asarray(count) == 0)
    kept = classes.copy()
    kept[empty_hot] = 0
    return kept, int(empty_hot.sum())
