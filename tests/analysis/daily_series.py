"""Daily count series for the spike-detection tests and benchmark: real and synthetic."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.ears import FloatArray
from tests.conftest import SHARED_DATA


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
