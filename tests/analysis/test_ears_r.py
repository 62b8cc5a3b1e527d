"""EARS C1 and C2 against R's surveillance::earsC, to 1e-9, on real and synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ears import FloatArray, ears_c1, ears_c2
from tests.analysis.daily_series import boston_daily_counts, synthetic_daily_counts
from tests.analysis.r_oracle import REars, r_ears, require_r

TOLERANCE = 1e-9
MIN_SIGMAS = (0.5, 0.05, 2.0)


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
