"""Releases made ahead of their first reader: a period's release is frozen once made, so it
is made in the background when its grace window ends, and a peer's first page reads it.

What is made, and when, follows the clock only: a tick at start-up and then every
``releases_ahead_minutes`` makes each period whose grace ended less than one grace window
ago, for every kind of every program that holds any report. Never whether, when or what
anyone reported there (a peer sending a backdated report learns whether its period is
released; that must not tell when others' reports arrived). Older periods are still made
by their first reader, as before: importing a program's history must not find its periods
already frozen empty. ``geo-service releases make`` also makes the latest published period
of each length (for cron, or after an import of history).

Two makers at once (two workers, two hosts, a tick and a reader) are safe: a release is
stored once per (program, kind, period), the loser reads the winner's back, and a longer
period always nests on the stored parts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from geo_service.deployment import Deployment
from geo_service.periods import (
    DAY_S,
    MONTHS_IN,
    Bucket,
    Period,
    is_published,
    latest_published,
    month_of,
    parse_period,
    period_of,
)
from geo_service.services.program import program_deployment
from geo_service.services.releases.choice import get_release, grace_days
from geo_service.services.releases.making import ReleaseWithheld
from geo_service.settings import EventKind
from geo_service.storage import ProgramPublication, Store

logger = logging.getLogger(__name__)
# Stored peers' pages older than this are forgotten at each tick (sites' hours change daily;
# a forgotten page is built again by its next reader).
STORED_PAGE_DAYS = 7


@dataclass(frozen=True)
class Outcome:
    """One period a maker looked at: 'made', 'stored' (already there) or 'withheld'."""

    program: str
    kind: str
    period: str
    result: str


def due_periods(
    deployment: Deployment, choice: ProgramPublication, *, now: float, latest: bool = False
) -> list[Period]:
    """The periods to make now, shortest and newest first: those whose grace window ended
    less than one grace window before ``now`` (and with ``latest`` the latest published of
    each length). A program publishing by quarter gets no month on its own (months are
    made as its quarters' parts, never frozen before them)."""
    tz, days = deployment.tz, grace_days(choice)
    buckets = [b for b in Bucket if not (choice.bucket == Bucket.QUARTER and b == Bucket.MONTH)]
    found: dict[str, Period] = {}
    for bucket in buckets:
        if latest:
            label = latest_published(bucket, now=now, grace_days=days, tz=tz)
            found[label] = parse_period(label, deployment)
        # Every period that became publishable in the last grace window: ends after this.
        first = _month_at(now - 2 * days * DAY_S - 366 * DAY_S, deployment)
        for month in range(first, _month_at(now, deployment) + 1):
            if month % MONTHS_IN[bucket]:
                continue
            period = period_of(bucket, month, tz)
            grace_end = period.end + days * DAY_S
            if is_published(period, now=now, grace_days=days) and now < grace_end + days * DAY_S:
                found[period.label] = period
    return sorted(found.values(), key=lambda p: (-p.end, len(p.months)))


def _month_at(moment: float, deployment: Deployment) -> int:
    return month_of(dt.datetime.fromtimestamp(moment, deployment.tz))


@dataclass
class ReleaseMaker:
    """Makes due releases, at start-up and on a timer, on one background thread."""

    store: Store
    defaults: Deployment
    every_s: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    # Withheld periods are tried once per process (a reader still retries them).
    _withheld: set[tuple[int, str, str]] = field(default_factory=set)

    def start(self) -> ReleaseMaker:
        if self.every_s > 0:
            self._thread = threading.Thread(target=self._run, name="releases", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop ticking; a period being made is finished first (it is one transaction)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(now=time.time())
            except Exception as exc:  # logged by its type only: no values, no coordinates
                logger.error("releases were not made ahead: %s", type(exc).__name__)
            self._stop.wait(self.every_s)

    def tick(
        self, *, now: float, latest: bool = False, program_id: int | None = None
    ) -> list[Outcome]:
        """Make every program's (or one program's) due releases now (see
        :func:`due_periods`)."""
        out: list[Outcome] = []
        self.store.prune_pages(int(now - STORED_PAGE_DAYS * DAY_S))
        for listed in self.store.list_programs():
            if self._stop.is_set():
                break
            if program_id is not None and listed.id != program_id:
                continue
            if self.store.has_events(listed.id):  # a new program's periods wait for data
                out += self._make_program(listed.id, listed.name, now=now, latest=latest)
        return out

    def _make_program(
        self, program_id: int, name: str, *, now: float, latest: bool
    ) -> list[Outcome]:
        deployment = program_deployment(self.store, self.defaults, program_id)
        choice = self.store.publication(program_id)
        released = self.store.released_periods(program_id)
        out: list[Outcome] = []
        for period in due_periods(deployment, choice, now=now, latest=latest):
            for kind in EventKind:
                key = (program_id, kind.value, period.label)
                if self._stop.is_set() or key in self._withheld:
                    continue
                if (kind.value, period.label) in released:
                    out.append(Outcome(name, kind.value, period.label, "stored"))
                    continue
                try:
                    get_release(
                        self.store, deployment, deployment.settings, program_id=program_id,
                        kind=kind, period=period, now=now,
                    )  # fmt: skip
                except ReleaseWithheld:  # audited by the making; a reader tries again
                    self._withheld.add(key)
                    out.append(Outcome(name, kind.value, period.label, "withheld"))
                    continue
                out.append(Outcome(name, kind.value, period.label, "made"))
        return out
