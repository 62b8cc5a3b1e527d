"""What issue 17 asks of the default band, measured: the share of hot cells with no events,
and whether planted hot spots are found. Shared by the acceptance tests and bench/bench_band.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.band import DistanceBand, choose_distance_band, moran_z_by_distance
from analysis.grid import IntArray
from analysis.hotspots import confidence_classes, gi_star, hot_spots_hold_events


@dataclass(frozen=True)
class BandCheck:
    distance_m: float
    rule: str
    gi_bin_hot: int  # cells Gi* alone classes hot at 95 % or more (ArcGIS's Gi_Bin >= 2)
    gi_bin_hot_empty: int  # of those, cells with no events in the window
    hot: int  # cells the service classes hot at 95 % or more (a hot spot holds events)
    hot_empty: int
    planted: int
    planted_found: int  # planted centres in or next to a cell the service classes hot
    gi_bin_planted_found: int  # the same, for Gi_Bin >= 2 alone

    @property
    def gi_bin_empty_share(self) -> float:
        return self.gi_bin_hot_empty / self.gi_bin_hot if self.gi_bin_hot else 0.0

    @property
    def empty_share(self) -> float:
        return self.hot_empty / self.hot if self.hot else 0.0


def check_band(
    ix: IntArray,
    iy: IntArray,
    count: IntArray,
    *,
    cell_m: int,
    planted: list[tuple[int, int]],
    study_extent_m: float = 0.0,
    band: DistanceBand | None = None,
) -> BandCheck:
    """Gi* at ``band`` (default: the service's rule), classes as the service draws them."""
    chosen = band or choose_distance_band(
        ix, iy, count, cell_m=cell_m, study_extent_m=study_extent_m
    )
    result = gi_star(ix, iy, count, cell_m=cell_m, distance_m=chosen.distance_m)
    gi_bin, _ = confidence_classes(result.z, result.p, fdr=True)
    classes, _ = hot_spots_hold_events(gi_bin, count)
    hot = classes >= 2
    found = _found(ix[hot], iy[hot], planted)
    return BandCheck(
        chosen.distance_m,
        chosen.rule,
        int((gi_bin >= 2).sum()),
        int(((gi_bin >= 2) & (count == 0)).sum()),
        int(hot.sum()),
        int((hot & (count == 0)).sum()),
        len(planted),
        found,
        _found(ix[gi_bin >= 2], iy[gi_bin >= 2], planted),
    )


def _found(hot_x: IntArray, hot_y: IntArray, planted: list[tuple[int, int]]) -> int:
    hot_cells = set(zip(hot_x.tolist(), hot_y.tolist(), strict=True))
    return sum(
        any((x + dx, y + dy) in hot_cells for dx in (-1, 0, 1) for dy in (-1, 0, 1))
        for x, y in planted
    )


def old_rule_band(
    ix: IntArray, iy: IntArray, count: IntArray, *, cell_m: int, study_extent_m: float
) -> DistanceBand:
    """The rule before issue 17, for the "before" numbers: the first peak of Moran's I z over
    20 bands from two cells to a fifth of the shorter side, else the strongest band."""
    lower = 2.0 * cell_m
    upper = max(lower, study_extent_m / 5.0)
    step = max(1, int(np.ceil((upper - lower) / cell_m / 20)))
    candidates = [float(d) for d in np.arange(lower, upper + 1e-9, step * cell_m)]
    z = moran_z_by_distance(ix, iy, count, cell_m=cell_m, distances_m=candidates)
    peaks = [i for i in range(1, len(z) - 1) if z[i - 1] < z[i] >= z[i + 1]]
    if peaks:
        return DistanceBand(candidates[peaks[0]], "old rule: first peak", 0, {})
    return DistanceBand(candidates[int(np.argmax(z))], "old rule: no peak, strongest band", 0, {})


@dataclass(frozen=True)
class City:
    ix: IntArray
    iy: IntArray
    count: IntArray
    cell_m: int
    shorter_side_m: float
    planted: list[tuple[int, int]]


def synthetic_city(
    *, events: int, seed: int, spots: int = 12, width_m: int = 24_000, height_m: int = 18_000
) -> City:
    """``events`` points on 125 m cells: 70 % in ``spots`` planted hot spots (Gaussian, 100 to
    250 m spread, unequal weights), 30 % a uniform background over the whole area (about one
    event a cell, so a third of the cells stay empty)."""
    rng = np.random.default_rng(seed)
    cell_m = 125
    margin = 1_000.0
    centres = np.column_stack(
        [
            rng.uniform(margin, width_m - margin, spots),
            rng.uniform(margin, height_m - margin, spots),
        ]
    )
    spread = rng.uniform(100.0, 250.0, spots)
    weight = rng.uniform(0.5, 1.5, spots)
    in_spots = events * 7 // 10
    which = rng.choice(spots, size=in_spots, p=weight / weight.sum())
    x = np.concatenate(
        [
            centres[which, 0] + rng.normal(0, spread[which]),
            rng.uniform(0, width_m, events - in_spots),
        ]
    )
    y = np.concatenate(
        [
            centres[which, 1] + rng.normal(0, spread[which]),
            rng.uniform(0, height_m, events - in_spots),
        ]
    )
    inside = (x >= 0) & (x < width_m) & (y >= 0) & (y < height_m)
    nx, ny = width_m // cell_m, height_m // cell_m
    flat = (y[inside] // cell_m).astype(np.int64) * nx + (x[inside] // cell_m).astype(np.int64)
    count = np.bincount(flat, minlength=nx * ny).astype(np.int64)
    gx, gy = (a.ravel() for a in np.meshgrid(np.arange(nx), np.arange(ny)))
    planted = [(int(cx // cell_m), int(cy // cell_m)) for cx, cy in centres]
    return City(
        gx.astype(np.int64),
        gy.astype(np.int64),
        count,
        cell_m,
        float(min(width_m, height_m)),
        planted,
    )
