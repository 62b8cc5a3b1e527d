"""Emerging hot spots: ArcGIS Pro's space-time Gi*, Mann-Kendall trend and 17 patterns.

ArcGIS Pro ("How Emerging Hot Spot Analysis works") computes Gi* for every bin of a space-time
cube (cells × time steps) with a neighbourhood of the cells within the distance band in the
same time step and the previous ``time_step_interval`` steps, the cube as a whole serving as
the global mean and spread; the p-values are FDR-corrected; the Mann-Kendall test then gives
each cell's trend in its series of z-scores, and each cell gets one of 17 patterns.

The documentation's pattern definitions overlap in three places; the choices made here are:

- a cell hot in the final step with at least 90 % hot steps is intensifying, diminishing or
  persistent (by its trend), whatever else it was;
- a cell not hot in the final step with at least 90 % hot steps is historical (the only
  definition that speaks of a final step that is not hot), never persistent;
- a cell hot in the final step with fewer than 90 % hot steps and any significant cold step is
  oscillating, not new or consecutive (as sfdep reads it: new and consecutive have no
  significant history; oscillating is the one pattern that names a cold history);
- a cell cold in the final step after at least 90 % hot steps is an oscillating cold spot,
  not a historical hot spot (and the mirror): what the final step shows comes first.

Cold patterns mirror the hot ones with hot and cold swapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
from scipy import stats

from analysis.grid import FloatArray, IntArray, Raster, disk_offsets, disk_sum

Int8Array = npt.NDArray[np.int8]


def N_(message: str) -> str:  # noqa: N802 -- gettext's conventional name for "mark only"
    """Mark a string for translation without translating it (gettext's ``N_``)."""
    return message


class EmergingError(ValueError):
    """The cube cannot be analysed as asked (bad shape, band, interval or counts)."""


class Pattern(IntEnum):
    """ArcGIS Pro's pattern codes (its CATEGORY field): hot positive, cold negative."""

    NONE = 0
    NEW_HOT = 1
    CONSECUTIVE_HOT = 2
    INTENSIFYING_HOT = 3
    PERSISTENT_HOT = 4
    DIMINISHING_HOT = 5
    SPORADIC_HOT = 6
    OSCILLATING_HOT = 7
    HISTORICAL_HOT = 8
    NEW_COLD = -1
    CONSECUTIVE_COLD = -2
    INTENSIFYING_COLD = -3
    PERSISTENT_COLD = -4
    DIMINISHING_COLD = -5
    SPORADIC_COLD = -6
    OSCILLATING_COLD = -7
    HISTORICAL_COLD = -8


#: What a peer reads for each pattern (the map says which weeks or months it covers).
PEER_NAMES: dict[Pattern, str] = {
    Pattern.NONE: N_("nothing stands out"),
    Pattern.NEW_HOT: N_("newly busy"),
    Pattern.CONSECUTIVE_HOT: N_("busy lately, not before"),
    Pattern.INTENSIFYING_HOT: N_("getting worse"),
    Pattern.PERSISTENT_HOT: N_("always busy"),
    Pattern.DIMINISHING_HOT: N_("busy but calming down"),
    Pattern.SPORADIC_HOT: N_("busy on and off"),
    Pattern.OSCILLATING_HOT: N_("was quiet, now busy"),
    Pattern.HISTORICAL_HOT: N_("was busy, not now"),
    Pattern.NEW_COLD: N_("newly quiet"),
    Pattern.CONSECUTIVE_COLD: N_("quiet lately, not before"),
    Pattern.INTENSIFYING_COLD: N_("getting quieter"),
    Pattern.PERSISTENT_COLD: N_("always quiet"),
    Pattern.DIMINISHING_COLD: N_("quiet but picking up"),
    Pattern.SPORADIC_COLD: N_("quiet on and off"),
    Pattern.OSCILLATING_COLD: N_("was busy, now quiet"),
    Pattern.HISTORICAL_COLD: N_("was quiet, not now"),
}


@dataclass(frozen=True)
class SpaceTimeGiStar:
    """Gi* per bin; arrays are cells × steps in the order the cells were given."""

    z: FloatArray
    p: FloatArray  # two-sided, normal approximation
    p_fdr: FloatArray  # Benjamini-Hochberg within each time step
    significance: Int8Array  # +1 hot, -1 cold, 0 not significant at ``alpha`` after FDR
    neighbours: IntArray  # bins in each bin's space-time neighbourhood, itself included


@dataclass(frozen=True)
class MannKendall:
    """Mann-Kendall trend test per row (Mann 1945, Kendall 1975), as pymannkendall's."""

    s: FloatArray
    var_s: FloatArray  # with the tie correction
    z: FloatArray  # continuity-corrected
    p: FloatArray  # two-sided
    tau: FloatArray


@dataclass(frozen=True)
class EmergingHotSpots:
    gi: SpaceTimeGiStar
    trend: MannKendall
    pattern: Int8Array  # a :class:`Pattern` value per cell


def space_time_gi_star(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    counts: npt.ArrayLike,
    *,
    cell_m: int,
    distance_m: float,
    time_step_interval: int = 1,
    alpha: float = 0.05,
) -> SpaceTimeGiStar:
    """Gi* for every bin of a cube of ``counts`` (cells × time steps, oldest step first).

    Examples
    --------
    A 3 × 3 block over two steps, 6 events in the centre in the last step: 18 bins, mean 1/3,
    s² = 2 - 1/9; the centre's last bin sees 5 cells × 2 steps, so
    z = (6 - 10/3) / (s·sqrt(10·8/17)) = 0.894.

    >>> ix, iy = (a.ravel() for a in np.meshgrid(np.arange(3), np.arange(3)))
    >>> counts = np.zeros((9, 2)); counts[4, 1] = 6
    >>> gi = space_time_gi_star(ix, iy, counts, cell_m=100, distance_m=100.0)
    >>> round(float(gi.z[4, 1]), 3), int(gi.neighbours[4, 0]), int(gi.neighbours[4, 1])
    (0.894, 5, 10)
    """
    cells_x, cells_y, cube = _cube_arrays(ix, iy, counts)
    if not np.isfinite(distance_m) or distance_m <= 0:
        raise EmergingError("the distance band must be a positive number of metres")
    if time_step_interval < 0:
        raise EmergingError("the neighbourhood time step interval must be zero or more")
    if not 0 < alpha < 1:
        raise EmergingError("alpha must lie between 0 and 1")
    raster = Raster.around(cells_x, cells_y)
    offsets = disk_offsets(distance_m, cell_m)
    band = raster.read(disk_sum(raster.paint(cells_x, cells_y, 1.0), offsets), cells_x, cells_y)
    lag = np.empty_like(cube)
    for step in range(cube.shape[1]):
        painted = raster.paint(cells_x, cells_y, cube[:, step])
        lag[:, step] = raster.read(disk_sum(painted, offsets), cells_x, cells_y)
    # The previous ``time_step_interval`` steps join the neighbourhood (fewer at the start).
    running = np.concatenate([np.zeros((len(cube), 1)), np.cumsum(lag, axis=1)], axis=1)
    steps = np.arange(cube.shape[1])
    first = np.maximum(steps - time_step_interval, 0)
    lag = running[:, steps + 1] - running[:, first]
    weight = band[:, None] * (steps - first + 1)[None, :]
    z = _gi_z(cube, lag, weight)
    p = 2.0 * stats.norm.sf(np.abs(z))
    p_fdr = benjamini_hochberg(p)
    significance = (np.sign(z) * (p_fdr <= alpha)).astype(np.int8)
    return SpaceTimeGiStar(z, p, p_fdr, significance, weight.astype(np.int64))


def _cube_arrays(
    ix: npt.ArrayLike, iy: npt.ArrayLike, counts: npt.ArrayLike
) -> tuple[IntArray, IntArray, FloatArray]:
    cells_x = np.asarray(ix, dtype=np.int64)
    cells_y = np.asarray(iy, dtype=np.int64)
    cube = np.asarray(counts, dtype=np.float64)
    if cells_x.ndim != 1 or cells_x.shape != cells_y.shape:
        raise EmergingError("ix and iy must be one-dimensional and of the same length")
    if cube.ndim != 2 or cube.shape[0] != len(cells_x) or cube.shape[1] < 1:
        raise EmergingError("counts must be cells × time steps")
    if len(cells_x) < 2:
        raise EmergingError("the cube needs at least two cells")
    if not np.all(np.isfinite(cube)) or np.any(cube < 0):
        raise EmergingError("counts must be finite and not negative")
    if cube.sum() == 0:
        raise EmergingError("there are no events in the cube")
    pairs = np.unique(np.column_stack([cells_x, cells_y]), axis=0)
    if len(pairs) != len(cells_x):
        raise EmergingError("a cell is listed more than once in the cube")
    return cells_x, cells_y, cube


def _gi_z(cube: FloatArray, lag: FloatArray, weight: FloatArray) -> FloatArray:
    # Getis & Ord (1995) Gi* with binary weights, the whole cube as the global sample (as
    # analysis.hotspots does for one step).
    n = cube.size
    mean = cube.mean()
    spread = np.sqrt(max(float((cube**2).mean() - mean**2), 0.0))
    scale = spread * np.sqrt(weight * (n - weight) / (n - 1))
    z = np.zeros_like(cube)
    defined = scale > 0
    z[defined] = (lag[defined] - mean * weight[defined]) / scale[defined]
    return z


def benjamini_hochberg(p: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values within each column (time step) of ``p``.

    The same as ``scipy.stats.false_discovery_control(column, method="bh")`` per column;
    a bin is significant at level a when its adjusted p is at most a, which is ArcGIS's
    FDR rule (the largest rank k with p_(k) <= k·a/m, and every smaller p).

    >>> benjamini_hochberg(np.array([[0.01], [0.04], [0.03]])).ravel().round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    m = p.shape[0]
    order = np.argsort(p, axis=0, kind="stable")
    ranked = np.take_along_axis(p, order, axis=0) * m / np.arange(1, m + 1)[:, None]
    ranked = np.minimum.accumulate(ranked[::-1], axis=0)[::-1]
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, np.minimum(ranked, 1.0), axis=0)
    return adjusted


def mann_kendall(series: npt.ArrayLike) -> MannKendall:
    """Mann-Kendall trend test of each row of ``series`` (time along the last axis).

    Ties reduce the variance of S by the standard correction
    ``sum t(t-1)(2t+5) / 18`` over groups of ``t`` equal values.

    >>> result = mann_kendall([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 3.0, 1.0]])
    >>> result.s.tolist(), result.var_s.tolist()
    ([6.0, -5.0], [8.666666666666666, 7.666666666666667])
    """
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    rows, n = x.shape
    if n < 2:
        raise EmergingError("a trend needs at least two time steps")
    s = np.zeros(rows)
    for k in range(n - 1):
        later = x[:, k + 1 :]
        s += (later > x[:, k : k + 1]).sum(axis=1) - (later < x[:, k : k + 1]).sum(axis=1)
    ordered = np.sort(x, axis=1)
    starts = np.ones((rows, n), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = np.cumsum(starts.ravel()) - 1  # one id per run of equal values, over all rows
    sizes = np.bincount(group).astype(np.float64)
    group_row = np.repeat(np.arange(rows), starts.sum(axis=1))
    ties = np.bincount(group_row, sizes * (sizes - 1) * (2 * sizes + 5), minlength=rows)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    z = np.zeros(rows)
    moving = s != 0  # S is 0 whenever the variance is (all values equal)
    z[moving] = (s[moving] - np.sign(s[moving])) / np.sqrt(var_s[moving])
    p = 2.0 * stats.norm.sf(np.abs(z))
    return MannKendall(s=s, var_s=var_s, z=z, p=p, tau=s / (n * (n - 1) / 2.0))


def classify_patterns(
    significance: npt.ArrayLike, trend_z: npt.ArrayLike, trend_p: npt.ArrayLike, *, alpha: float
) -> Int8Array:
    """The :class:`Pattern` of each cell from its bins' significance and its trend.

    ``significance`` is cells × steps of +1 (hot), -1 (cold) or 0; the trend is significant
    when ``trend_p < alpha``, upward when ``trend_z > 0``.

    >>> classify_patterns([[0, 0, 1], [1, 1, 0]], [0.0, 0.0], [1.0, 1.0], alpha=0.05).tolist()
    [1, 0]
    """
    sig = np.asarray(significance, dtype=np.int8)
    if sig.ndim != 2 or sig.shape[1] < 1:
        raise EmergingError("significance must be cells × time steps")
    rising = (np.asarray(trend_p) < alpha) & (np.asarray(trend_z) > 0)
    falling = (np.asarray(trend_p) < alpha) & (np.asarray(trend_z) < 0)
    hot = _one_side(sig == 1, sig == -1, rising, falling)
    cold = _one_side(sig == -1, sig == 1, falling, rising)
    # A pattern about the final step wins over the other side's historical pattern.
    current = np.where((hot > 0) & (hot != Pattern.HISTORICAL_HOT), hot, 0)
    current = np.where((cold > 0) & (cold != Pattern.HISTORICAL_HOT), -cold, current)
    return np.where(current != 0, current, np.where(hot > 0, hot, -cold)).astype(np.int8)


def _one_side(
    spot: npt.NDArray[np.bool_],
    opposite: npt.NDArray[np.bool_],
    stronger: npt.NDArray[np.bool_],
    weaker: npt.NDArray[np.bool_],
) -> Int8Array:
    """Hot-pattern codes (1..8) for ``spot`` bins; the cold side calls it with roles swapped."""
    n = spot.shape[1]
    count = spot.sum(axis=1)
    most = 10 * count >= 9 * n  # "at least 90 percent of the time-step intervals", exactly
    final = spot[:, -1]
    # Length of the final uninterrupted run of spots (0 when the final step is not one).
    not_spot = ~spot[:, ::-1]
    run = np.where(not_spot.any(axis=1), not_spot.argmax(axis=1), n)
    earlier = count > run  # a spot before the final run
    out = np.zeros(len(spot), dtype=np.int8)
    conditions = [
        final & most & stronger,
        final & most & weaker,
        final & most,
        final & opposite.any(axis=1),
        final & ~earlier & (run == 1),
        final & ~earlier,
        final,
        most,
    ]
    codes = [
        Pattern.INTENSIFYING_HOT,
        Pattern.DIMINISHING_HOT,
        Pattern.PERSISTENT_HOT,
        Pattern.OSCILLATING_HOT,
        Pattern.NEW_HOT,
        Pattern.CONSECUTIVE_HOT,
        Pattern.SPORADIC_HOT,
        Pattern.HISTORICAL_HOT,
    ]
    out[:] = np.select(conditions, [int(code) for code in codes], default=0)
    return out


def find_emerging_hot_spots(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    counts: npt.ArrayLike,
    *,
    cell_m: int,
    distance_m: float,
    time_step_interval: int = 1,
    alpha: float = 0.05,
) -> EmergingHotSpots:
    """Space-time Gi*, the Mann-Kendall trend of each cell's z-scores, and its pattern.

    ``alpha`` is the level for both the bins (after FDR) and the trend.

    >>> ix, iy = (a.ravel() for a in np.meshgrid(np.arange(6), np.arange(6)))
    >>> counts = np.ones((36, 12)); counts[14, -1] = 40
    >>> found = find_emerging_hot_spots(ix, iy, counts, cell_m=100, distance_m=100.0)
    >>> Pattern(int(found.pattern[14])).name
    'NEW_HOT'
    """
    gi = space_time_gi_star(
        ix,
        iy,
        counts,
        cell_m=cell_m,
        distance_m=distance_m,
        time_step_interval=time_step_interval,
        alpha=alpha,
    )
    trend = mann_kendall(gi.z)
    pattern = classify_patterns(gi.significance, trend.z, trend.p, alpha=alpha)
    return EmergingHotSpots(gi=gi, trend=trend, pattern=pattern)
