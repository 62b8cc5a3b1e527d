"""EARS C1/C2/C3 on hand-computed series, invariants, and the minimum-count guard.

C1 and C2 are also checked against R's earsC (test_ears_r.py); C3 only here, against sums
worked out by hand, because earsC's C3 bound does not follow Hutwagner's definition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analysis.ears import (
    HISTORY_DAYS,
    EarsError,
    FloatArray,
    Method,
    detect_ears,
    ears_c1,
    ears_c2,
    ears_c3,
    guard_minimum_count,
)

METHODS: list[Method] = ["C1", "C2", "C3"]


def test_c1_on_a_hand_computed_series() -> None:
    # Days 0..6 = 1,2,1,2,1,2,1: mean 10/7; squared deviations 4·(3/7)² + 3·(4/7)² = 12/7;
    # sd = sqrt(12/7 / 6) = sqrt(2/7) = 0.534522 (above the 0.5 floor).
    # Day 7 = 3: C1 = (3 - 10/7) / 0.534522 = 1.571429 / 0.534522 = 2.939874.
    result = ears_c1([1, 2, 1, 2, 1, 2, 1, 3])
    assert result.expected[0, 7] == pytest.approx(10 / 7)
    assert result.sigma[0, 7] == pytest.approx(math.sqrt(2 / 7))
    assert result.statistic[0, 7] == pytest.approx(2.939874, abs=1e-6)
    assert not result.alarm[0, 7]  # below 3
    assert np.isnan(result.statistic[0, :7]).all()  # no full baseline yet
    assert not result.alarm[0, :7].any()


def test_c2_skips_the_two_guard_days() -> None:
    # Baseline for day 9 is days 0..6 (all 2): mean 2, sd 0 -> the floor 0.5.
    # Days 7 and 8 (a rise to 9) are the guard band: C2 on day 9 = (4 - 2) / 0.5 = 4.
    # C1 on day 9 sees the rise in its baseline (days 2..8 = 2,2,2,2,2,9,9): mean 4,
    # sd = sqrt((5·4 + 2·25) / 6) = sqrt(70/6) = 3.415650; C1 = 0.
    counts = [2, 2, 2, 2, 2, 2, 2, 9, 9, 4]
    c2 = ears_c2(counts)
    assert c2.statistic[0, 9] == pytest.approx(4.0)
    assert c2.sigma[0, 9] == 0.5
    assert c2.alarm[0, 9]
    assert np.isnan(c2.statistic[0, :9]).all()
    c1 = ears_c1(counts)
    assert c1.sigma[0, 9] == pytest.approx(math.sqrt(70 / 6))
    assert c1.statistic[0, 9] == pytest.approx(0.0)
    assert not c1.alarm[0, 9]


def test_thresholds_alarm_at_or_above_and_are_parameters() -> None:
    # Flat baseline of 1s: sigma = 0.5, so 2.5 gives exactly 3 and 2.4 gives 2.8.
    assert ears_c1([1] * 7 + [2.5]).alarm[0, 7]
    assert not ears_c1([1] * 7 + [2.4]).alarm[0, 7]
    assert ears_c1([1] * 7 + [2.4], threshold=2.8).alarm[0, 7]
    assert detect_ears([1] * 7 + [2.4], method="C1", threshold=2.8).alarm[0, 7]
    # min_sigma is the floor: with 0.25 the same day reads (2.4 - 1) / 0.25 = 5.6.
    assert ears_c1([1] * 7 + [2.4], min_sigma=0.25).statistic[0, 7] == pytest.approx(5.6)


def test_c3_floored_baseline_hand_sum() -> None:
    # Days 0..8 are all 2, so every C2 baseline (days 0..6, 1..7, 2..8) has mean 2, sd 0 -> 0.5.
    # C2: day 9 (y=3) = 2; day 10 (y=2) = 0; day 11 (y=3.5) = 3.
    # C3 day 11 = max(0, 2-1) + max(0, 0-1) + max(0, 3-1) = 1 + 0 + 2 = 3 -> alarm.
    result = ears_c3([2] * 9 + [3, 2, 3.5])
    assert result.statistic[0, 11] == pytest.approx(3.0)
    assert result.alarm[0, 11]
    assert np.isnan(result.statistic[0, :11]).all()  # C2 of day 9 is the first there is
    assert result.expected[0, 11] == 2.0  # the day's own C2 baseline
    assert result.sigma[0, 11] == 0.5


def test_c3_one_day_over_is_not_enough() -> None:
    # Days 0..8 alternate 0,2,...,0. Baselines: days 0..6 (0,2,0,2,0,2,0) mean 6/7;
    # days 1..7 mean 8/7; days 2..8 mean 6/7; each has sd sqrt(48/49·7/6) = sqrt(8/7) = 1.069045.
    # C2 day 9 (y=4) = (4 - 6/7) / 1.069045 = 2.939874 -> C2 alarms on its own;
    # C2 day 10 (y=1) = (1 - 8/7) / 1.069045 = -0.133631 -> contributes 0, not a negative;
    # C2 day 11 (y=1) = (1 - 6/7) / 1.069045 = 0.133631 -> below 1, contributes 0.
    # C3 day 11 = 1.939874 + 0 + 0 = 1.939874 < 2 -> no alarm.
    counts = [0, 2, 0, 2, 0, 2, 0, 2, 0, 4, 1, 1]
    assert ears_c2(counts).alarm[0, 9]
    result = ears_c3(counts)
    assert result.statistic[0, 11] == pytest.approx(1.939874, abs=1e-6)
    assert not result.alarm[0, 11]


def test_c3_persistent_moderate_rise() -> None:
    # Zeros for 9 days, then 1 each day: every C2 is (1 - 0) / 0.5 = 2 while the baseline
    # holds only zeros (days 9, 10, 11), so C3 = 3·(2-1) = 3 on day 11 although no single
    # day is far above normal. Day 12's baseline (days 3..9) holds one 1: mean 1/7,
    # sd = sqrt((6/49 + 36/49) / 6) = sqrt(1/7) = 0.377964 -> 0.5; C2 = (1 - 1/7)/0.5 = 1.714286;
    # C3 day 12 = 1 + 1 + 0.714286 = 2.714286.
    result = ears_c3([0] * 9 + [1, 1, 1, 1])
    assert result.statistic[0, 11] == pytest.approx(3.0)
    assert result.statistic[0, 12] == pytest.approx(2.714286, abs=1e-6)
    assert result.alarm[0, 11:].all()


def test_areas_are_independent_rows() -> None:
    counts = np.array([[2] * 9 + [3, 2, 3.5], [0, 2, 0, 2, 0, 2, 0, 2, 0, 4, 1, 1]])
    together = ears_c3(counts).statistic
    for row in range(2):
        np.testing.assert_array_equal(together[row], ears_c3(counts[row]).statistic[0])


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([1.0, float("nan")], "finite"),
        (np.zeros((2, 2, 2)), "areas x days"),
    ],
)
def test_bad_counts_are_refused(counts: object, message: str) -> None:
    with pytest.raises(EarsError, match=message):
        ears_c1(counts)  # type: ignore[arg-type]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(EarsError, match="min_sigma"):
        ears_c2([1] * 10, min_sigma=0.0)
    with pytest.raises(EarsError, match="C1, C2 or C3"):
        detect_ears([1] * 10, method="C4")  # type: ignore[arg-type]


def test_a_short_series_is_all_nan_without_alarm() -> None:
    result = ears_c3([5, 0, 9])
    assert np.isnan(result.statistic).all()
    assert not result.alarm.any()


series_tables = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(12, 40)),
    elements=st.integers(0, 30).map(float),
)


@given(counts=series_tables, method=st.sampled_from(METHODS))
def test_the_last_day_needs_only_its_history(counts: FloatArray, method: Method) -> None:
    full = detect_ears(counts, method=method)
    tail = detect_ears(counts[:, -HISTORY_DAYS[method] :], method=method)
    np.testing.assert_allclose(tail.statistic[:, -1], full.statistic[:, -1], rtol=1e-12)
    assert not np.isnan(tail.statistic[:, -1]).any()  # and that history is enough


@given(
    counts=series_tables,
    method=st.sampled_from(METHODS),
    shift=st.integers(-50, 50),
    scale=st.sampled_from([0.25, 2.0, 10.0]),
)
def test_statistics_ignore_shift_and_scale_with_the_floor(
    counts: FloatArray, method: Method, shift: int, scale: float
) -> None:
    base = detect_ears(counts, method=method).statistic
    shifted = detect_ears(counts + shift, method=method).statistic
    scaled = detect_ears(counts * scale, method=method, min_sigma=0.5 * scale).statistic
    np.testing.assert_allclose(shifted, base, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(scaled, base, rtol=1e-9, atol=1e-9)


@given(counts=series_tables)
def test_c3_is_the_three_day_sum_of_c2_excess(counts: FloatArray) -> None:
    c2 = ears_c2(counts).statistic
    c3 = ears_c3(counts).statistic
    days = counts.shape[1]
    for area in range(counts.shape[0]):
        for t in range(11, days):
            expected = sum(max(0.0, c2[area, s] - 1.0) for s in (t - 2, t - 1, t))
            assert c3[area, t] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_minimum_count_guard() -> None:
    alarm = np.array([[True, True, False, True]])
    counts = np.array([[1, 3, 5, 2]])
    np.testing.assert_array_equal(
        guard_minimum_count(alarm, counts, minimum=3), [[False, True, False, False]]
    )
    levels = np.array([2, 1, 2], dtype=np.int64)  # EWMA levels: red, yellow, red
    guarded = guard_minimum_count(levels, [4, 4, 3], minimum=4)
    np.testing.assert_array_equal(guarded, [2, 1, 0])
    assert guarded.dtype == np.int64
    with pytest.raises(EarsError, match="same shape"):
        guard_minimum_count(alarm, [1, 2], minimum=1)


def test_guarded_c1_stays_quiet_on_a_single_event() -> None:
    # Seven empty days then two events: C1 = (2 - 0) / 0.5 = 4 -> alarm; three: 6 -> alarm.
    # With a minimum count of 3 the day with two events no longer alarms.
    counts = np.array([[0] * 7 + [2], [0] * 7 + [3]], dtype=np.float64)
    result = ears_c1(counts)
    assert result.alarm[:, 7].all()
    guarded = guard_minimum_count(result.alarm, counts, minimum=3)
    np.testing.assert_array_equal(guarded[:, 7], [False, True])
