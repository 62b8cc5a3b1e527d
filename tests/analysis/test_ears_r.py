"""EARS C1 and C2 against R's surveillance::earsC, to 1e-9, on real and synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ears import FloatArray, ears_c1, ears_c2
from tests.analysis.r_oracle import REars, r_ears, require_r
from tests.conftest import SHARED_DATA

TOLERANCE = 1e-9
MIN_SIGMAS = (0.5, 0.05, 2.0)


def boston_daily_counts() -> FloatArray:
    """Needle pick-up requests per day in each Boston neighbourhood, May-Dec 2015."""
    frame = pd.read_csv(SHARED_DATA / "boston_needle_pickups_2015.csv")
    day = pd.to_datetime(frame["opened"], format="%m/%d/%Y %I:%M:%S %p").dt.normalize()
    table = pd.crosstab(frame["neighborhood"], day)
    every_day = pd.date_range(table.columns.min(), table.columns.max(), freq="D")
    return table.reindex(columns=every_day, fill_value=0).to_numpy(dtype=np.float64)


def synthetic_daily_counts(days: int) -> FloatArray:
    """Poisson series with planted spikes, an all-zero and two constant series."""
    rng = np.random.default_rng(19)
    rates = rng.uniform(0.2, 12.0, size=20)
    series = rng.poisson(rates[:, np.newaxis], size=(20, days)).astype(np.float64)
    for area in range(0, 20, 3):  # a spike in every third area, some lasting 3 days
        start = int(rng.integers(10, days - 3))
        series[area, start : start + 1 + area % 3] += 4 * rates[area] + 5
    flat = np.vstack([np.zeros(days), np.full(days, 3.0), np.full(days, 0.5)])
    flat[1, days // 2] = 9.0  # one spike on a flat series: sd 0 before it, min_sigma matters
    return np.vstack([series, flat])


@pytest.fixture(scope="module")
def series() -> FloatArray:
    require_r()
    real = boston_daily_counts()
    return np.vstack([real, synthetic_daily_counts(real.shape[1])])


@pytest.fixture(scope="module")
def from_r(series: FloatArray) -> dict[tuple[str, float], REars]:
    specs = [(method, min_sigma) for method in ("C1", "C2") for min_sigma in MIN_SIGMAS]
    return r_ears(series, specs)


def test_the_real_series_are_what_the_test_means() -> None:
    real = boston_daily_counts()
    assert real.sum() == 606  # every pick-up request counted once
    assert real.shape[1] == (pd.Timestamp("2015-12-28") - pd.Timestamp("2015-05-22")).days + 1
    assert (real.max(axis=1) >= 3).sum() >= 3  # some neighbourhoods have busy days


@pytest.mark.parametrize("min_sigma", MIN_SIGMAS)
@pytest.mark.parametrize("method", ["C1", "C2"])
def test_c1_c2_equal_r_earsc(
    series: FloatArray,
    from_r: dict[tuple[str, float], REars],
    method: str,
    min_sigma: float,
) -> None:
    run = ears_c1 if method == "C1" else ears_c2
    ours = run(series, min_sigma=min_sigma)
    theirs = from_r[method, min_sigma]
    np.testing.assert_array_equal(np.isnan(ours.expected), np.isnan(theirs.expected))
    np.testing.assert_allclose(ours.expected, theirs.expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(ours.sigma, theirs.sigma, rtol=0, atol=TOLERANCE)
    r_statistic = (series - theirs.expected) / theirs.sigma
    np.testing.assert_allclose(ours.statistic, r_statistic, rtol=0, atol=TOLERANCE)
    # The floor was reached on some days and not on others, so both branches are compared.
    floored = ours.sigma == min_sigma
    assert floored.any()
    assert (~floored & ~np.isnan(ours.sigma)).any()
