"""Rules evaluated after each stored batch: what they find is drafted once per rule, area
and local day; a rule the steward marked auto_send sends it straight away only when enough
reports remain after removing the largest reporting key(s), so one key alone never makes an
alert go out without a manager's review.

Evaluation runs after the batch committed and never undoes it: an error is logged (its type
only: no coordinates, counts or parameters) and the batch's answer stands.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from zoneinfo import ZoneInfo

from geo_service.audit import record
from geo_service.deployment import Deployment
from geo_service.services.alerts.areas import AlertAreas, area_words, areas_for
from geo_service.services.alerts.delivery import deliver_alert
from geo_service.services.alerts.rules_run import (
    DAILY_METHODS,
    FIXED_METHODS,
    DailyMatrix,
    Finding,
    daily_findings,
    daily_matrix,
    fixed_findings,
    history_days,
    releasable,
)
from geo_service.services.alerts.series import day_number, day_text, local_day
from geo_service.services.alerts.views import area_names
from geo_service.services.publication import Audience, threshold
from geo_service.settings import Settings
from geo_service.storage import Store
from geo_service.storage.alert_records import AlertRule, NewAlert, StoredAlert
from geo_service.storage.window_records import WindowReports
from maps.language import languages

logger = logging.getLogger(__name__)

Deliver = Callable[[int], None]


@dataclasses.dataclass
class _Run:
    """One evaluation's reads, each made once however many rules share it."""

    store: Store
    deployment: Deployment
    program_id: int
    now: int
    areas: AlertAreas
    longest_s: int  # the longest rolling window of any rule
    windows: dict[str, WindowReports] = dataclasses.field(default_factory=dict)

    @property
    def today(self) -> str:
        return local_day(self.now, self.deployment.timezone)

    @property
    def day_start(self) -> int:
        midnight = dt.datetime.combine(
            dt.date.fromisoformat(self.today), dt.time(0), tzinfo=ZoneInfo(self.deployment.timezone)
        )
        return int(midnight.timestamp())

    def reports(self, kind: str) -> WindowReports:
        """The kind's reports from the earliest window any rule looks at (the rolling 24
        hours or today's start) to now: one read, each rule filters its own window."""
        if kind not in self.windows:
            self.windows[kind] = self.store.window_reports(
                self.program_id,
                kind,
                start=min(self.now - self.longest_s, self.day_start),
                end=self.now,
            )
        return self.windows[kind]

    def matrix(self, kind: str, rules: list[AlertRule]) -> DailyMatrix:
        days = max(history_days(rule) for rule in rules)
        first = day_text(day_number(self.today) - days + 1)
        series = self.store.daily_series(self.program_id, kind, first_day=first)
        return daily_matrix(series, today=self.today, days=days)


def find(run: _Run, rules: list[AlertRule]) -> list[Finding]:
    """Every alarm of the active rules at ``run.now`` (nothing stored)."""
    found: list[Finding] = []
    for kind in sorted({rule.kind for rule in rules}):
        mine = [rule for rule in rules if rule.kind == kind]
        fixed = [rule for rule in mine if rule.method in FIXED_METHODS]
        if fixed:
            reports = run.reports(kind)
            for rule in fixed:
                found += fixed_findings(rule, reports, run.areas, now=run.now)
        daily = [rule for rule in mine if rule.method in DAILY_METHODS]
        if daily:
            matrix = run.matrix(kind, daily)
            for rule in daily:
                found += daily_findings(
                    rule, matrix, run.areas, day_start=run.day_start, now=run.now
                )
    return found


def _window_reports(run: _Run, finding: Finding) -> WindowReports:
    """The reports an alert's releasable count is taken from: its rolling window, or for a
    daily rule the buckets that started today (the day's count)."""
    reports = run.reports(finding.rule.kind)
    if finding.rule.method in FIXED_METHODS:
        return reports
    today = reports.bucket_start >= run.day_start
    return WindowReports(*(getattr(reports, f.name)[today] for f in dataclasses.fields(reports)))


def evaluate_rules(
    store: Store,
    deployment: Deployment,
    program_id: int,
    *,
    now: int,
    settings: Settings,
    deliver: Deliver | None = None,
) -> list[StoredAlert]:
    """Evaluate the program's active rules at ``now`` (UTC epoch seconds) and draft what they
    find; returns the new alerts. ``deliver`` pushes an auto-sent alert (default: at once,
    through ``deliver_alert``; after ingest, the background worker queues it)."""
    rules = store.alert_rules(program_id)
    if not rules:
        return []
    longest = max(rule.window_hours for rule in rules) * 3600
    run = _Run(
        store, deployment, program_id, now, areas_for(store, deployment, program_id), longest
    )
    findings = find(run, rules)
    if findings:  # one read instead of a refused write per alert already drafted today
        done = store.drafted_on(program_id, run.today)
        findings = [f for f in findings if (f.rule.id, f.area) not in done]
    if not findings:
        return []
    choice = store.publication(program_id)
    drop = choice.drop_top_keys or 1
    k_peer = threshold(settings, choice, Audience.PEER)
    names = {area.key: area.name for area in run.areas.named}
    program = store.program_name(program_id) or ""
    new: list[StoredAlert] = []
    for finding in findings:
        reports = _window_reports(run, finding)
        left = releasable(
            reports, run.areas, area=finding.area, start=finding.window_start, drop_top_keys=drop
        )
        draft = NewAlert(
            program_id=program_id,
            rule_id=finding.rule.id,
            area=finding.area,
            area_name=area_names(
                {
                    language: area_words(
                        deployment, finding.area, names=names, program=program, language=language
                    )
                    for language in languages()
                }
            ),
            day=run.today,
            window_start=finding.window_start,
            window_end=finding.window_end,
            observed=finding.observed,
            expected=finding.expected,
            statistic=finding.statistic,
            level=finding.level,
            releasable=left,
            status="drafted",
            drafted_at=now,
        )
        alert_id = store.draft_alert(draft)
        if alert_id is None:  # this rule already spoke for this area today
            continue
        stored = store.alert(program_id, alert_id)
        assert stored is not None  # just written

        if finding.rule.auto_send and left >= max(finding.rule.threshold, k_peer):
            stored = _send(store, settings, stored, now=now, deliver=deliver) or stored
        new.append(stored)
    return new


def _send(
    store: Store, settings: Settings, alert: StoredAlert, *, now: int, deliver: Deliver | None
) -> StoredAlert | None:
    sent = store.decide_alert(alert.program_id, alert.id, status="sent", now=now, key_id=None)
    if sent is None:
        return None
    record(
        store,
        "alert.auto_send",
        actor="alert_rule",
        program_id=alert.program_id,
        alert_id=alert.id,
        rule_id=alert.rule_id,
    )
    if deliver is None:
        deliver_alert(store, settings, alert.program_id, alert.id)
    else:
        deliver(alert.id)
    return sent


def check_alerts(
    store: Store, deployment: Deployment, program_id: int, now: int | None = None
) -> list[StoredAlert]:
    """``geo-service alerts check``: evaluate the program's rules now (or at ``now``)."""
    moment = int(time.time()) if now is None else now
    return evaluate_rules(store, deployment, program_id, now=moment, settings=deployment.settings)


# -- the ingest hook ---------------------------------------------------------------------------

# One worker for evaluations after ingest and the deliveries they cause: they run in order,
# a slow webhook never holds up a request, and how long a sender waits for its answer never
# depends on what the rules found (a draft is a write; its time must not tell a peer).
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")


def settled() -> None:
    """Wait for the evaluations and deliveries handed to the background so far (tests, a
    command that exits)."""
    _BACKGROUND.submit(lambda: None).result()


def after_batch(
    store: Store, deployment: Deployment, program_id: int, kinds: Iterable[str]
) -> Future[list[StoredAlert]] | None:
    """After a batch of ``kinds`` committed: if an active rule watches one of them, evaluate
    the program's rules in the background. Never raises; the batch stands whatever happens."""
    try:
        touched = set(kinds)
        if not any(rule.kind in touched for rule in store.alert_rules(program_id)):
            return None
    except Exception as exc:  # the stored batch must stand
        _log_failure(program_id, exc)
        return None
    return _BACKGROUND.submit(_evaluate_quietly, store, deployment, program_id, int(time.time()))


def _evaluate_quietly(
    store: Store, deployment: Deployment, program_id: int, now: int
) -> list[StoredAlert]:
    settings = deployment.settings

    def deliver(alert_id: int) -> None:
        _BACKGROUND.submit(deliver_alert, store, settings, program_id, alert_id)

    try:
        return evaluate_rules(
            store, deployment, program_id, now=now, settings=settings, deliver=deliver
        )
    except Exception as exc:  # logged by its type only: no values, no coordinates
        _log_failure(program_id, exc)
        return []


def _log_failure(program_id: int, exc: Exception) -> None:
    logger.error(
        "alert rules of program %d were not evaluated after a batch: %s",
        program_id,
        type(exc).__name__,
    )
