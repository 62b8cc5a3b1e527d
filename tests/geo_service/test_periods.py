"""Months and quarters at the edges: year ends, local midnight and DST changes."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import cast
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.periods import (
    Bucket,
    finished_periods,
    is_published,
    latest_published,
    month_of_buckets,
    month_start,
    parse_period,
    period_label,
    quarter_of_month,
)
from geo_service.services.releases import check_period
from geo_service.storage import ProgramPublication

WINNIPEG = ZoneInfo("America/Winnipeg")  # Flin Flon's zone: CST, CDT from March to November
HERE = cast(Deployment, SimpleNamespace(tz=WINNIPEG))  # parse_period reads only the zone


def _at(*when: int) -> float:
    return dt.datetime(*when, tzinfo=WINNIPEG).timestamp()  # type: ignore[misc,arg-type]


def test_a_period_is_one_spelling_in_the_supported_years() -> None:
    assert parse_period("2000-01", HERE).months == (2000 * 12,)
    assert parse_period("2100-Q4", HERE).months == (2100 * 12 + 9, 2100 * 12 + 10, 2100 * 12 + 11)
    for text in ("1999-12", "2101-01", "2025-5", "2025-13", "2025-Q5", "2025-05\n", " 2025-05",
                 "２０２５-05", "٢٠٢٥-05", "2025-q2", "2025-05-01"):  # fmt: skip
        with pytest.raises(InvalidParameter):
            parse_period(text, HERE)


def test_a_quarter_runs_from_local_midnight_to_local_midnight_across_the_year() -> None:
    q4 = parse_period("2025-Q4", HERE)
    assert q4.bucket is Bucket.QUARTER
    assert q4.start == _at(2025, 10, 1) and q4.end == _at(2026, 1, 1)
    # October starts in CDT, January in CST: the quarter is an hour longer than 92 days.
    assert q4.end - q4.start == 92 * 86_400 + 3600


def test_the_latest_published_quarter_waits_for_the_grace() -> None:
    cases = (("quarter", "2025-Q3", "2025-Q4"), ("month", "2025-11", "2025-12"))
    for bucket, before, after in cases:
        assert latest_published(bucket, now=_at(2026, 1, 3), grace_days=7, tz=WINNIPEG) == before
        assert latest_published(bucket, now=_at(2026, 1, 10), grace_days=7, tz=WINNIPEG) == after
    # To the second: 2025-Q4 is published exactly 7 days after local midnight on January 1.
    edge = _at(2026, 1, 8)
    assert latest_published("quarter", now=edge - 1, grace_days=7, tz=WINNIPEG) == "2025-Q3"
    assert latest_published("quarter", now=edge, grace_days=7, tz=WINNIPEG) == "2025-Q4"


def test_the_latest_quarter_is_one_the_release_check_accepts_across_dst() -> None:
    # 2025-Q4 ends at 06:00 UTC on January 1; 80 days later it is 01:00 CDT on March 22.
    # Counting the 80 days on the wall clock would offer it at 00:30, which check_period refuses.
    now = _at(2026, 3, 22, 0, 30)
    choice = ProgramPublication(bucket="quarter", grace_days=80)
    assert latest_published("quarter", now=now, grace_days=80, tz=WINNIPEG) == "2025-Q3"
    with pytest.raises(InvalidParameter, match="not published yet"):
        check_period(parse_period("2025-Q4", HERE), choice, now=now)
    check_period(parse_period("2025-Q4", HERE), choice, now=now + 1800)


@given(
    now=st.floats(_at(2001, 1, 1), _at(2099, 1, 1)),
    grace=st.integers(1, 90),
    bucket=st.sampled_from(list(Bucket)),
)
def test_the_latest_published_period_is_published_and_the_next_is_not(
    now: float, grace: int, bucket: Bucket
) -> None:
    latest = parse_period(latest_published(bucket, now=now, grace_days=grace, tz=WINNIPEG), HERE)
    assert is_published(latest, now=now, grace_days=grace)
    following = period_label(bucket, latest.months[-1] + 1)
    assert not is_published(parse_period(following, HERE), now=now, grace_days=grace)


def test_finished_periods_step_back_to_the_first_report_across_years() -> None:
    since = 2024 * 12 + 7  # August 2024
    found = finished_periods(since, now=_at(2026, 1, 10), grace_days=7, tz=WINNIPEG)
    assert found[Bucket.QUARTER] == [
        "2025-Q4",
        "2025-Q3",
        "2025-Q2",
        "2025-Q1",
        "2024-Q4",
        "2024-Q3",
    ]
    assert found[Bucket.HALF] == ["2025-H2", "2025-H1", "2024-H2"]
    assert found[Bucket.YEAR] == ["2025", "2024"]
    assert found[Bucket.MONTH][0] == "2025-12" and found[Bucket.MONTH][-1] == "2024-08"
    early = finished_periods(since, now=_at(2026, 1, 3), grace_days=7, tz=WINNIPEG)
    assert early[Bucket.QUARTER][0] == "2025-Q3" and early[Bucket.YEAR] == ["2024"]


def test_the_month_of_a_bucket_is_local_at_midnight_around_dst() -> None:
    cases = [
        # (local start of a bucket, its month): the first second of a month is that month's,
        # the second before it the previous month's, in CST and in CDT alike.
        (dt.datetime(2025, 3, 1), "2025-03"),  # CST, a week before the change
        (dt.datetime(2025, 2, 28, 23, 59, 59), "2025-02"),
        (dt.datetime(2025, 3, 9, 3), "2025-03"),  # the first hour of CDT
        (dt.datetime(2025, 4, 1), "2025-04"),  # CDT
        (dt.datetime(2025, 3, 31, 23, 59, 59), "2025-03"),
        (dt.datetime(2025, 11, 1), "2025-11"),  # CDT, the day before the change back
        (dt.datetime(2025, 10, 31, 23, 59, 59), "2025-10"),
        (dt.datetime(2025, 12, 1), "2025-12"),  # CST again
        (dt.datetime(2026, 1, 1), "2026-01"),
        (dt.datetime(2025, 12, 31, 23, 59, 59), "2025-12"),
    ]
    starts = np.array(
        [int(local.replace(tzinfo=WINNIPEG).timestamp()) for local, _ in cases], dtype=np.int64
    )
    assert month_of_buckets(starts, WINNIPEG) == [month for _, month in cases]
    assert month_of_buckets(starts, "America/Winnipeg") == [month for _, month in cases]
    # The last second of March in Winnipeg is already April in UTC: the zone matters.
    assert month_of_buckets(starts[4:5], "UTC") == ["2025-04"]


def test_month_starts_and_quarters_of_months() -> None:
    assert month_start(2025 * 12 + 10, WINNIPEG) == _at(2025, 11, 1)  # CDT midnight
    assert month_start(2025 * 12 + 11, WINNIPEG) == _at(2025, 12, 1)  # CST midnight
    assert month_start(2025 * 12 + 12, WINNIPEG) == _at(2026, 1, 1)
    assert [quarter_of_month(f"2025-{m:02d}") for m in (1, 3, 4, 6, 7, 9, 10, 12)] == [
        "2025-Q1", "2025-Q1", "2025-Q2", "2025-Q2", "2025-Q3", "2025-Q3", "2025-Q4", "2025-Q4",
    ]  # fmt: skip
