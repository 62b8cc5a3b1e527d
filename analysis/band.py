"""The Gi* distance band: ArcGIS Pro's Optimized Hot Spot Analysis rule, bounded.

ArcGIS Pro, "How Optimized Hot Spot Analysis works", section *Scale of analysis*
(https://pro.arcgis.com/en/pro-app/latest/tool-reference/spatial-statistics/how-optimized-hot-spot-analysis-works.htm):

    "The Optimized Hot Spot Analysis tool looks for peak distances using Incremental Spatial
    Autocorrelation. If a peak distance is found, this distance becomes the scale for
    analysis. If multiple peak distances are found, the first peak distance is selected.
    When no peak distance is found, Optimized Hot Spot Analysis examines the spatial
    distribution of the features and computes the average distance that would yield K
    neighbors for each feature. K is computed as 0.05 * N, where N is the number of features
    in the Input Features layer. K will be adjusted so that it is never smaller than three
    or larger than 30. If the average distance that would yield K neighbors exceeds one
    standard distance, the scale of analysis will be set to one standard distance;
    otherwise, it will reflect the K neighbor average distance."

The incremental search takes Incremental Spatial Autocorrelation's defaults ("How
Incremental Spatial Autocorrelation works", same site): ten distance bands; the beginning
distance is the smallest distance at which every feature has at least one neighbour
(locational outliers, more than three standard deviations out, set aside); the increment is
the average distance to each feature's nearest neighbour; a peak counts when it is
statistically significant (z above 1.65). On our grid the features are the study cells,
empty ones included (ArcGIS's fishnet inside a bounding polygon), so both the beginning
distance and the increment are one cell. K, its bounds and the standard-distance cap agree with
Esri's own OptimizedHotSpotAnalysis.py (``knnDecision``). One difference: our curve is esda's
Moran's I z with binary weights and the normality assumption (tested against esda); ArcGIS
row-standardises and uses the randomisation variance. On a grid the weights differ only at the
area's edge, where cells have fewer neighbours.

The bound (ours, not ArcGIS's): the band never exceeds :data:`MAX_SHARE_OF_SIDE` of the
study region's shorter side. A Gi* neighbourhood that covers a good part of the region
compares each cell with a mean it largely makes up, and a busy centre then makes every cell
around it "hot", empty or not: the one-blob maps of issue 17. Bands past the bound are not
tried, and a fallback past it is cut to it; the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from analysis.grid import FloatArray, Raster, disk_offsets, disk_sum
from analysis.hotspots import study_arrays

BANDS_TRIED = 10  # Incremental Spatial Autocorrelation's default number of distance bands
PEAK_Z = 1.65  # a peak must be significant at 90 %, as ArcGIS filters them
K_SHARE, K_MIN, K_MAX = 0.05, 3, 30  # K = 0.05 · N, kept within 3..30
OUTLIER_SD = 3.0  # locational outliers: nearest neighbour beyond mean + 3 sd
#: The band never exceeds this share of the study region's shorter side: a disk of a tenth
#: of the side covers about 3 % of a square region, so a hot spot stays a place, not the town.
MAX_SHARE_OF_SIDE = 0.1


@dataclass(frozen=True)
class DistanceBand:
    distance_m: float
    rule: str  # which rule chose the band, and why, in a sentence
    isolated_cells: int  # cells with events and no other such cell within the band
    moran_z: dict[float, float]  # the global Moran's I z-score at each band tried
    rule_code: str = "first_peak"  # first_peak | k_nearest | standard_distance, "+bounded"
    start_m: float = 0.0
    increment_m: float = 0.0
    bound_m: float = 0.0
    k_neighbours: int | None = None


def moran_z_by_distance(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    count: npt.ArrayLike,
    *,
    cell_m: int,
    distances_m: list[float],
) -> FloatArray:
    """Global Moran's I z-score (normality assumption) for binary distance bands.

    Each band's weights are the disk without the cell itself, as in esda's ``Moran`` with
    libpysal ``DistanceBand(binary=True)`` and ``transformation="B"``.
    """
    cells_x, cells_y, values = study_arrays(ix, iy, count)
    raster = Raster.around(cells_x, cells_y)
    n = len(values)
    deviation = values - values.mean()
    painted = raster.paint(cells_x, cells_y, deviation)
    mask = raster.paint(cells_x, cells_y, 1.0)
    out = np.zeros(len(distances_m))
    for i, distance_m in enumerate(distances_m):
        offsets = disk_offsets(distance_m, cell_m)
        lag = raster.read(disk_sum(painted, offsets), cells_x, cells_y) - deviation
        links = raster.read(disk_sum(mask, offsets), cells_x, cells_y) - 1.0
        s0 = links.sum()
        if s0 == 0:
            continue
        moran = n / s0 * (deviation @ lag) / (deviation @ deviation)
        s1, s2 = 2.0 * s0, float((4.0 * links**2).sum())
        expected = -1.0 / (n - 1)
        variance = (n * n * s1 - n * s2 + 3.0 * s0 * s0) / ((n * n - 1) * s0 * s0)
        out[i] = (moran - expected) / np.sqrt(variance - expected**2)
    return out


@dataclass(frozen=True)
class _Spacing:
    start_m: float
    increment_m: float


def _spacing(centres: FloatArray) -> _Spacing:
    """Beginning distance and increment, from each feature's nearest-neighbour distance."""
    nearest = cKDTree(centres).query(centres, k=2)[0][:, 1]
    usual = nearest <= nearest.mean() + OUTLIER_SD * nearest.std()
    return _Spacing(float(nearest[usual].max()), float(nearest[usual].mean()))


def first_significant_peak(z: FloatArray) -> int | None:
    """Index of the first band whose z rises above the band before it, is not below the one
    after, and is significant (z > 1.65); None when the curve has no such peak.

    >>> first_significant_peak(np.array([2.0, 5.0, 4.0, 6.0, 1.0]))
    1
    >>> first_significant_peak(np.array([1.0, 1.5, 1.2, 3.0, 2.0])), first_significant_peak(
    ...     np.array([3.0, 4.0, 5.0]))
    (3, None)
    """
    for i in range(1, len(z) - 1):
        if z[i - 1] < z[i] >= z[i + 1] and z[i] > PEAK_Z:
            return i
    return None


def k_nearest_distance(centres: FloatArray) -> tuple[float, int, float]:
    """ArcGIS's fallback: the average distance to each feature's K-th nearest neighbour
    (K = 0.05·N within 3..30), and one standard distance of the features.

    >>> gx, gy = np.meshgrid(np.arange(4.0), np.arange(1.0))  # four cells in a row, 1 m apart
    >>> distance, k, standard = k_nearest_distance(np.column_stack([gx.ravel(), gy.ravel()]))
    >>> k, distance, round(standard, 4)  # K = 3 neighbours: 3, 2, 2, 3 m away
    (3, 2.5, 1.118)
    """
    n = len(centres)
    k = int(min(max(int(K_SHARE * n), K_MIN), K_MAX, n - 1))
    kth = cKDTree(centres).query(centres, k=k + 1)[0][:, k]
    spread = centres - centres.mean(axis=0)
    standard = float(np.sqrt((spread**2).sum(axis=1).mean()))
    return float(kth.mean()), k, standard


def choose_distance_band(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    count: npt.ArrayLike,
    *,
    cell_m: int,
    study_extent_m: float,
) -> DistanceBand:
    """The default Gi* band: ArcGIS Pro's Optimized Hot Spot Analysis rule (module docstring),
    over bands no wider than a tenth of ``study_extent_m`` (the study region's shorter side).

    Examples
    --------
    Blobs about six cells across, scattered over a 60 × 60 area:

    >>> rng = np.random.default_rng(0)
    >>> gx, gy = (a.ravel() for a in np.meshgrid(np.arange(60), np.arange(60)))
    >>> blobs = rng.integers(0, 60, (8, 2))
    >>> near = np.min(np.hypot(gx[:, None] - blobs[:, 0], gy[:, None] - blobs[:, 1]), axis=1)
    >>> count = rng.poisson(np.where(near < 3, 4.0, 0.05))
    >>> band = choose_distance_band(gx, gy, count, cell_m=100, study_extent_m=6000)
    >>> band.rule_code, 200 <= band.distance_m <= 600
    ('first_peak', True)
    """
    cells_x, cells_y, values = study_arrays(ix, iy, count)
    centres = np.column_stack([cells_x, cells_y]).astype(np.float64) * cell_m
    spacing = _spacing(centres)
    bound_m = max(spacing.start_m, round(MAX_SHARE_OF_SIDE * study_extent_m))
    tried = [spacing.start_m + i * spacing.increment_m for i in range(BANDS_TRIED)]
    candidates = [d for d in tried if d <= bound_m + 1e-9]
    z = moran_z_by_distance(cells_x, cells_y, values, cell_m=cell_m, distances_m=candidates)
    peak = first_significant_peak(z)
    k: int | None = None
    if peak is not None:
        chosen, code = candidates[peak], "first_peak"
        rule = (
            f"first significant peak of spatial autocorrelation (Moran's I z {z[peak]:.1f}) "
            f"over bands from {spacing.start_m:g} m in steps of {spacing.increment_m:g} m"
        )
    else:
        average, k, standard = k_nearest_distance(centres)
        chosen = float(np.ceil(min(average, standard)))  # whole metres, rounded up as ArcGIS does
        code, rule = (
            "k_nearest",
            (
                f"no significant autocorrelation peak over bands from {spacing.start_m:g} to "
                f"{candidates[-1]:g} m: the average distance to each cell's {k} nearest cells"
            ),
        )
        if average > standard:
            code = "standard_distance"
            rule += f" was more than one standard distance, so {chosen:.0f} m"
        else:
            rule += f", {chosen:.0f} m"
    if chosen > bound_m + 1e-9:
        chosen, code = bound_m, code + "+bounded"
        rule += f"; cut to {bound_m:.0f} m, a tenth of the study area's shorter side"
    return DistanceBand(
        distance_m=float(chosen),
        rule=rule,
        isolated_cells=_isolated(cells_x, cells_y, values, cell_m, chosen),
        moran_z={d: round(float(v), 4) for d, v in zip(candidates, z, strict=True)},
        rule_code=code,
        start_m=spacing.start_m,
        increment_m=spacing.increment_m,
        bound_m=bound_m,
        k_neighbours=k,
    )


def _isolated(
    cells_x: npt.NDArray[np.int64],
    cells_y: npt.NDArray[np.int64],
    values: FloatArray,
    cell_m: int,
    band_m: float,
) -> int:
    busy = values > 0
    if busy.sum() < 2:
        return 0
    centres = np.column_stack([cells_x[busy], cells_y[busy]]).astype(np.float64) * cell_m
    nearest = cKDTree(centres).query(centres, k=2)[0][:, 1]
    return int((nearest > band_m).sum())
