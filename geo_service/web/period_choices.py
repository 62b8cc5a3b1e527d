"""The periods a map's selector offers: for peers and planners every period that may be
released by now (whether or not anyone has asked for it yet), for managers every finished
period in the data's range; newest first, grouped by length, and always the one the title
names (selected)."""

from __future__ import annotations

import datetime as dt

from geo_service.periods import Bucket, finished_periods, month_of, parse_period
from geo_service.services.program import ProgramContext
from geo_service.services.releases import grace_days
from geo_service.settings import EventKind
from geo_service.web.pages import Select
from maps.language import N_, _
from maps.words import PERIOD_GROUPS, period_words

GROUP_ORDER = (Bucket.QUARTER, Bucket.HALF, Bucket.YEAR, Bucket.MONTH)


def offered_periods(ctx: ProgramContext, kind: EventKind) -> set[str]:
    """Every period that may be released by now, over the retention window (peers,
    planners), or every finished one since the first report (managers).

    A peer's list never depends on which releases exist: a release is made when someone first
    asks for its period, so listing the stored ones would tell a peer which periods others
    (a planner, a manager previewing) had opened."""
    store, program_id, tz = ctx.store, ctx.program_id, ctx.deployment.tz
    now_month = month_of(dt.datetime.fromtimestamp(ctx.now, tz))
    if not ctx.full_view:
        choice = store.publication(program_id)
        first = now_month - ctx.settings.retention_months
        by_bucket = finished_periods(first, now=ctx.now, grace_days=grace_days(choice), tz=tz)
        if choice.bucket == Bucket.QUARTER:
            # Months are made as a quarter's parts but not shown on their own.
            by_bucket.pop(Bucket.MONTH, None)
        return {label for labels in by_bucket.values() for label in labels}
    first_event = store.first_event_start(program_id, kind.value)
    if first_event is None:
        return set()
    first_month = month_of(dt.datetime.fromtimestamp(first_event, tz))
    by_bucket = finished_periods(first_month, now=ctx.now, grace_days=0, tz=tz)
    return {label for labels in by_bucket.values() for label in labels}


def period_choice(
    ctx: ProgramContext, kind: EventKind, chosen: str, *, lead: tuple[str, str] | None = None
) -> Select:
    """The period selector; ``lead`` is a first option (value, words) for a window that is
    not a period (a manager's ``datetime``), selected when ``chosen`` is its value."""
    labels = offered_periods(ctx, kind)
    if chosen and lead is None:
        labels.add(chosen)
    grouped: dict[Bucket, list[tuple[int, str]]] = {}
    for label in labels:
        period = parse_period(label, ctx.deployment)
        grouped.setdefault(period.bucket, []).append((period.months[0], label))
    groups = [
        (
            _(PERIOD_GROUPS[bucket.value]),
            [(v, period_words(v)) for _, v in sorted(found, reverse=True)],
        )
        for bucket in GROUP_ORDER
        if (found := grouped.get(bucket))
    ]
    return Select("period", N_("Period"), [lead] if lead else [], chosen, groups)


def offered_years(ctx: ProgramContext, kind: EventKind, chosen: int) -> list[str]:
    """The years a month-by-month map offers, newest first: those with a released (peers,
    planners) or finished (managers) month, and always the chosen one."""
    years = {int(label[:4]) for label in offered_periods(ctx, kind)} | {chosen}
    return [str(year) for year in sorted(years, reverse=True)]
