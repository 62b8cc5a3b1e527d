"""Months, quarters, half-years and years: one spelling per period and all the calendar
arithmetic on them.

A period label (``2025-05``, ``2025-Q2``, ``2025-H1``, ``2025``) keys a frozen release, so it
is parsed in one place and every "which month is this", "which quarter holds it" and "what is
published by now" is answered here, in the deployment's local time zone. Months are counted
as one integer, ``year * 12 + month - 1``, so stepping across a year is plain arithmetic.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_service.errors import InvalidParameter

if TYPE_CHECKING:  # storage reads months too; keep this module light to import
    from geo_service.deployment import Deployment

FIRST_YEAR, LAST_YEAR = 2000, 2100
DAY_S = 86_400
# One spelling per period, since the label keys its frozen release: ASCII digits only (``\d``
# takes any Unicode digit) and matched in full (``$`` also matches before a final newline).
PERIOD_PATTERN = re.compile(r"(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])|H([12])))?", re.ASCII)
ONLY_PERIODS_BELOW_MANAGER = (
    "peers and planners see finished months, quarters, half-years or years: ask with "
    "period=2025-05, 2025-Q2, 2025-H1 or 2025 instead of datetime"
)
PERIOD_HELP = (
    "period must be a calendar month such as 2025-05, a quarter such as 2025-Q2, a half-year "
    "such as 2025-H1 or a year such as 2025"
)


class Bucket(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"


MONTHS_IN = {Bucket.MONTH: 1, Bucket.QUARTER: 3, Bucket.HALF: 6, Bucket.YEAR: 12}
# What each longer period is made of: its frozen parts (a release nests on them).
PART_OF = {Bucket.QUARTER: Bucket.MONTH, Bucket.HALF: Bucket.QUARTER, Bucket.YEAR: Bucket.HALF}


@dataclass(frozen=True)
class Period:
    label: str
    bucket: Bucket
    months: tuple[int, ...]  # year * 12 + month - 1
    start: int  # UTC epoch seconds of the local start
    end: int


def month_label(month: int) -> str:
    """``2025-05`` for the month index ``2025 * 12 + 4``."""
    return f"{month // 12}-{month % 12 + 1:02d}"


def quarter_label(quarter: int) -> str:
    """``2025-Q2`` for the quarter index ``2025 * 4 + 1``."""
    return f"{quarter // 4}-Q{quarter % 4 + 1}"


def period_label(bucket: Bucket, first_month: int) -> str:
    """The label of the ``bucket``-long period that starts with the month index given."""
    year, month0 = divmod(first_month, 12)
    return {
        Bucket.MONTH: month_label(first_month),
        Bucket.QUARTER: f"{year}-Q{month0 // 3 + 1}",
        Bucket.HALF: f"{year}-H{month0 // 6 + 1}",
        Bucket.YEAR: f"{year}",
    }[bucket]


def period_holding(bucket: Bucket, month: int) -> str:
    """The label of the ``bucket``-long period that holds the month index given."""
    size = MONTHS_IN[bucket]
    return period_label(bucket, month - month % size)


def month_start(month: int, tz: dt.tzinfo) -> int:
    """UTC epoch seconds of local midnight on the first day of a month index."""
    year, month0 = divmod(month, 12)
    return int(dt.datetime(year, month0 + 1, 1, tzinfo=tz).timestamp())


def month_of(moment: dt.datetime) -> int:
    """The month index of an aware moment, in its own time zone."""
    return moment.year * 12 + moment.month - 1


def parse_period(text: str, deployment: Deployment) -> Period:
    """``2025-05`` (a month), ``2025-Q2`` (a quarter), ``2025-H1`` (a half-year) or ``2025``
    (a year), in the deployment's time zone."""
    match = PERIOD_PATTERN.fullmatch(text)
    if not match:
        raise InvalidParameter(PERIOD_HELP)
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:  # year 0 or 9999 would overflow the clock
        raise InvalidParameter(f"period must fall in the years {FIRST_YEAR}-{LAST_YEAR}")
    month, quarter, half = match.group(2, 3, 4)
    if month:
        bucket, first = Bucket.MONTH, year * 12 + int(month) - 1
    elif quarter:
        bucket, first = Bucket.QUARTER, year * 12 + (int(quarter) - 1) * 3
    elif half:
        bucket, first = Bucket.HALF, year * 12 + (int(half) - 1) * 6
    else:
        bucket, first = Bucket.YEAR, year * 12
    return period_of(bucket, first, deployment.tz)


def period_of(bucket: Bucket, first_month: int, tz: dt.tzinfo) -> Period:
    """The ``bucket``-long period that starts with the month index given."""
    months = tuple(range(first_month, first_month + MONTHS_IN[bucket]))
    label = period_label(bucket, first_month)
    start, end = month_start(months[0], tz), month_start(months[-1] + 1, tz)
    return Period(label, bucket, months, start, end)


def parts_of(period: Period, tz: dt.tzinfo) -> list[Period]:
    """The frozen parts a longer period nests on: a quarter's months, a half-year's quarters,
    a year's half-years (none for a month)."""
    if period.bucket not in PART_OF:
        return []
    part = PART_OF[period.bucket]
    step = MONTHS_IN[part]
    return [period_of(part, first, tz) for first in period.months[::step]]


def is_published(period: Period, *, now: float, grace_days: int) -> bool:
    """Whether ``period`` ended at least ``grace_days`` days before ``now``."""
    return period.end + grace_days * DAY_S <= now


def latest_published(bucket: str, *, now: float, grace_days: int, tz: dt.tzinfo) -> str:
    """The latest period of a length that ended at least ``grace_days`` days before ``now``.

    The grace is counted in seconds, as :func:`is_published` counts it, so the answer is
    always a period it accepts (a wall-clock "7 days" is an hour off across a DST change).
    """
    return period_label(Bucket(bucket), _latest_first_month(bucket, now, grace_days, tz))


def _latest_first_month(bucket: str, now: float, grace_days: int, tz: dt.tzinfo) -> int:
    size = MONTHS_IN[Bucket(bucket)]
    current = month_of(dt.datetime.fromtimestamp(now - grace_days * DAY_S, tz))
    return current - current % size - size


def finished_periods(
    first_month: int, *, now: float, grace_days: int, tz: dt.tzinfo
) -> dict[Bucket, list[str]]:
    """Every month, quarter, half-year and year from the one holding ``first_month`` to the
    latest published by ``now``, newest first (grace 0: every finished one)."""
    out: dict[Bucket, list[str]] = {}
    for bucket in Bucket:
        size = MONTHS_IN[bucket]
        latest = _latest_first_month(bucket, now, grace_days, tz)
        first = first_month - first_month % size
        out[bucket] = [period_label(bucket, m) for m in range(latest, first - 1, -size)]
    return out


def month_of_buckets(bucket_start: npt.NDArray[np.int64], tz: dt.tzinfo | str) -> list[str]:
    """The local month of each time bucket (UTC epoch seconds of its start), as ``2025-05``."""
    local = pd.to_datetime(bucket_start, unit="s", utc=True).tz_convert(tz)
    return list(local.strftime("%Y-%m"))


def quarter_of_month(label: str) -> str:
    """``2025-Q2`` for ``2025-05``."""
    year, month = label.split("-")
    return f"{year}-Q{(int(month) - 1) // 3 + 1}"


def _instant(text: str) -> dt.datetime | None:
    if text in ("", ".."):
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidParameter(
            "datetime must be an RFC 3339 date-time or interval "
            "('start/end', with '..' for an open end)"
        ) from None
    if value.tzinfo is None:
        raise InvalidParameter("datetime values need a time-zone offset, such as Z")
    return value


def parse_datetime(text: str) -> tuple[int | None, int | None]:
    """An RFC 3339 instant or ``start/end`` interval as UTC epoch seconds (end exclusive)."""
    if "/" in text:
        start_text, _, end_text = text.partition("/")
        start, end = _instant(start_text), _instant(end_text)
        if start and end and end < start:
            raise InvalidParameter("the datetime interval ends before it starts")
    else:
        start = end = _instant(text)
        if start is None:
            raise InvalidParameter("datetime needs at least one date-time")
    return (int(start.timestamp()) if start else None, int(end.timestamp()) + 1 if end else None)
