"""ESSENCE's EWMA: hand-computed fixtures, a line-by-line port as oracle, and invariants.

The port below follows Rnssp's ``ewma_loop`` (CDCgov/Rnssp, R/alert_ewma.R) statement by
statement with plain loops, one series at a time; ``analysis.ewma`` is vectorised over
areas and days, so agreement means the vectorisation kept the algorithm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from analysis.ears import EarsError, FloatArray
from analysis.ewma import EwmaLevel, detect_ewma, ewma_history_days
from tests.analysis.daily_series import boston_daily_counts, synthetic_daily_counts


def port_ewma_loop(
    y: list[float],
    *,
    baseline_days: int = 28,
    min_baseline_days: int = 11,
    guard_days: int = 2,
    smoothing: tuple[float, ...] = (0.4, 0.9),
) -> tuple[list[float], list[float], list[float]]:
    """Rnssp's ewma_loop, 0-based, for any number of smoothers: (expected, statistic, p)."""
    n_days, g = len(y), guard_days
    expected = [math.nan] * n_days
    best_stat = [math.nan] * n_days
    best_p = [math.nan] * n_days
    z = {w: [math.nan] * n_days for w in smoothing}
    for w in smoothing:
        z[w][0] = y[0]
        for i0 in range(1, min_baseline_days + g):
            z[w][i0] = w * y[i0] + (1 - w) * z[w][i0 - 1]
    ndx_baseline = list(range(0, min_baseline_days - 1))  # R's 1:(min_baseline - 1), 0-based
    for i in range(min_baseline_days + g, n_days):
        if len(ndx_baseline) == 0 or ndx_baseline[-1] + 1 < baseline_days:
            ndx_baseline = [-1, *ndx_baseline]  # pad until the full baseline
        ndx_baseline = [k + 1 for k in ndx_baseline]
        n = len(ndx_baseline)
        n_df = n - 1
        y_baseline = [y[k] for k in ndx_baseline]
        mean = sum(y_baseline) / n
        sigma = math.sqrt(sum((v - mean) ** 2 for v in y_baseline) / (n - 1))
        expected[i] = mean
        ucl_alert = round(float(stats.t.ppf(1 - 0.01, n_df)), 5)
        ucl_warning = round(float(stats.t.ppf(1 - 0.05, n_df)), 5)
        for w in smoothing:
            correction = math.sqrt(
                (w / (2 - w)) + (1 / n) - 2 * (1 - w) ** (g + 1) * ((1 - (1 - w) ** n) / n)
            )
            min_sigma = (w / ucl_warning) * (1 + 0.5 * (1 - w) ** 2)
            constant = (0.1289 - (0.2414 - 0.1826 * (1 - w) ** 4) * math.log(10 * 0.05)) * (
                w / ucl_warning
            )
            sigma_w = max(min_sigma, sigma * correction + constant)
            z[w][i] = w * y[i] + (1 - w) * z[w][i - 1]
            test_stat = (z[w][i] - mean) / sigma_w
            if abs(test_stat) > ucl_alert:
                z[w][i] = mean + math.copysign(1, test_stat) * ucl_alert * sigma_w
            p_val = 1 - float(stats.t.cdf(test_stat, n_df))
            if math.isnan(best_p[i]) or p_val < best_p[i]:
                best_p[i], best_stat[i] = p_val, test_stat
    return expected, best_stat, best_p


# Hand fixtures: baseline exactly 3 days, guard 1, one smoother w = 0.5, so the first day
# judged is day 4 and Student's t has 2 degrees of freedom, whose upper tail is closed-form:
#   p(t) = 1/2 - t / (2·sqrt(2 + t²)).
# u95 = round(qt(0.95, 2), 5) = 2.91999; u99 = round(qt(0.99, 2), 5) = 6.96456.
# Variance factor k = sqrt(0.5/1.5 + 1/3 - 2·0.5²·(1 - 0.5³)/3) = sqrt(1.5625/3) = 0.721688.
# Floor = (0.5/2.91999)·(1 + 0.5·0.25) = 0.192638.
# Additive term = (0.1289 - (0.2414 - 0.1826·0.0625)·ln 0.5)·(0.5/2.91999) = 0.049369.
HAND = {"baseline_days": 3, "min_baseline_days": 3, "guard_days": 1, "smoothing": (0.5,)}


def test_hand_flat_series_uses_the_floor() -> None:
    # 2,2,2,2,2: z stays 2; day 4's baseline (days 0..2) has mean 2, sd 0;
    # sigma = max(0.192638, 0·k + 0.049369) = 0.192638; statistic 0 -> p = 1/2, no colour.
    result = detect_ewma([2, 2, 2, 2, 2], **HAND)  # type: ignore[arg-type]
    assert result.expected[0, 4] == 2.0
    assert result.statistic[0, 4] == 0.0
    assert result.p_value[0, 4] == pytest.approx(0.5)
    assert result.level[0, 4] == EwmaLevel.NONE
    assert np.isnan(result.p_value[0, :4]).all()  # not judged before a baseline exists


def test_hand_spike_is_yellow_then_fades() -> None:
    # y = 1,3,2,2,7,2. z: 1, 2, 2, 2, 4.5 (= 0.5·7 + 0.5·2), 3.25 (= 0.5·2 + 0.5·4.5).
    # Day 4: baseline 1,3,2: mean 2, sd 1; sigma = 0.721688 + 0.049369 = 0.771057;
    #   t = 2.5 / 0.771057 = 3.242302; p = 0.5 - 3.242302/(2·sqrt(12.512523)) = 0.041699 -> yellow.
    # Day 5: baseline 3,2,2: mean 7/3, sd sqrt(1/3) = 0.577350;
    #   sigma = 0.577350·0.721688 + 0.049369 = 0.416667 + 0.049369 = 0.466036;
    #   t = (3.25 - 2.333333)/0.466036 = 1.966944; p = 0.094039 -> no colour.
    result = detect_ewma([1, 3, 2, 2, 7, 2], **HAND)  # type: ignore[arg-type]
    np.testing.assert_allclose(result.expected[0, 4:], [2.0, 7 / 3])
    np.testing.assert_allclose(result.statistic[0, 4:], [3.242302, 1.966944], atol=1e-6)
    np.testing.assert_allclose(result.p_value[0, 4:], [0.041699, 0.094039], atol=1e-6)
    assert result.level[0, 4:].tolist() == [EwmaLevel.WARNING, EwmaLevel.NONE]


def test_hand_outlier_is_pulled_back_before_the_next_day() -> None:
    # y = 0,0,0,0,10,0. Day 4: baseline zeros, sigma = floor 0.192638; z = 5;
    #   t = 5/0.192638 = 25.955467; p = 0.5 - 25.955467/(2·sqrt(2 + 673.686)) = 0.000741 -> red.
    #   |t| > u99, so z is pulled back to 0 + 6.96456·0.192638 = 1.341622.
    # Day 5: z = 0.5·0 + 0.5·1.341622, so t = u99/2 = 3.48228;
    #   p = 0.5 - 3.48228/(2·sqrt(2 + 12.126274)) = 0.036745 -> yellow.
    #   Without the pull-back z would be 2.5, t = 12.98 and the day red.
    result = detect_ewma([0, 0, 0, 0, 10, 0], **HAND)  # type: ignore[arg-type]
    np.testing.assert_allclose(result.statistic[0, 4:], [25.955467, 3.48228], atol=1e-6)
    np.testing.assert_allclose(result.p_value[0, 4:], [0.000741, 0.036745], atol=1e-6)
    assert result.level[0, 4:].tolist() == [EwmaLevel.ALERT, EwmaLevel.WARNING]


@pytest.mark.parametrize(
    "series",
    [[2, 2, 2, 2, 2], [1, 3, 2, 2, 7, 2], [0, 0, 0, 0, 10, 0]],
)
def test_port_agrees_on_the_hand_fixtures(series: list[float]) -> None:
    expected, statistic, p_value = port_ewma_loop(series, **HAND)  # type: ignore[arg-type]
    result = detect_ewma(series, **HAND)  # type: ignore[arg-type]
    np.testing.assert_allclose(result.expected[0], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.statistic[0], statistic, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.p_value[0], p_value, rtol=0, atol=1e-12)


def test_port_agrees_on_real_and_synthetic_series() -> None:
    real = boston_daily_counts()
    series = np.vstack([real, synthetic_daily_counts(real.shape[1])])
    result = detect_ewma(series)
    for area, row in enumerate(series):
        expected, statistic, p_value = port_ewma_loop(row.tolist())
        np.testing.assert_allclose(result.expected[area], expected, rtol=0, atol=1e-9)
        np.testing.assert_allclose(result.statistic[area], statistic, rtol=0, atol=1e-9)
        np.testing.assert_allclose(result.p_value[area], p_value, rtol=0, atol=1e-12)
    # The fixtures reach every branch: the floor, the pull-back and both smoothers winning.
    assert (result.level == EwmaLevel.ALERT).any()
    assert (result.level == EwmaLevel.WARNING).any()
    assert set(np.unique(result.smoothing_used[~np.isnan(result.p_value)])) == {0.4, 0.9}


def test_short_series_and_bad_parameters() -> None:
    assert np.isnan(detect_ewma([3] * 13).p_value).all()  # day 13 is the first judged
    assert not np.isnan(detect_ewma([3] * 14).p_value[0, 13])
    with pytest.raises(EarsError, match="smoothing"):
        detect_ewma([1] * 20, smoothing=(0.0,))
    with pytest.raises(EarsError, match="baseline"):
        detect_ewma([1] * 20, baseline_days=10, min_baseline_days=11)
    with pytest.raises(EarsError, match="unit"):
        detect_ewma([1] * 20, unit=0)
    with pytest.raises(EarsError, match="last_days"):
        detect_ewma([1] * 20, last_days=0)


series_tables = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 3), st.integers(14, 45)),
    elements=st.integers(0, 25).map(float),
)


@given(counts=series_tables, shift=st.integers(-40, 40))
def test_adding_a_constant_keeps_the_p_values(counts: FloatArray, shift: int) -> None:
    base = detect_ewma(counts)
    shifted = detect_ewma(counts + shift)
    np.testing.assert_allclose(shifted.p_value, base.p_value, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(shifted.expected, base.expected + shift, rtol=1e-12, atol=1e-9)


@given(counts=series_tables, scale=st.sampled_from([0.01, 0.5, 3.0, 100.0]))
def test_scaling_with_the_unit_keeps_the_p_values(counts: FloatArray, scale: float) -> None:
    base = detect_ewma(counts)
    scaled = detect_ewma(counts * scale, unit=scale)
    np.testing.assert_allclose(scaled.p_value, base.p_value, rtol=1e-7, atol=1e-9)


@given(counts=series_tables, spike=st.integers(1, 30))
def test_a_spike_on_the_last_day_lowers_its_p_value(counts: FloatArray, spike: int) -> None:
    raised = counts.copy()
    raised[:, -1] += spike
    before, after = detect_ewma(counts), detect_ewma(raised)
    for old, new in zip(before.p_values, after.p_values, strict=True):
        assert (new[:, -1] <= old[:, -1]).all()
        movable = old[:, -1] > 1e-12  # p this small can round to the same float
        assume(movable.any())
        assert (new[:, -1][movable] < old[:, -1][movable]).all()
    np.testing.assert_array_equal(after.p_value[:, :-1], before.p_value[:, :-1])


@given(
    counts=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 3), st.integers(105, 200)),
        elements=st.integers(0, 40).map(float),
    )
)
def test_the_last_day_needs_only_its_history(counts: FloatArray) -> None:
    full = detect_ewma(counts)
    days = ewma_history_days()
    tail = detect_ewma(counts[:, -days:], last_days=1)
    np.testing.assert_allclose(tail.p_value[:, -1], full.p_value[:, -1], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(tail.level[:, -1], full.level[:, -1])
    assert np.isnan(tail.p_value[:, :-1]).all()  # last_days=1 judges only the last day
    assert (tail.level[:, :-1] == EwmaLevel.NONE).all()


def test_a_shorter_history_is_not_enough_after_an_outlier() -> None:
    # Flat 2s with a 30 on day 100 of 120. The whole history pulls that outlier back to the
    # alert limit on day 100; a run started on day 88 has no baseline then, so it keeps the
    # full jump in its smoothed level, and 19 days at w = 0.4 do not forget it (0.6^19).
    # Both judge day 119 with the same 28-day baseline (days 89..116).
    counts = np.full((1, 120), 2.0)
    counts[0, 100] = 30.0
    one = {"smoothing": (0.4,)}
    full = detect_ewma(counts, **one).p_value[0, -1]  # type: ignore[arg-type]
    short = detect_ewma(counts[:, 88:], **one).p_value[0, -1]  # type: ignore[arg-type]
    enough = detect_ewma(counts[:, -ewma_history_days() :], **one)  # type: ignore[arg-type]
    assert short < full
    assert short != pytest.approx(full, rel=1e-6)
    assert enough.p_value[0, -1] == pytest.approx(full, rel=1e-12)
