from __future__ import annotations

import warnings

import numpy as np
import pytest
from esda.getisord import G_Local
from esda.moran import Moran
from hypothesis import given, settings
from hypothesis import strategies as st
from libpysal.weights import DistanceBand

from analysis.band import choose_distance_band, first_significant_peak, moran_z_by_distance
from analysis.hotspots import HotspotError, confidence_classes, gi_star
from tests.analysis.conftest import Snapped, full_rectangle


def esda_gi_star(
    ix: np.ndarray, iy: np.ndarray, count: np.ndarray, *, distance_m: float, **kwargs: object
) -> G_Local:
    centres = np.column_stack([ix, iy]) * 125.0 + 62.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal warns about islands and disconnected parts
        weights = DistanceBand(centres, threshold=distance_m, binary=True, silence_warnings=True)
        return G_Local(count.astype(float), weights, transform="B", star=True, **kwargs)


def random_study_area(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An irregular area (holes, ragged edges) in shuffled order, mostly empty cells."""
    rng = np.random.default_rng(seed)
    gx, gy = (a.ravel() for a in np.meshgrid(np.arange(-7, 31), np.arange(4, 27)))
    inside = rng.random(len(gx)) < 0.8
    gx, gy = gx[inside], gy[inside]
    count = rng.poisson(1.5, len(gx)) * (rng.random(len(gx)) < 0.4)
    count[(gx - 5) ** 2 + (gy - 12) ** 2 < 9] += rng.poisson(4, 1)  # one real hot spot
    order = rng.permutation(len(gx))
    return gx[order], gy[order], count[order]


# -- known answers --------------------------------------------------------------------------


def test_a_lone_busy_cell_by_hand() -> None:
    # 25 cells, one holding 9 events: mean 0.36, s² = 81/25 - 0.36² = 3.1104, band of the centre
    # 5 cells, z = (9 - 0.36·5) / (sqrt(3.1104)·sqrt(5·20/24)) = 7.2 / 3.6 = 2.
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(5), np.arange(5)))
    count = np.where((ix == 2) & (iy == 2), 9, 0)
    result = gi_star(ix, iy, count, cell_m=125, distance_m=125.0)
    assert result.z[12] == pytest.approx(2.0, abs=1e-12)
    assert result.neighbours[12] == 5 and result.neighbours[0] == 3
    # the corner cell (2 neighbours + itself, all empty): (0 - 0.36·3) / (1.7636·sqrt(3·22/24))
    assert result.z[0] == pytest.approx(-1.08 / (np.sqrt(3.1104) * np.sqrt(66 / 24)), abs=1e-12)
    assert result.p_norm[12] == pytest.approx(0.0455003, abs=1e-6)


def test_classes_follow_the_arcgis_confidence_levels() -> None:
    z = np.array([3.0, 2.0, 1.7, 1.0, -2.7, -1.7])
    p = np.array([0.0027, 0.0455, 0.0891, 0.3173, 0.0069, 0.0891])
    classes, adjusted = confidence_classes(z, p, fdr=False)
    assert classes.tolist() == [3, 2, 1, 0, -3, -1]
    assert adjusted.tolist() == p.tolist()


def test_fdr_adjusts_by_benjamini_hochberg() -> None:
    # Sorted p 0.001, 0.008, 0.039, 0.041, 0.6 of m = 5: adjusted m/rank·p, made monotone:
    # 0.005, 0.02, 0.05125, 0.05125, 0.6.
    p = np.array([0.041, 0.001, 0.6, 0.008, 0.039])
    classes, adjusted = confidence_classes(np.ones(5), p, fdr=True)
    assert adjusted == pytest.approx([0.05125, 0.005, 0.6, 0.02, 0.05125])
    assert classes.tolist() == [1, 3, 0, 2, 1]


@pytest.mark.parametrize("seed", [1, 2])
def test_moran_z_by_distance_matches_esda(seed: int) -> None:
    ix, iy, count = random_study_area(seed)
    distances = [180.0, 300.0, 625.0]
    ours = moran_z_by_distance(ix, iy, count, cell_m=125, distances_m=distances)
    centres = np.column_stack([ix, iy]) * 125.0 + 62.5
    for distance, z in zip(distances, ours, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            weights = DistanceBand(centres, threshold=distance, binary=True, silence_warnings=True)
            theirs = Moran(count.astype(float), weights, transformation="B", permutations=0)
        assert z == pytest.approx(theirs.z_norm, abs=1e-9)


def test_the_default_band_is_the_first_significant_peak_and_reports_outliers() -> None:
    ix, iy, count = random_study_area(1)
    band = choose_distance_band(ix, iy, count, cell_m=125, study_extent_m=125 * 23)
    z = np.array(list(band.moran_z.values()))
    peak = first_significant_peak(z)
    if band.rule_code == "first_peak":
        assert peak is not None and band.distance_m == list(band.moran_z)[peak]
    else:
        assert peak is None
    assert band.distance_m <= band.bound_m == round(125 * 23 / 10)
    # a lone far report is counted, not allowed to stretch the band
    lone_ix, lone_iy = np.append(ix, 200), np.append(iy, 200)
    lone = choose_distance_band(
        lone_ix, lone_iy, np.append(count, 1), cell_m=125, study_extent_m=125 * 23
    )
    assert lone.isolated_cells >= 1 and lone.distance_m <= lone.bound_m
    assert lone.start_m == 125.0  # the far cell is a locational outlier, set aside


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"distance_m": -5.0}, "positive"),
        ({"distance_m": float("nan")}, "positive"),
        ({"count": [0, 0, 0]}, "no events"),
        ({"ix": [0, 0, 1]}, "more than once"),
        ({"count": [1, -1, 0]}, "negative"),
        ({"count": [1, 2]}, "same length"),
        ({"permutations": -1}, "zero or more"),
    ],
)
def test_bad_input_is_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"ix": [0, 1, 2], "iy": [0, 0, 0], "count": [1, 0, 3]}
    options: dict[str, object] = {"cell_m": 125, "distance_m": 200.0}
    for key, value in change.items():
        (args if key in args else options)[key] = value
    with pytest.raises(HotspotError, match=message):
        gi_star(args["ix"], args["iy"], args["count"], **options)  # type: ignore[arg-type]


# -- esda as the oracle --------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("distance_m", [125.0, 180.0, 300.0, 625.0, 900.0])
def test_z_scores_match_esda_on_irregular_grids(seed: int, distance_m: float) -> None:
    ix, iy, count = random_study_area(seed)
    ours = gi_star(ix, iy, count, cell_m=125, distance_m=distance_m)
    theirs = esda_gi_star(ix, iy, count, distance_m=distance_m, permutations=0)
    assert np.max(np.abs(ours.z - theirs.Zs)) < 1e-9
    assert np.max(np.abs(ours.p_norm - 2 * theirs.p_norm)) < 1e-9
    assert ours.neighbours.tolist() == np.asarray(theirs.w.sparse.sum(axis=1)).ravel().tolist()


def test_z_scores_match_esda_on_boston_needle_pickups(boston: Snapped) -> None:
    ix, iy, count = full_rectangle(boston.cells)
    ours = gi_star(ix, iy, count, cell_m=125, distance_m=500.0)
    theirs = esda_gi_star(ix, iy, count, distance_m=500.0, permutations=0)
    assert len(ix) > 5000  # a real, mostly empty study area
    assert np.max(np.abs(ours.z - theirs.Zs)) < 1e-9


def test_permutation_p_values_agree_with_esda_within_sampling_noise() -> None:
    ix, iy, count = random_study_area(3)
    ours = gi_star(ix, iy, count, cell_m=125, distance_m=300.0, permutations=999, seed=7)
    theirs = esda_gi_star(ix, iy, count, distance_m=300.0, permutations=999, seed=7)
    assert ours.p_sim is not None
    difference = np.abs(ours.p_sim - theirs.p_sim)
    # each pseudo p has a sampling sd of at most sqrt(0.25 / 999) ≈ 0.016
    assert difference.mean() < 0.02 and difference.max() < 0.1
    # the p behind the classes counts ties on both sides, so it is never below esda's
    assert (ours.p >= np.minimum(1.0, 2 * ours.p_sim) - 1e-12).all()


def test_permutations_do_not_call_empty_quiet_corners_significant() -> None:
    # Most neighbourhoods are empty, so most randomizations of an empty one are empty too:
    # a tie, not evidence. esda's folded p says 0.001 here; the classes must not.
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(30), np.arange(30)))
    count = np.where((ix < 4) & (iy < 4), 6, 0)
    result = gi_star(ix, iy, count, cell_m=125, distance_m=180.0, permutations=999, seed=1)
    classes, _ = confidence_classes(result.z, result.p)
    far_corner = (ix == 29) & (iy == 29)
    assert result.p_sim is not None and result.p_sim[far_corner][0] == 0.001
    assert classes[far_corner][0] == 0
    assert (classes[(ix < 3) & (iy < 3)] >= 1).all()  # the busy block is still hot


def test_permutations_are_the_conditional_randomization_exactly() -> None:
    """The O(cells) counting equals drawing each cell's neighbours one by one."""
    ix, iy, count = random_study_area(4)
    order = np.lexsort((ix, iy))
    ix, iy, count = ix[order], iy[order], count[order]  # the function's own canonical order
    permutations, seed = 99, 11
    result = gi_star(
        ix, iy, count, cell_m=125, distance_m=300.0, permutations=permutations, seed=seed
    )
    values = count.astype(float)
    lag = gi_star(ix, iy, count, cell_m=125, distance_m=300.0).neighbours  # band sizes
    n, others = len(values), lag - 1
    rng = np.random.default_rng(seed)
    length = min(int(others.max()) + 1, n)
    drawn = [rng.choice(n, size=length, replace=False) for _ in range(permutations)]
    centres = np.column_stack([ix, iy]) * 125.0
    near = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1)) <= 300.0
    observed = near.astype(float) @ values - values
    expected = np.empty(n)
    for i in range(n):
        sims = np.array([values[[j for j in row if j != i][: others[i]]].sum() for row in drawn])
        larger = int((sims >= observed[i]).sum())
        expected[i] = (min(larger, permutations - larger) + 1) / (permutations + 1)
    assert result.p_sim is not None
    assert result.p_sim.tolist() == expected.tolist()


# -- invariants ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 10_000))
def test_results_do_not_depend_on_row_order(seed: int, shuffle: int) -> None:
    ix, iy, count = random_study_area(seed)
    order = np.random.default_rng(shuffle).permutation(len(ix))
    first = gi_star(ix, iy, count, cell_m=125, distance_m=300.0, permutations=19, seed=5)
    again = gi_star(
        ix[order], iy[order], count[order], cell_m=125, distance_m=300.0, permutations=19, seed=5
    )
    assert np.allclose(first.z[order], again.z, rtol=0, atol=1e-12)
    assert first.p_sim is not None and again.p_sim is not None
    assert first.p_sim[order].tolist() == again.p_sim.tolist()


def test_a_seed_repeats_and_another_seed_differs() -> None:
    ix, iy, count = random_study_area(5)
    runs = [
        gi_star(ix, iy, count, cell_m=125, distance_m=300.0, permutations=99, seed=s).p_sim
        for s in (1, 1, 2)
    ]
    assert runs[0] is not None and runs[1] is not None and runs[2] is not None
    assert runs[0].tolist() == runs[1].tolist()
    assert runs[0].tolist() != runs[2].tolist()


# -- real data -----------------------------------------------------------------------------


def test_boston_hot_spots_lie_in_the_neighbourhoods_with_most_reports(boston: Snapped) -> None:
    ix, iy, count = full_rectangle(boston.cells)
    band = choose_distance_band(ix, iy, count, cell_m=125, study_extent_m=125 * 60)
    result = gi_star(ix, iy, count, cell_m=125, distance_m=band.distance_m)
    classes, _ = confidence_classes(result.z, result.p)
    hot = {(x, y) for x, y, c in zip(ix, iy, classes, strict=True) if c >= 2}
    in_hot = np.array([(x, y) in hot for x, y in zip(boston.ix, boston.iy, strict=True)])
    busiest = set(boston.neighbourhood.value_counts().index[:5])
    from_busiest = boston.neighbourhood[in_hot].isin(busiest).mean()
    assert in_hot.sum() > 150  # a good share of the reports sit in significant hot cells
    assert from_busiest > 0.9  # and those are the neighbourhoods that report the most
    assert not (classes <= -2).any() or (count[classes <= -2] == 0).all()
