"""The NSSP-ESSENCE EWMA spike detector, over many areas' daily counts at once.

What we followed: CDC's published port of the ESSENCE detector, ``alert_ewma`` and
``ewma_loop`` in the R package Rnssp (github.com/CDCgov/Rnssp, ``R/alert_ewma.R``; its
documentation says the defaults "match ESSENCE implementation"). For day ``t``:

- baseline: the days ``t-g-B .. t-g-1`` (``B`` = 28 days, guard band ``g`` = 2), shorter at
  the start of a series: it grows from 11 days (``min_baseline_days``); earlier days are
  not judged (NaN, no alarm). ``expected`` is its mean, ``sd`` its sample sd, ``n`` its length;
- the smoothed level ``z_t = w·y_t + (1-w)·z_{t-1}``, started at ``z_0 = y_0``, for
  ``w`` = 0.4 (gradual rises) and ``w`` = 0.9 (sudden ones);
- its standard error ``sigma = max(floor, sd·k + c)`` with the EWMA variance factor
  ``k = sqrt(w/(2-w) + 1/n - 2(1-w)^(g+1)·(1-(1-w)^n)/n)`` (the variance of ``z_t`` minus
  the baseline mean for independent days), ESSENCE's floor
  ``(w/u)·(1 + 0.5(1-w)^2)`` and additive term ``(0.1289 - (0.2414 - 0.1826(1-w)^4)·ln 0.5)·(w/u)``,
  where ``u`` is the 95 % quantile of Student's t with ``n-1`` degrees of freedom (rounded
  to 5 decimals, as Rnssp does);
- the statistic ``(z_t - expected) / sigma`` and its one-sided p-value from Student's t with
  ``n-1`` degrees of freedom; the day's answer is the smoother with the smaller p-value;
- outliers do not drag the level: when ``|statistic|`` exceeds the 99 % quantile, ``z_t``
  is pulled back to that limit before it feeds the next day;
- red (alert) at ``p < 0.01``, yellow (warning) at ``0.01 <= p < 0.05``.

Differences from Rnssp: it fixes the longest baseline at 28 whatever ``B`` is; we honour
``baseline_days``. Its p-value is ``1 - pt(...)``; ours is the survival function, equal to
within 1e-16 and not rounded to 0 for very small p. Its floor and additive term are in
counts; ``unit`` scales them for other data (percentages), so the p-values do not depend
on the unit the data are written in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from analysis.ears import EarsError, FloatArray, as_daily_counts, trailing_mean_sd

IntArray = npt.NDArray[np.int64]

RED_P = 0.01
YELLOW_P = 0.05


class EwmaLevel(IntEnum):
    """The day's colour in ESSENCE: nothing, a warning (yellow) or an alert (red)."""

    NONE = 0
    WARNING = 1
    ALERT = 2


@dataclass(frozen=True)
class EwmaResult:
    """Per area and day (areas x days); NaN and level NONE where the day is not judged.

    ``p_values`` holds one array per smoother (in the order given); ``p_value``,
    ``statistic`` and ``smoothing_used`` are those of the smoother with the smaller p.
    """

    expected: FloatArray
    statistic: FloatArray
    p_value: FloatArray
    p_values: tuple[FloatArray, ...]
    smoothing_used: FloatArray
    level: IntArray


@dataclass(frozen=True)
class _Baseline:
    """Each judged day's baseline, days first (judged days x areas) for the day-by-day loop."""

    first_day: int
    expected: FloatArray
    sd: FloatArray
    length: IntArray  # per judged day


def detect_ewma(
    counts: npt.ArrayLike,
    *,
    baseline_days: int = 28,
    min_baseline_days: int = 11,
    guard_days: int = 2,
    smoothing: tuple[float, ...] = (0.4, 0.9),
    unit: float = 1.0,
    last_days: int | None = None,
) -> EwmaResult:
    """Run ESSENCE's EWMA detector on each area's daily counts (areas x days).

    ``last_days`` limits the answer (p-values, statistics, levels) to the last days, the
    rest NaN and NONE: Student's t is most of the cost. To judge today on ingest, pass the last
    :func:`ewma_history_days` days with ``last_days=1``.

    Examples
    --------
    >>> counts = [2, 3, 2, 1, 2, 3, 2, 2, 1, 3, 2, 2, 3, 2, 2, 12]
    >>> result = detect_ewma(counts)
    >>> bool(np.isnan(result.p_value[0, 12])), int(result.level[0, -1])
    (True, 2)
    """
    y = as_daily_counts(counts)
    _check(baseline_days, min_baseline_days, guard_days, smoothing, unit, last_days)
    base = _baseline(y, baseline_days, min_baseline_days, guard_days)
    expected = np.full_like(y, np.nan)
    expected[:, base.first_day :] = base.expected.T
    by_day = np.ascontiguousarray(y.T)
    p_values = tuple(
        (p.T, statistic.T)
        for p, statistic in (
            _smoother_p_statistic(
                by_day, base, w, guard_days=guard_days, unit=unit, last_days=last_days
            )
            for w in smoothing
        )
    )
    # The smoother with the smaller p answers, over the days that have p-values.
    judged = y.shape[1] - base.first_day
    rows = max(judged, 0) if last_days is None else min(last_days, max(judged, 0))
    window = slice(y.shape[1] - rows, None)
    p_value, statistic, used = (np.full_like(y, np.nan) for _ in range(3))
    if rows > 0:
        each_p = np.stack([p[:, window] for p, _ in p_values])
        best = np.argmin(each_p, axis=0)[np.newaxis]
        each_statistic = np.stack([s[:, window] for _, s in p_values])
        p_value[:, window] = np.take_along_axis(each_p, best, axis=0)[0]
        statistic[:, window] = np.take_along_axis(each_statistic, best, axis=0)[0]
        used[:, window] = np.asarray(smoothing)[best[0]]
    return EwmaResult(
        expected=expected,
        statistic=statistic,
        p_value=p_value,
        p_values=tuple(p for p, _ in p_values),
        smoothing_used=used,
        level=ewma_level(p_value),
    )


def ewma_history_days(
    *,
    baseline_days: int = 28,
    guard_days: int = 2,
    smoothing: tuple[float, ...] = (0.4, 0.9),
) -> int:
    """Days of history that judge the last day as the whole history would, to 1e-16.

    The smoothed level forgets a day by a factor ``1 - w`` a day, and pulling an outlier
    back only brings two runs closer; so once both have full baselines, a run started
    this many days back agrees with one started years back to ``(1 - w)`` to that power.

    Examples
    --------
    >>> ewma_history_days()
    104
    """
    slowest = 1 - min(smoothing)
    forgetting = 1 if slowest <= 0 else math.ceil(math.log(1e-16) / math.log(slowest))
    return baseline_days + guard_days + 1 + forgetting


def ewma_level(p_value: npt.ArrayLike) -> IntArray:
    """Red (2) below 0.01, yellow (1) below 0.05, otherwise (and for NaN) 0.

    Examples
    --------
    >>> ewma_level([0.001, 0.01, 0.049, 0.05, float("nan")]).tolist()
    [2, 1, 1, 0, 0]
    """
    p = np.asarray(p_value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        level = np.where(p < RED_P, EwmaLevel.ALERT, np.where(p < YELLOW_P, EwmaLevel.WARNING, 0))
    return level.astype(np.int64)


def _check(
    baseline_days: int,
    min_baseline_days: int,
    guard_days: int,
    smoothing: tuple[float, ...],
    unit: float,
    last_days: int | None,
) -> None:
    if not 3 <= min_baseline_days <= baseline_days:
        raise EarsError("the baseline must hold at least 3 days and no more than its maximum")
    if guard_days < 0:
        raise EarsError("the guard band cannot be negative")
    if not smoothing or not all(0 < w <= 1 for w in smoothing):
        raise EarsError("each smoothing weight must be in (0, 1]")
    if not unit > 0:
        raise EarsError("the unit must be positive")
    if last_days is not None and last_days < 1:
        raise EarsError("last_days must be at least 1")


def _baseline(y: FloatArray, most: int, least: int, guard: int) -> _Baseline:
    """Mean and sd of each judged day's baseline: the growing start, then full windows."""
    days = y.shape[1]
    first_day = least + guard
    judged = np.arange(first_day, days)
    length = np.minimum(judged - guard, most).astype(np.int64)
    expected = np.empty((len(judged), y.shape[0]))
    sd = np.empty_like(expected)
    growing = int((length < most).sum())  # at most most - least days, at the start
    for row in range(growing):
        window = y[:, : judged[row] - guard]
        expected[row] = window.mean(axis=1)
        sd[row] = window.std(axis=1, ddof=1)
    full_mean, full_sd = trailing_mean_sd(y, window=most, lag=guard + 1)
    skip = first_day + growing - (most + guard)  # full windows before the first judged one
    expected[growing:] = full_mean[:, skip:].T
    sd[growing:] = full_sd[:, skip:].T
    return _Baseline(first_day, expected, sd, length)


def _smoother_p_statistic(
    by_day: FloatArray,
    base: _Baseline,
    w: float,
    *,
    guard_days: int,
    unit: float,
    last_days: int | None,
) -> tuple[FloatArray, FloatArray]:
    """One smoother's p-value and statistic, days x areas, NaN before the first judged day."""
    n = base.length.astype(np.float64)[:, np.newaxis]
    freedom = n - 1
    ucl_warning = np.round(stats.t.ppf(1 - YELLOW_P, freedom), 5)
    ucl_alert = np.round(stats.t.ppf(1 - RED_P, freedom), 5)
    variance_factor = np.sqrt(
        w / (2 - w) + 1 / n - 2 * (1 - w) ** (guard_days + 1) * (1 - (1 - w) ** n) / n
    )
    floor = unit * (w / ucl_warning) * (1 + 0.5 * (1 - w) ** 2)
    constant = unit * (0.1289 - (0.2414 - 0.1826 * (1 - w) ** 4) * np.log(0.5)) * (w / ucl_warning)
    sigma = np.maximum(floor, base.sd * variance_factor + constant)
    # An outlier is pulled back to the alert limit so it does not drag the next days.
    lowest, highest = base.expected - ucl_alert * sigma, base.expected + ucl_alert * sigma
    weighted = w * by_day
    level = by_day[0].copy()
    for day in range(1, base.first_day):  # warm-up: smoothed, never judged or pulled back
        level = weighted[day] + (1 - w) * level
    levels = np.empty_like(base.expected)
    for row, day in enumerate(range(base.first_day, by_day.shape[0])):
        level = weighted[day] + (1 - w) * level
        levels[row] = level
        np.clip(level, lowest[row], highest[row], out=level)
    statistic = np.full_like(by_day, np.nan)
    statistic[base.first_day :] = (levels - base.expected) / sigma
    p_value = np.full_like(by_day, np.nan)
    rows = len(levels) if last_days is None else min(last_days, len(levels))
    if rows > 0:
        p_value[-rows:] = special.stdtr(freedom[-rows:], -statistic[-rows:])
    return p_value, statistic
