from __future__ import annotations

import ast
import warnings
from pathlib import Path

import numpy as np
import pymannkendall
import pytest
from esda.getisord import G_Local
from hypothesis import given, settings
from hypothesis import strategies as st
from libpysal.weights import W
from scipy import stats

from analysis import emerging
from analysis.emerging import (
    PEER_NAMES,
    EmergingError,
    Pattern,
    benjamini_hochberg,
    classify_patterns,
    find_emerging_hot_spots,
    mann_kendall,
    space_time_gi_star,
)
from analysis.hotspots import gi_star

CELL_M = 100


def block(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    return ix.ravel(), iy.ravel()


def esda_space_time_gi(
    ix: np.ndarray, iy: np.ndarray, cube: np.ndarray, *, distance_m: float, interval: int
) -> np.ndarray:
    """esda's Gi* over every bin with ArcGIS's space-time neighbourhood, built by brute force."""
    cells, steps = cube.shape
    neighbours: dict[int, list[int]] = {}
    for cell in range(cells):
        near = np.flatnonzero(np.hypot(ix - ix[cell], iy - iy[cell]) * CELL_M <= distance_m)
        for step in range(steps):
            ids = [
                other * steps + earlier
                for other in near
                for earlier in range(max(0, step - interval), step + 1)
                if (int(other), earlier) != (cell, step)
            ]
            neighbours[cell * steps + step] = ids
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands and asymmetry are meant
        weights = W(neighbours, silence_warnings=True)
        result = G_Local(cube.ravel(), weights, transform="B", star=True, permutations=0)
    return np.asarray(result.Zs).reshape(cells, steps)


# -- space-time Gi* ---------------------------------------------------------------------------


def test_one_step_is_the_ordinary_gi_star_of_hotspots_and_esda() -> None:
    rng = np.random.default_rng(3)
    ix, iy = block(9, 7)
    count = rng.poisson(1.2, len(ix)) * (rng.random(len(ix)) < 0.5)
    ours = space_time_gi_star(ix, iy, count[:, None], cell_m=CELL_M, distance_m=150.0)
    spatial = gi_star(ix, iy, count, cell_m=CELL_M, distance_m=150.0)
    theirs = esda_space_time_gi(ix, iy, count[:, None], distance_m=150.0, interval=1)
    np.testing.assert_allclose(ours.z[:, 0], spatial.z, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.z, theirs, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("interval", "distance_m"), [(0, 100.0), (1, 150.0), (3, 220.0)])
def test_space_time_z_matches_esda_on_the_whole_cube(interval: int, distance_m: float) -> None:
    rng = np.random.default_rng(interval)
    ix, iy = block(6, 5)
    keep = rng.random(len(ix)) < 0.85  # a ragged study area
    ix, iy = ix[keep], iy[keep]
    cube = rng.poisson(0.8, (len(ix), 7)).astype(float)
    cube[3, 4:] += 5
    ours = space_time_gi_star(
        ix, iy, cube, cell_m=CELL_M, distance_m=distance_m, time_step_interval=interval
    )
    theirs = esda_space_time_gi(ix, iy, cube, distance_m=distance_m, interval=interval)
    np.testing.assert_allclose(ours.z, theirs, rtol=0, atol=1e-9)


def test_neighbourhood_counts_bins_within_the_band_and_previous_steps() -> None:
    ix, iy = block(3, 3)
    cube = np.zeros((9, 4))
    cube[0, 0] = 1
    gi = space_time_gi_star(ix, iy, cube, cell_m=CELL_M, distance_m=100.0, time_step_interval=2)
    # centre: 5 cells; steps 0..3 see 1, 2, 3, 3 steps; a corner: 3 cells.
    assert gi.neighbours[4].tolist() == [5, 10, 15, 15]
    assert gi.neighbours[0].tolist() == [3, 6, 9, 9]


def test_fdr_is_benjamini_hochberg_within_each_step() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((40, 5)) ** 3
    p[5, 2] = p[9, 2]  # ties keep their shared adjusted value
    ours = benjamini_hochberg(p)
    for step in range(p.shape[1]):
        expected = stats.false_discovery_control(p[:, step], method="bh")
        np.testing.assert_allclose(ours[:, step], expected, rtol=0, atol=1e-15)


def test_significance_uses_the_fdr_adjusted_p() -> None:
    rng = np.random.default_rng(5)
    ix, iy = block(10, 10)
    cube = rng.poisson(1.0, (100, 6)).astype(float)
    cube[44, :] += 15
    gi = space_time_gi_star(ix, iy, cube, cell_m=CELL_M, distance_m=150.0, alpha=0.05)
    adjusted = np.column_stack(
        [stats.false_discovery_control(gi.p[:, step], method="bh") for step in range(6)]
    )
    expected = np.sign(gi.z) * (adjusted <= 0.05)
    assert np.array_equal(gi.significance, expected)
    assert gi.significance[44, 1:].min() == 1  # step 0 has no earlier step to lean on
    # the raw p would call more bins significant than the adjusted one
    assert (gi.p <= 0.05).sum() > np.abs(gi.significance).sum()


@pytest.mark.parametrize(
    ("cube", "message"),
    [
        (np.zeros((4, 3)), "no events"),
        (np.full((4, 3), -1.0), "not negative"),
        (np.ones((3, 3)), "cells × time steps"),
        (np.ones(4), "cells × time steps"),
    ],
)
def test_bad_cubes_are_refused(cube: np.ndarray, message: str) -> None:
    ix, iy = block(2, 2)
    with pytest.raises(EmergingError, match=message):
        space_time_gi_star(ix, iy, cube, cell_m=CELL_M, distance_m=100.0)


def test_bad_options_and_repeated_cells_are_refused() -> None:
    ix, iy = block(2, 2)
    cube = np.ones((4, 3))
    for distance_m in (0.0, float("nan")):
        with pytest.raises(EmergingError, match="distance band"):
            space_time_gi_star(ix, iy, cube, cell_m=CELL_M, distance_m=distance_m)
    with pytest.raises(EmergingError, match="interval"):
        space_time_gi_star(ix, iy, cube, cell_m=CELL_M, distance_m=100.0, time_step_interval=-1)
    with pytest.raises(EmergingError, match="more than once"):
        space_time_gi_star([0, 0, 1, 1], [0, 0, 1, 0], cube, cell_m=CELL_M, distance_m=100.0)


# -- Mann-Kendall -----------------------------------------------------------------------------


def assert_matches_pymannkendall(rows: np.ndarray) -> None:
    ours = mann_kendall(rows)
    for row, values in enumerate(rows):
        theirs = pymannkendall.original_test(values)
        assert ours.s[row] == theirs.s
        assert ours.var_s[row] == pytest.approx(theirs.var_s, rel=0, abs=1e-9)
        assert ours.z[row] == pytest.approx(theirs.z, rel=0, abs=1e-9)
        assert ours.p[row] == pytest.approx(theirs.p, rel=0, abs=1e-9)
        assert ours.tau[row] == pytest.approx(theirs.Tau, rel=0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 40).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(-3, 3).map(float) | st.floats(-5, 5), min_size=n, max_size=n),
            min_size=1,
            max_size=6,
        )
    )
)
def test_mann_kendall_equals_pymannkendall(rows: list[list[float]]) -> None:
    assert_matches_pymannkendall(np.array(rows))


def test_mann_kendall_on_tied_random_series_and_constant_rows() -> None:
    rng = np.random.default_rng(11)
    rows = rng.integers(0, 4, (50, 52)).astype(float)
    rows[0] = 2.0  # all tied: S = 0, variance 0, z = 0, p = 1
    assert_matches_pymannkendall(rows)
    result = mann_kendall(rows[:1])
    assert (result.z[0], result.p[0]) == (0.0, 1.0)


def test_mann_kendall_by_hand() -> None:
    # 1, 3, 2, 2: pairs (1,3)+ (1,2)+ (1,2)+ (3,2)- (3,2)- (2,2)0 -> S = 1;
    # one tie of 2: var = (4·3·13 - 2·1·9) / 18 = 138 / 18; z = 0.
    result = mann_kendall([[1.0, 3.0, 2.0, 2.0]])
    assert result.s[0] == 1 and result.var_s[0] == pytest.approx(138 / 18)
    assert result.z[0] == 0.0 and result.tau[0] == pytest.approx(1 / 6)


# -- the 17 patterns --------------------------------------------------------------------------

UP, FLAT, DOWN = 1, 0, -1


def rows_of(text: str) -> list[int]:
    return [{"H": 1, "C": -1, ".": 0}[mark] for mark in text]


# (bins oldest first, trend direction, the pattern ArcGIS's definitions give)
TABLE: list[tuple[str, int, Pattern]] = [
    ("..........", FLAT, Pattern.NONE),
    ("...H......", FLAT, Pattern.NONE),  # hot once, long ago: no pattern
    (".........H", FLAT, Pattern.NEW_HOT),  # a single hot step at the end
    ("........HH", UP, Pattern.CONSECUTIVE_HOT),
    (".HHHHHHHHH", UP, Pattern.INTENSIFYING_HOT),  # 90 %, final hot, rising
    ("HHHHHHHHHH", FLAT, Pattern.PERSISTENT_HOT),
    ("HHHHHHHHH.", FLAT, Pattern.HISTORICAL_HOT),  # 90 % but not hot now
    (".HHHHHHHHH", DOWN, Pattern.DIMINISHING_HOT),
    ("H..H.....H", FLAT, Pattern.SPORADIC_HOT),
    ("HH.HHH.HHH", UP, Pattern.SPORADIC_HOT),  # 80 %: on and off, not intensifying
    ("C....C...H", FLAT, Pattern.OSCILLATING_HOT),
    ("CCCCC....H", UP, Pattern.OSCILLATING_HOT),  # cold then hot
    ("CCCCCCCHHH", UP, Pattern.OSCILLATING_HOT),  # cold then a hot run
    (".........C", FLAT, Pattern.NEW_COLD),
    ("......CCCC", DOWN, Pattern.CONSECUTIVE_COLD),
    ("CCCCCCCCCC", DOWN, Pattern.INTENSIFYING_COLD),
    ("CCCCCCCCCC", FLAT, Pattern.PERSISTENT_COLD),
    ("C.CCCCCCCC", UP, Pattern.DIMINISHING_COLD),
    (".C...C.C.C", FLAT, Pattern.SPORADIC_COLD),
    ("HH.......C", DOWN, Pattern.OSCILLATING_COLD),
    ("CCCCCCCCC.", UP, Pattern.HISTORICAL_COLD),
    # hot for 90 % and cold now (and the mirror): the final step's pattern, not historical
    ("HHHHHHHHHC", DOWN, Pattern.OSCILLATING_COLD),
    ("CCCCCCCCCH", UP, Pattern.OSCILLATING_HOT),
]


def classify_table(table: list[tuple[str, int, Pattern]]) -> list[Pattern]:
    significance = np.array([rows_of(bins) for bins, _, _ in table])
    direction = np.array([trend for _, trend, _ in table], dtype=float)
    trend_p = np.where(direction == 0, 0.5, 0.001)
    return [
        Pattern(int(code))
        for code in classify_patterns(significance, direction, trend_p, alpha=0.05)
    ]


def test_every_pattern_by_the_documentation() -> None:
    assert classify_table(TABLE) == [expected for _, _, expected in TABLE]
    assert {expected for _, _, expected in TABLE} == set(Pattern)


@pytest.mark.parametrize(
    ("hot", "final", "trend", "expected"),
    [
        (89, True, UP, Pattern.SPORADIC_HOT),  # 89 %: not enough for intensifying
        (90, True, UP, Pattern.INTENSIFYING_HOT),  # 90 % is "at least 90 percent"
        (90, True, FLAT, Pattern.PERSISTENT_HOT),
        (89, False, FLAT, Pattern.NONE),
        (90, False, FLAT, Pattern.HISTORICAL_HOT),
    ],
)
def test_the_90_percent_rule(hot: int, final: bool, trend: int, expected: Pattern) -> None:
    # 100 steps; a gap keeps fewer than 90 % hot steps from reading as one final run
    marks = (
        ["H"] + ["."] * (100 - hot) + ["H"] * (hot - 1)
        if final
        else ["H"] * hot + ["."] * (100 - hot)
    )
    row = "".join(marks)
    assert row.count("H") == hot and (row[-1] == "H") == final
    assert classify_table([(row, trend, expected)]) == [expected]


def test_peer_names_cover_every_pattern_once() -> None:
    assert set(PEER_NAMES) == set(Pattern)
    assert len(set(PEER_NAMES.values())) == len(PEER_NAMES)


# -- end to end ---------------------------------------------------------------------------------


def test_a_planted_new_and_a_planted_rising_hot_spot_are_found() -> None:
    rng = np.random.default_rng(1)
    ix, iy = block(12, 12)
    steps = 20
    cube = rng.poisson(1.0, (len(ix), steps)).astype(float)
    new_cell = int(np.flatnonzero((ix == 2) & (iy == 2))[0])
    rising = int(np.flatnonzero((ix == 9) & (iy == 8))[0])
    cube[new_cell, -1] += 40
    cube[rising] += np.linspace(15, 45, steps).round()
    found = find_emerging_hot_spots(ix, iy, cube, cell_m=CELL_M, distance_m=100.0)
    assert Pattern(int(found.pattern[new_cell])) == Pattern.NEW_HOT
    assert Pattern(int(found.pattern[rising])) == Pattern.INTENSIFYING_HOT
    assert found.trend.z[rising] > 0 and found.trend.p[rising] < 0.05
    far = (np.abs(ix - 2) > 2) & (np.abs(ix - 9) > 2)
    assert np.all(found.pattern[far] <= 0)  # no hot pattern far from both


def test_peer_names_are_marked_for_gettext() -> None:
    # xgettext/pybabel extract only literal strings inside N_(...): every name must be one.
    source = ast.parse(Path(emerging.__file__).read_text(encoding="utf-8"))
    table = next(
        node.value
        for node in ast.walk(source)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "PEER_NAMES"
    )
    assert isinstance(table, ast.Dict) and len(table.values) == len(Pattern)
    for value in table.values:
        assert isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
        assert value.func.id == "N_" and isinstance(value.args[0], ast.Constant)
    assert emerging.N_("getting worse") == "getting worse"


def test_patterns_do_not_depend_on_cell_order() -> None:
    rng = np.random.default_rng(8)
    ix, iy = block(9, 9)
    cube = rng.poisson(1.0, (81, 15)).astype(float)
    cube[40, 8:] += 12
    order = rng.permutation(81)
    ours = find_emerging_hot_spots(ix, iy, cube, cell_m=CELL_M, distance_m=150.0)
    moved = find_emerging_hot_spots(
        ix[order], iy[order], cube[order], cell_m=CELL_M, distance_m=150.0
    )
    assert np.array_equal(moved.pattern, ours.pattern[order])
    np.testing.assert_allclose(moved.gi.z, ours.gi.z[order], rtol=0, atol=1e-12)
    assert ours.pattern[40] > 0
