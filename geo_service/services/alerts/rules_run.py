"""What each rule finds, before anything is drafted: fixed rules count the reports of a
rolling window per area; EARS and EWMA judge today's count per area against the daily
series, every area of the program at once (one matrix of areas x days, missing days 0).

Nothing here writes; ``evaluate`` drafts what these functions find.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis.ears import HISTORY_DAYS, Method, detect_ears, guard_minimum_count
from analysis.ewma import EwmaLevel, detect_ewma, ewma_history_days
from geo_service.services.alerts.areas import AlertAreas
from geo_service.services.alerts.series import day_number, day_text
from geo_service.storage.alert_records import PROGRAM_AREA, AlertRule, DailyCount
from geo_service.storage.window_records import WindowReports

FIXED_METHODS = frozenset({"count", "naloxone"})
EARS_METHODS: dict[str, Method] = {"ears_c1": "C1", "ears_c2": "C2", "ears_c3": "C3"}
DAILY_METHODS = frozenset({*EARS_METHODS, "ewma"})
_ALARM_LEVEL = 2  # EARS and fixed rules: an alarm is an alert (EWMA's red)


@dataclass(frozen=True)
class Finding:
    """One rule over its line in one area, not yet drafted."""

    rule: AlertRule
    area: str
    observed: int
    expected: float | None
    statistic: float | None
    level: int
    window_start: int
    window_end: int


def options(rule: AlertRule) -> dict[str, Any]:
    try:
        loaded = json.loads(rule.options or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def positive(chosen: dict[str, Any], name: str) -> float | None:
    """An option that must be a positive number; anything else means the default."""
    value = chosen.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return None
    return float(value)


def in_scope(rule: AlertRule, keys: list[str], named: frozenset[str]) -> npt.NDArray[np.bool_]:
    """Which area keys a rule watches: the program, its coarse cells, its named areas, all."""
    program = np.array([k == PROGRAM_AREA for k in keys], dtype=bool)
    cells = np.array([k.startswith("cell:") for k in keys], dtype=bool)
    names = np.array([k in named for k in keys], dtype=bool)
    scope = {"program": program, "cells": cells, "named": names}
    watched: npt.NDArray[np.bool_] = scope.get(rule.areas, program | cells | names)
    return watched


def history_days(rule: AlertRule) -> int:
    """The days of series a daily rule needs to judge today as its whole history would."""
    if rule.method in EARS_METHODS:
        return HISTORY_DAYS[EARS_METHODS[rule.method]]
    return ewma_history_days()


# -- fixed rules: the rolling window ---------------------------------------------------------


def fixed_findings(
    rule: AlertRule, reports: WindowReports, areas: AlertAreas, *, now: int
) -> list[Finding]:
    """A count or naloxone rule over the window ending ``now``: reports (rows) or doses named
    per area, alarm at ``threshold`` or more."""
    start = now - rule.window_hours * 3600
    recent = reports.bucket_start + reports.bucket_hours * 3600 > start
    if not recent.any():
        return []
    inside = areas.membership(reports.cell_m[recent], reports.ix[recent], reports.iy[recent])
    per_report = (
        reports.naloxone[recent] if rule.method == "naloxone" else np.ones(int(recent.sum()))
    )
    totals = np.bincount(inside.code, weights=per_report[inside.row], minlength=len(inside.keys))
    alarm = (totals >= max(rule.threshold, 1)) & in_scope(rule, inside.keys, areas.named_keys)
    return [
        Finding(rule, inside.keys[i], int(np.rint(totals[i])), None, None, _ALARM_LEVEL, start, now)
        for i in np.flatnonzero(alarm).tolist()
    ]


# -- daily rules: EARS and EWMA over the series ----------------------------------------------


@dataclass(frozen=True)
class DailyMatrix:
    """A kind's series for every area that has one: areas x days ending today, 0-filled."""

    keys: list[str]
    counts: npt.NDArray[np.float64]
    today: str


def daily_matrix(series: list[DailyCount], *, today: str, days: int) -> DailyMatrix:
    """The series rows as a dense matrix of reports per area and day (today last)."""
    last = day_number(today)
    column = {day_text(last - days + 1 + i): i for i in range(days)}
    keys = sorted({row.area for row in series})
    row_of = {key: i for i, key in enumerate(keys)}
    counts = np.zeros((len(keys), days), dtype=np.float64)
    for row in series:
        j = column.get(row.day)
        if j is not None:  # days after today (a 'now' in the past) are not history
            counts[row_of[row.area], j] = row.events
    return DailyMatrix(keys, counts, today)


def daily_findings(
    rule: AlertRule, matrix: DailyMatrix, areas: AlertAreas, *, day_start: int, now: int
) -> list[Finding]:
    """An EARS or EWMA rule on today's count in every area it watches, all at once."""
    scope = in_scope(rule, matrix.keys, areas.named_keys)
    if not scope.any():
        return []
    counts = matrix.counts[scope][:, -history_days(rule) :]
    keys = [k for k, watched in zip(matrix.keys, scope.tolist(), strict=True) if watched]
    today = counts[:, -1]
    chosen = options(rule)
    if rule.method in EARS_METHODS:
        result = detect_ears(
            counts,
            method=EARS_METHODS[rule.method],
            min_sigma=positive(chosen, "min_sigma") or 0.5,
            threshold=positive(chosen, "threshold"),
        )
        alarm = result.alarm[:, -1]
        level = np.where(alarm, _ALARM_LEVEL, 0)
        statistic, expected = result.statistic[:, -1], result.expected[:, -1]
    else:
        ewma = detect_ewma(counts, last_days=1)
        lowest = EwmaLevel.WARNING if chosen.get("alarm_at") == "yellow" else EwmaLevel.ALERT
        level = np.where(ewma.level[:, -1] >= lowest, ewma.level[:, -1], 0)
        statistic, expected = ewma.statistic[:, -1], ewma.expected[:, -1]
    level = guard_minimum_count(level, today, minimum=max(rule.threshold, 1))
    return [
        Finding(
            rule,
            keys[i],
            int(today[i]),
            float(expected[i]),
            float(statistic[i]),
            int(level[i]),
            day_start,
            now,
        )
        for i in np.flatnonzero(level > 0).tolist()
    ]


# -- what may go out without review ----------------------------------------------------------


def releasable(
    reports: WindowReports, areas: AlertAreas, *, area: str, start: int, drop_top_keys: int
) -> int:
    """Reports in ``area`` from buckets overlapping ``(start, ...]`` left after removing the
    ``drop_top_keys`` reporting keys that sent the most (the release rule)."""
    recent = np.flatnonzero(reports.bucket_start + reports.bucket_hours * 3600 > start)
    if not len(recent):
        return 0
    inside = areas.membership(reports.cell_m[recent], reports.ix[recent], reports.iy[recent])
    if area not in inside.keys:
        return 0
    rows = recent[inside.row[inside.code == inside.keys.index(area)]]
    _, per_key = np.unique(reports.reporter[rows], return_counts=True)
    kept = np.sort(per_key)[: max(len(per_key) - drop_top_keys, 0)]
    return int(kept.sum())
