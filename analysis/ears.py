"""Spike detection on daily counts: CDC's EARS C1, C2 and C3, and a minimum-count guard.

What each method is for, in plain words
---------------------------------------
All of them answer one question for each area and day: *is today's count higher than the
last few days would lead us to expect?* They need no years of history, which suits a new
program. **C1** compares today with the seven days just before; it reacts fastest, but a
slow build-up over several days also raises its "normal". **C2** compares today with the
seven days ending three days ago, so a rise that started yesterday or the day before is not
yet counted as normal; it catches a spike that lasts a few days. **C3** adds up how far C2
was over the line today and on the two days before; it raises an alarm when a smaller rise
persists for three days. **EWMA** (``analysis.ewma``, the method of CDC's ESSENCE system)
compares a smoothed recent level with the four weeks before, so it also sees a gradual rise
and suits areas with small daily counts. The **minimum-count guard** keeps any of them quiet
on days with too few events to act on: "two overdoses instead of none" is a large jump in
statistics but rarely a bad batch. None of these methods knows about weekdays or seasons.

Definitions
-----------
For day ``t`` of an area's series ``y``, with ``mean`` and ``sd`` (sample standard
deviation, ``n - 1``) of the 7-day baseline and ``sigma = max(sd, min_sigma)``:

- C1: baseline ``t-7 .. t-1``; statistic ``(y_t - mean) / sigma``; alarm at ``>= 3``.
- C2: baseline ``t-9 .. t-3`` (two guard days); same statistic; alarm at ``>= 2``.
- C3: ``sum over s = t-2 .. t of max(0, C2_s - 1)``; alarm at ``>= 2`` (Hutwagner et al.,
  "The bioterrorism preparedness and response Early Aberration Reporting System (EARS)",
  J Urban Health 2003; 80(2 Suppl 1): i89-96).

C1 and C2 equal R's ``surveillance::earsC`` (its ``upperbound`` is ``mean + z * sigma``);
the tests check it. Our C3 is Hutwagner's statistic, not ``earsC``'s C3 bound, which does
not follow its own documentation. ``min_sigma`` (default 0.5) keeps a flat baseline, such
as seven days of zeros, from turning a single event into an infinite statistic.

Days without a full baseline (the first 7 for C1, 9 for C2, 11 for C3) have a NaN
statistic and never alarm. To judge only the last day, pass the last
``HISTORY_DAYS[method]`` days: the answer for that day is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Method = Literal["C1", "C2", "C3"]

BASELINE_DAYS = 7  # EARS's fixed baseline length
C2_LAG = 3  # C2's baseline ends three days before the day judged (two guard days)
#: The days of history each method needs to judge its last day.
HISTORY_DAYS: dict[Method, int] = {"C1": 8, "C2": 10, "C3": 12}
DEFAULT_THRESHOLD: dict[Method, float] = {"C1": 3.0, "C2": 2.0, "C3": 2.0}


class EarsError(ValueError):
    """The counts or a parameter cannot be used (wrong shape, not finite, min_sigma <= 0)."""


@dataclass(frozen=True)
class EarsResult:
    """One method's answer; every array has the shape of the counts (areas x days).

    ``expected`` and ``sigma`` are the baseline's mean and ``max(sd, min_sigma)``; for C3
    they are those of the day's own C2 baseline. All three are NaN where the baseline is
    not full, and ``alarm`` is then False.
    """

    method: Method
    statistic: FloatArray
    expected: FloatArray
    sigma: FloatArray
    alarm: BoolArray


def as_daily_counts(counts: npt.ArrayLike) -> FloatArray:
    """Counts as a float 2-D array (areas x days); one series may be given as 1-D.

    Examples
    --------
    >>> as_daily_counts([1, 2, 3]).shape
    (1, 3)
    """
    array = np.asarray(counts, dtype=np.float64)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2:
        raise EarsError("daily counts must be one series or a table of areas x days")
    if not np.isfinite(array).all():
        raise EarsError("daily counts must be finite numbers")
    return array


def baseline_statistic(
    counts: npt.ArrayLike, *, lag: int, min_sigma: float = 0.5
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(y_t - mean) / max(sd, min_sigma)`` over the 7 days ending ``lag`` days before t.

    Returns the statistic, the baseline mean and the floored sd, each NaN on the first
    ``7 + lag - 1`` days, where the baseline would reach before the series starts.

    Examples
    --------
    >>> stat, mean, sigma = baseline_statistic([0, 0, 0, 0, 0, 0, 0, 2], lag=1)
    >>> float(stat[0, -1]), float(mean[0, -1]), float(sigma[0, -1])
    (4.0, 0.0, 0.5)
    """
    y = as_daily_counts(counts)
    if not min_sigma > 0:
        raise EarsError("min_sigma must be positive")
    if lag < 1:
        raise EarsError("the baseline must end before the day judged (lag >= 1)")
    first = BASELINE_DAYS + lag - 1  # first day with a full baseline
    expected = np.full_like(y, np.nan)
    sigma = np.full_like(y, np.nan)
    mean, sd = trailing_mean_sd(y, window=BASELINE_DAYS, lag=lag)
    expected[:, first:] = mean
    sigma[:, first:] = np.maximum(sd, min_sigma)
    return (y - expected) / sigma, expected, sigma


def trailing_mean_sd(y: FloatArray, *, window: int, lag: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sample sd of the ``window`` days ending ``lag`` days before each day.

    Only days from ``window + lag - 1`` on have such a window; the answer covers those.
    Each window is summed twice (mean, then squared deviations) from shifted slices, which
    is as exact as a two-pass sd and far faster than a strided window view.

    Examples
    --------
    >>> mean, sd = trailing_mean_sd(np.array([[1.0, 2.0, 3.0, 9.0]]), window=3, lag=1)
    >>> mean.tolist(), sd.tolist()
    ([[2.0]], [[1.0]])
    """
    first = window + lag - 1
    days = y.shape[1]
    if days <= first:
        empty = np.empty((y.shape[0], 0))
        return empty, empty.copy()
    slices = [y[:, first - lag - k : days - lag - k] for k in range(window)]
    total = slices[0].copy()
    for part in slices[1:]:
        total += part
    mean = total / window
    squares = np.zeros_like(mean)
    for part in slices:
        squares += np.square(part - mean)
    return mean, np.sqrt(squares / (window - 1))


def ears_c1(counts: npt.ArrayLike, *, min_sigma: float = 0.5, threshold: float = 3.0) -> EarsResult:
    """EARS C1: today against the 7 days before.

    Examples
    --------
    >>> result = ears_c1([[1, 1, 1, 1, 1, 1, 1, 3]])
    >>> float(result.statistic[0, -1]), bool(result.alarm[0, -1])
    (4.0, True)
    """
    statistic, expected, sigma = baseline_statistic(counts, lag=1, min_sigma=min_sigma)
    return EarsResult("C1", statistic, expected, sigma, _alarm(statistic, threshold))


def ears_c2(counts: npt.ArrayLike, *, min_sigma: float = 0.5, threshold: float = 2.0) -> EarsResult:
    """EARS C2: today against the 7 days ending 3 days before (2 guard days).

    Examples
    --------
    >>> result = ears_c2([[2, 2, 2, 2, 2, 2, 2, 9, 9, 3]])
    >>> float(result.statistic[0, -1]), bool(result.alarm[0, -1])
    (2.0, True)
    """
    statistic, expected, sigma = baseline_statistic(counts, lag=C2_LAG, min_sigma=min_sigma)
    return EarsResult("C2", statistic, expected, sigma, _alarm(statistic, threshold))


def ears_c3(counts: npt.ArrayLike, *, min_sigma: float = 0.5, threshold: float = 2.0) -> EarsResult:
    """EARS C3 as Hutwagner et al. define it: sum over t-2..t of max(0, C2 - 1).

    Examples
    --------
    >>> result = ears_c3([[0] * 9 + [1, 1, 1]])  # C2 = 2 on each of the last three days
    >>> float(result.statistic[0, -1]), bool(result.alarm[0, -1])
    (3.0, True)
    """
    c2, expected, sigma = baseline_statistic(counts, lag=C2_LAG, min_sigma=min_sigma)
    excess = np.maximum(c2 - 1.0, 0.0)  # NaN stays NaN: no full baseline, no C3
    statistic = np.full_like(c2, np.nan)
    statistic[:, 2:] = excess[:, 2:] + excess[:, 1:-1] + excess[:, :-2]
    return EarsResult("C3", statistic, expected, sigma, _alarm(statistic, threshold))


def detect_ears(
    counts: npt.ArrayLike,
    *,
    method: Method,
    min_sigma: float = 0.5,
    threshold: float | None = None,
) -> EarsResult:
    """Run one EARS method by name, with its default threshold unless one is given.

    Examples
    --------
    >>> detect_ears([[1] * 7 + [3]], method="C1").alarm[0, -1]
    np.True_
    """
    if method not in DEFAULT_THRESHOLD:
        raise EarsError("the EARS method must be C1, C2 or C3")
    run = {"C1": ears_c1, "C2": ears_c2, "C3": ears_c3}[method]
    chosen = DEFAULT_THRESHOLD[method] if threshold is None else threshold
    return run(counts, min_sigma=min_sigma, threshold=chosen)


FlagT = TypeVar("FlagT", bound=np.generic)


def guard_minimum_count(
    flags: npt.NDArray[FlagT], counts: npt.ArrayLike, *, minimum: float
) -> npt.NDArray[FlagT]:
    """No alarm on a day whose count is below ``minimum``: such flags become 0/False.

    Works for EARS alarms (bool) and EWMA levels (int) alike.

    Examples
    --------
    >>> guard_minimum_count(np.array([True, True]), [1, 3], minimum=3)
    array([False,  True])
    """
    values = np.asarray(counts, dtype=np.float64)
    if values.shape != flags.shape:
        raise EarsError("the flags and the counts must have the same shape")
    return np.where(values >= minimum, flags, np.zeros_like(flags))


def _alarm(statistic: FloatArray, threshold: float) -> BoolArray:
    with np.errstate(invalid="ignore"):
        return np.asarray(statistic >= threshold)  # NaN compares False: no alarm
