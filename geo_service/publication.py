"""Periods, audiences and the steward's publication settings (DESIGN.md §4.4).

What is released for a period is made once and frozen: see :mod:`geo_service.releases`.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import Any

from geo_service.audit import record
from geo_service.auth import Role
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.settings import Settings
from geo_service.storage import ProgramPublication, Store

FIRST_YEAR, LAST_YEAR = 2000, 2100
# One spelling per period, since the label keys its frozen release: ASCII digits only (``\d``
# takes any Unicode digit) and matched in full (``$`` also matches before a final newline).
PERIOD_PATTERN = re.compile(r"(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))", re.ASCII)


class Audience(enum.StrEnum):
    PEER = "peer"
    PLANNER = "planner"
    PUBLIC = "public"


class Bucket(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


AUDIENCE_OF_ROLE = {Role.PEER: Audience.PEER, Role.PLANNER: Audience.PLANNER}


@dataclass(frozen=True)
class Period:
    label: str
    bucket: Bucket
    months: tuple[int, ...]  # year * 12 + month - 1
    start: int  # UTC epoch seconds of the local start
    end: int


def _month_start(index: int, tz: dt.tzinfo) -> int:
    year, month = divmod(index, 12)
    return int(dt.datetime(year, month + 1, 1, tzinfo=tz).timestamp())


def parse_period(text: str, deployment: Deployment) -> Period:
    """``2025-05`` (a month) or ``2025-Q2`` (a quarter), in the deployment's time zone."""
    match = PERIOD_PATTERN.fullmatch(text)
    if not match:
        raise InvalidParameter(
            "period must be a calendar month such as 2025-05 or a quarter such as 2025-Q2"
        )
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:  # year 0 or 9999 would overflow the clock
        raise InvalidParameter(f"period must fall in the years {FIRST_YEAR}-{LAST_YEAR}")
    if match.group(2):
        months: tuple[int, ...] = (year * 12 + int(match.group(2)) - 1,)
        bucket = Bucket.MONTH
    else:
        first = year * 12 + (int(match.group(3)) - 1) * 3
        months, bucket = (first, first + 1, first + 2), Bucket.QUARTER
    return Period(
        text,
        bucket,
        months,
        _month_start(months[0], deployment.tz),
        _month_start(months[-1] + 1, deployment.tz),
    )


def threshold(settings: Settings, choice: ProgramPublication, audience: Audience) -> int:
    """The k an audience gets: the steward's choice, never below the deployment's floor."""
    floor = settings.publish_min_count if audience != Audience.PUBLIC else settings.public_min_count
    chosen = {
        Audience.PEER: choice.k_peer,
        Audience.PLANNER: choice.k_planner,
        Audience.PUBLIC: choice.k_public,
    }[audience]
    return max(floor, chosen or floor)


def describe(settings: Settings, choice: ProgramPublication) -> dict[str, Any]:
    """The program's effective publication settings."""
    return {
        "k": {a.value: threshold(settings, choice, a) for a in Audience},
        "floors": {
            "peer": settings.publish_min_count,
            "planner": settings.publish_min_count,
            "public": settings.public_min_count,
        },
        "public_enabled": choice.public_enabled,
        "bucket": choice.bucket,
        # Reports must remain at k once this many of the largest reporting keys are removed.
        "drop_top_keys": choice.drop_top_keys or 1,
        "grace_days": choice.grace_days or 7,
    }


AUDITED_SETTINGS = ("k", "public_enabled", "bucket", "drop_top_keys", "grace_days")


def change_publication(
    store: Store,
    settings: Settings,
    *,
    program_id: int,
    chosen: ProgramPublication,
    actor: str,
    key_id: int | None = None,
) -> dict[str, Any]:
    """Store the steward's choice (thresholds only at or above the floors), audited."""
    floors = {
        "k_peer": settings.publish_min_count,
        "k_planner": settings.publish_min_count,
        "k_public": settings.public_min_count,
    }
    for name, floor in floors.items():
        value = getattr(chosen, name)
        if value is not None and value < floor:
            raise InvalidParameter(
                f"{name} may be raised, never set below the deployment's floor of {floor}"
            )
    if chosen.bucket not in {b.value for b in Bucket}:
        raise InvalidParameter("bucket is month or quarter")
    if chosen.grace_days is not None and not 1 <= chosen.grace_days <= 90:
        raise InvalidParameter(
            "grace_days is 1 to 90: the days after a period before it is published"
        )
    if chosen.drop_top_keys is not None and chosen.drop_top_keys not in (1, 2):
        raise InvalidParameter("drop_top_keys is 1 or 2")
    before = describe(settings, store.publication(program_id))
    store.set_publication(program_id, chosen)
    after = describe(settings, chosen)
    record(
        store,
        "publication.change",
        actor=actor,
        program_id=program_id,
        key_id=key_id,
        before={k: before[k] for k in AUDITED_SETTINGS},
        after={k: after[k] for k in AUDITED_SETTINGS},
    )
    return after
