"""Which release a request reads: the rule, whether its period is published yet, and the
stored release (made once, for good, ahead of it or at the first request that may see it)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from geo_service.audit import record
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.periods import Bucket, Period, is_published, parts_of
from geo_service.services.publication import Audience, threshold
from geo_service.services.releases.making import Frozen, PeriodRows, make_release
from geo_service.services.releases.model import (
    DEFAULT_DROP_TOP_KEYS,
    DEFAULT_GRACE_DAYS,
    MIN_GRACE_DAYS,
    Release,
    ReleasedCell,
    ReleaseRule,
    levels_above_stored,
)
from geo_service.settings import EventKind, Settings
from geo_service.storage import ProgramPublication, Store, StoredRelease


def release_rule(settings: Settings, choice: ProgramPublication, cell_m: int) -> ReleaseRule:
    """One rule for peers and planners: the larger of their thresholds."""
    k = max(
        threshold(settings, choice, Audience.PEER), threshold(settings, choice, Audience.PLANNER)
    )
    return ReleaseRule(
        k=k,
        drop_top_keys=choice.drop_top_keys or DEFAULT_DROP_TOP_KEYS,
        grace_days=max(MIN_GRACE_DAYS, choice.grace_days or DEFAULT_GRACE_DAYS),
        cell_m=cell_m,
    )


def grace_days(choice: ProgramPublication) -> int:
    return max(MIN_GRACE_DAYS, choice.grace_days or DEFAULT_GRACE_DAYS)


def check_period(
    period: Period, choice: ProgramPublication, *, now: float, full_view: bool = False
) -> None:
    """Refuse a period that is not published: unfinished, in its grace window, or a month of a
    program that publishes by quarter. Managers (``full_view``) may read any finished one."""
    if full_view:
        if period.end > now:
            raise InvalidParameter("that period has not finished yet")
        return
    days = grace_days(choice)
    if not is_published(period, now=now, grace_days=days):
        raise InvalidParameter(
            f"that period is not published yet: months, quarters, half-years and years are "
            f"published {days} days after they end, so that late reports can still arrive"
        )
    if choice.bucket == Bucket.QUARTER and period.bucket == Bucket.MONTH:
        raise InvalidParameter(
            "this program publishes by quarter; ask for a quarter such as 2025-Q2, a "
            "half-year such as 2025-H1 or a year such as 2025"
        )


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """Who reads a release, and at which cell size (None: the stored size)."""

    audience: Audience = Audience.PEER
    cell_m: int | None = None


PEER_VIEW = View()


def get_release(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    *,
    program_id: int,
    kind: EventKind,
    period: Period,
    now: float,
    view: View = PEER_VIEW,
) -> Release:
    """The period's release for an audience, made (once, for good) if it does not exist,
    seen in the view's cells (the stored size times a power of two; default: stored)."""
    levels = levels_above_stored(deployment, kind, view.cell_m)
    choice = store.publication(program_id)
    check_period(period, choice, now=now)
    stored = _stored_or_made(store, deployment, settings, program_id, kind, period, choice)
    made = stored.in_larger_cells(levels)
    if view.audience is Audience.PUBLIC:
        return made.coarsened(k=max(made.k, threshold(settings, choice, Audience.PUBLIC)))
    return made


def _stored_or_made(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    program_id: int,
    kind: EventKind,
    period: Period,
    choice: ProgramPublication,
    rows: PeriodRows | None = None,
) -> Release:
    stored = store.release(program_id, kind.value, period.label)
    if stored is not None:
        return _parse(stored, kind, period)
    rule = release_rule(settings, choice, deployment.cell_m(kind))
    # Made now: its rows will be read, so its parts missing too are made from the same read.
    rows = rows or PeriodRows(store, program_id, kind, period)
    # A longer period builds on its parts' frozen cells (a quarter on its months, a half-year
    # on its quarters, a year on its half-years): make them first.
    parts = [
        _frozen(store, deployment, settings, program_id, kind, part, choice, rows)
        for part in parts_of(period, deployment.tz)
    ]
    candidate = make_release(store, deployment, program_id, kind, period, rule, parts, rows)
    if store.add_release(program_id, candidate):
        record(
            store,
            "release.made",
            actor="service",
            program_id=program_id,
            kind=kind.value,
            period=period.label,
            cells=len(orjson.loads(candidate.body)["cells"]),
        )
    stored = store.release(program_id, kind.value, period.label)
    assert stored is not None
    return _parse(stored, kind, period)


def _frozen(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    program_id: int,
    kind: EventKind,
    period: Period,
    choice: ProgramPublication,
    rows: PeriodRows,
) -> Frozen:
    """A period's release (made if need be) and, below it, the releases of its parts."""
    made = _stored_or_made(store, deployment, settings, program_id, kind, period, choice, rows)
    parts = [
        _frozen(store, deployment, settings, program_id, kind, part, choice, rows)
        for part in parts_of(period, deployment.tz)
    ]
    return Frozen(made, parts)


def _parse(stored: StoredRelease, kind: EventKind, period: Period) -> Release:
    rule = ReleaseRule(**orjson.loads(stored.rule))
    body = orjson.loads(stored.body)
    return Release(
        kind=kind,
        period=period,
        rule=rule,
        made_on=stored.made_on,
        content_hash=stored.content_hash,
        features=tuple(ReleasedCell(*cell) for cell in body["cells"]),
        by_hour=tuple(body["by_hour"]),
        hidden=body["hidden"],
        events=body["events"],
        read_to=body.get("read_to"),
        day_only=body.get("day_only", 0),
    )
