"""Local months as integers (``year * 12 + month - 1``) and where they begin in UTC.

The per-cell-per-month aggregates (``cell_months``) file each event under the local month of
its bucket's start, in its program's time zone; the readers that use them must split a window
at exactly the same instants, so both sides use these functions.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from geo_service.storage.records import IntArray

# How far before or after a month's first instant an event of another month may lie when the
# clock falls back across local midnight (at most a few hours anywhere): rows that near a
# boundary are filed by computing their month, not by comparing instants.
FOLD_MARGIN_S = 2 * 86_400


def month_number(year: int, month: int) -> int:
    return year * 12 + month - 1


def month_label(number: int) -> str:
    """``2025-05`` for ``month_number(2025, 5)``."""
    year, month0 = divmod(number, 12)
    return f"{year:04d}-{month0 + 1:02d}"


def local_month_numbers(epoch_s: IntArray, timezone: str) -> IntArray:
    """Each UTC moment's local month in ``timezone``, as ``year * 12 + month - 1``."""
    values = np.asarray(epoch_s, dtype=np.int64)
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    # Events share hour buckets: convert each distinct instant once.
    back, unique = pd.factorize(values)
    local = pd.DatetimeIndex(pd.to_datetime(unique, unit="s", utc=True)).tz_convert(timezone)
    numbers = local.year.to_numpy(np.int64) * 12 + local.month.to_numpy(np.int64) - 1
    return np.asarray(numbers[back.reshape(-1)], dtype=np.int64)


def month_start_s(number: int, timezone: str) -> tuple[int, int]:
    """The first UTC instant at which the local wall clock reads the 1st of month ``number``
    at 00:00 or later, and the last such instant after which it never reads the month before:
    equal unless the clock falls back across that midnight. A local midnight skipped by a
    forward jump begins at the jump."""
    year, month0 = divmod(number, 12)
    zone = ZoneInfo(timezone)
    midnight = dt.datetime(year, month0 + 1, 1)
    early = _first_instant_at_or_after(midnight, zone, fold=0)
    late = _first_instant_at_or_after(midnight, zone, fold=1)
    return min(early, late), max(early, late)


def _first_instant_at_or_after(wall: dt.datetime, zone: ZoneInfo, *, fold: int) -> int:
    instant = int(wall.replace(tzinfo=zone, fold=fold).timestamp())
    back = dt.datetime.fromtimestamp(instant, zone).replace(tzinfo=None)
    if back == wall:
        return instant
    # ``wall`` does not exist (a forward jump): the month begins at the jump, the first
    # instant whose wall clock is later than ``wall``.
    low, high = instant - 4 * 3600, instant + 4 * 3600
    while high - low > 1:
        mid = (low + high) // 2
        if dt.datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid
    return high
