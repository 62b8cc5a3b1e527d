"""The default Gi* band: ArcGIS's Optimized Hot Spot Analysis rule on known grids, its bound,
and issue 17's acceptance on Boston 2015 and a synthetic city of 100,000 events."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analysis.band import (
    BANDS_TRIED,
    MAX_SHARE_OF_SIDE,
    choose_distance_band,
    first_significant_peak,
    k_nearest_distance,
    moran_z_by_distance,
)
from analysis.hotspots import confidence_classes, gi_star, hot_spots_hold_events
from tests.analysis.band_acceptance import check_band, old_rule_band, synthetic_city
from tests.analysis.conftest import Snapped, full_rectangle

GX, GY = (a.ravel() for a in np.meshgrid(np.arange(10), np.arange(10)))
WIDE = 20_000.0  # a study side whose tenth (2 km) bounds nothing on a 10 × 10 grid


def test_a_trend_peaks_and_the_first_significant_peak_is_the_band() -> None:
    # Counts rising west to east: clustering grows with the band, peaks, then falls as the
    # band takes in the whole grid.
    band = choose_distance_band(GX, GY, GX, cell_m=125, study_extent_m=WIDE)
    # Beginning distance and increment are the cells' nearest-neighbour distance, one cell.
    assert (band.start_m, band.increment_m) == (125.0, 125.0)
    assert list(band.moran_z) == [125.0 * (i + 1) for i in range(BANDS_TRIED)]
    z = list(band.moran_z.values())
    assert z == pytest.approx(
        moran_z_by_distance(GX, GY, GX, cell_m=125, distances_m=list(band.moran_z)), abs=1e-4
    )
    peak = z.index(max(z))
    assert all(a < b for a, b in itertools.pairwise(z[: peak + 1]))  # rising to it
    assert (band.rule_code, band.distance_m) == ("first_peak", list(band.moran_z)[peak])
    assert band.distance_m == 750.0 and "first significant peak" in band.rule


def test_no_significant_peak_falls_back_to_the_average_distance_to_k_neighbours() -> None:
    # One busy corner cell: the curve has a bump at 1,125 m but z never passes 1.65.
    count = np.where((GX == 0) & (GY == 0), 5, 0)
    band = choose_distance_band(GX, GY, count, cell_m=125, study_extent_m=WIDE)
    z = np.array(list(band.moran_z.values()))
    assert z.max() < 1.65 and z[8] > z[7] and z[8] > z[9]  # a peak, not a significant one
    # By hand: N = 100 cells, K = 0.05·N = 5. The 5th nearest cell is a diagonal (√2 cells)
    # away for the 96 cells off the corners, and 2 cells away for the 4 corners.
    by_hand = 125.0 * (96 * np.sqrt(2) + 4 * 2) / 100
    assert band.rule_code == "k_nearest" and band.k_neighbours == 5
    assert by_hand == pytest.approx(179.706, abs=1e-3)
    assert band.distance_m == 180.0  # rounded up to whole metres
    assert "5 nearest cells" in band.rule


def test_k_is_kept_between_three_and_thirty_and_capped_at_one_standard_distance() -> None:
    row = np.column_stack([np.arange(40.0), np.zeros(40)])  # 40 cells in a row, 1 m apart
    distance, k, standard = k_nearest_distance(row)
    assert k == 3  # 0.05 · 40 = 2, raised to 3
    assert distance == pytest.approx((3 + 2 + 36 * 2 + 2 + 3) / 40)  # 3 and 2 at each end
    assert standard == pytest.approx(np.sqrt((40**2 - 1) / 12))
    big = np.column_stack([a.ravel() for a in np.meshgrid(np.arange(40.0), np.arange(40.0))])
    assert k_nearest_distance(big)[1] == 30  # 0.05 · 1,600 = 80, lowered to 30
    # A ring of 8 cells around an empty middle, 3 m across: the 3rd nearest cell of each is
    # farther on average than one standard distance, so the band is the standard distance.
    ring = np.array([(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2), (2, 2)], float)
    distance, _, standard = k_nearest_distance(ring)
    assert distance == pytest.approx((4 * np.sqrt(2) + 4 * 2) / 8)
    assert standard == pytest.approx(np.sqrt(6 / 8 * 2))  # each axis: six cells 1 m off
    assert distance > standard


def test_the_band_never_exceeds_a_tenth_of_the_study_areas_shorter_side() -> None:
    count = np.where((GX == 0) & (GY == 0), 5, 0)
    # The same grid as above, said to be a 1,250 m square: bands stop at 125 m, and the
    # 180 m fallback is cut to the bound.
    band = choose_distance_band(GX, GY, count, cell_m=125, study_extent_m=1250.0)
    assert band.bound_m == MAX_SHARE_OF_SIDE * 1250.0 == 125.0
    assert list(band.moran_z) == [125.0]
    assert (band.rule_code, band.distance_m) == ("k_nearest+bounded", 125.0)
    assert "cut to 125 m" in band.rule
    # A peak beyond the bound is never tried: the trend's 750 m peak, in a 5 km area.
    trend = choose_distance_band(GX, GY, GX, cell_m=125, study_extent_m=5000.0)
    assert max(trend.moran_z) <= trend.bound_m == 500.0
    assert trend.distance_m <= 500.0


def test_the_bound_is_never_below_the_beginning_distance() -> None:
    band = choose_distance_band(GX, GY, GX, cell_m=125, study_extent_m=300.0)
    assert band.bound_m == 125.0 and band.distance_m == 125.0


def test_a_peak_must_be_significant_and_interior() -> None:
    assert first_significant_peak(np.array([1.0, 1.6, 1.0])) is None  # below 1.65
    assert first_significant_peak(np.array([9.0, 5.0, 4.0])) is None  # falling from the start
    assert first_significant_peak(np.array([2.0, 3.0, 3.0, 1.0])) == 1  # a plateau's first


# -- acceptance (issue 17): hot cells rest on events, planted hot spots are found ---------


def test_a_synthetic_city_of_100k_events_finds_every_planted_hot_spot() -> None:
    city = synthetic_city(events=100_000, seed=17)
    assert int(city.count.sum()) > 95_000 and (city.count == 0).mean() > 0.25
    check = check_band(
        city.ix,
        city.iy,
        city.count,
        cell_m=city.cell_m,
        planted=city.planted,
        study_extent_m=city.shorter_side_m,
    )
    assert check.planted_found == check.planted == 12
    assert check.hot > 100
    assert check.empty_share <= 0.10
    assert check.gi_bin_empty_share <= 0.10  # here Gi* alone localises too
    old = old_rule_band(
        city.ix, city.iy, city.count, cell_m=city.cell_m, study_extent_m=city.shorter_side_m
    )
    assert check.distance_m < old.distance_m


def test_boston_hot_cells_hold_pickups_and_the_band_is_local(boston: Snapped) -> None:
    ix, iy, count = full_rectangle(boston.cells)
    side = 125.0 * min(np.ptp(ix) + 1, np.ptp(iy) + 1)
    check = check_band(ix, iy, count, cell_m=125, planted=[], study_extent_m=side)
    old = check_band(
        ix,
        iy,
        count,
        cell_m=125,
        planted=[],
        band=old_rule_band(ix, iy, count, cell_m=125, study_extent_m=side),
    )
    assert check.distance_m <= side / 10 and check.distance_m < old.distance_m
    assert check.hot >= 50 and check.empty_share <= 0.10
    # Gi* alone flags the empty ring around busy cells at any band, even one cell (125 m):
    # why the service does not call an empty cell a hot spot.
    assert check.gi_bin_empty_share < old.gi_bin_empty_share
    smallest = check_band(
        ix,
        iy,
        count,
        cell_m=125,
        planted=[],
        band=choose_distance_band(ix, iy, count, cell_m=125, study_extent_m=1250.0),
    )
    assert smallest.distance_m == 125.0 and smallest.gi_bin_empty_share > 0.10


def test_an_empty_cell_is_never_classed_hot_but_keeps_its_z() -> None:
    # One busy cell among empty ones: Gi* makes its four empty neighbours significant.
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(15), np.arange(15)))
    count = np.where((ix == 7) & (iy == 7), 40, 0)
    count[0] = 1
    result = gi_star(ix, iy, count, cell_m=125, distance_m=125.0)
    gi_bin, _ = confidence_classes(result.z, result.p)
    kept, changed = hot_spots_hold_events(gi_bin, count)
    ring = (np.abs(ix - 7) + np.abs(iy - 7)) == 1
    assert (gi_bin[ring] >= 2).all() and changed == 4
    assert (kept[ring] == 0).all() and kept[(ix == 7) & (iy == 7)][0] == gi_bin[112]
