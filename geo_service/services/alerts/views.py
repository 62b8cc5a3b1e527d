"""What each audience is shown of an alert: the one place that cuts an alert to a role.

Managers and stewards see everything the rule computed (observed, expected, statistic, level,
status). Peers and planners see sent alerts only, at area level, in words: "more overdoses
than usual in the last 24 hours", with a count only when the reports left after removing the
largest reporting key(s) reach k (the release rule, frozen into ``releasable`` when the alert
was drafted). A fixed rule's N is not shown below manager level either: "3 or more in 24 hours"
would tell a count below k. The public sees nothing but a poster the steward publishes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from geo_service.auth import Role
from geo_service.storage.alert_records import AlertRule, StoredAlert
from maps.language import N_, translations

FULL_VIEW_ROLES = frozenset({Role.MANAGER, Role.STEWARD})

# The headline a peer reads, by the rule's kind and method; the window follows.
HEADLINES = {
    ("overdose", "naloxone"): N_("More naloxone used than usual"),
    ("overdose", "any"): N_("More overdoses than usual"),
    ("needle_report", "any"): N_("More needles found than usual"),
}
WINDOWS = {1: N_("in the last hour"), 24: N_("in the last 24 hours")}
COUNT_WORDS = {
    "overdose": N_("{count} overdoses reported"),
    "needle_report": N_("{count} needle reports"),
}
WHAT_TO_DO = (
    N_("Carry naloxone."),
    N_("Don't use alone."),
    N_("Try a small amount first, go slow."),
)


def area_names(words: Mapping[str, str]) -> str:
    """What ``alerts.area_name`` stores: the area in words in every language, as JSON."""
    return json.dumps(dict(words), ensure_ascii=False, separators=(",", ":"))


def area_in(alert: StoredAlert, language: str) -> str:
    """The alert's area in words, in ``language`` (English if that one is missing; a plain
    string as stored before words came in several languages)."""
    text = alert.area_name
    if not text.startswith("{"):
        return text
    try:
        words = json.loads(text)
    except ValueError:
        return text
    if not isinstance(words, dict):
        return text
    return str(words.get(language) or words.get("en") or next(iter(words.values()), ""))


def headline(rule: AlertRule, language: str) -> str:
    """The alert in one plain sentence, in ``language``."""
    words = translations(language).gettext
    method = "naloxone" if rule.method == "naloxone" else "any"
    said = HEADLINES.get((rule.kind, method), HEADLINES[("overdose", "any")])
    window = WINDOWS.get(rule.window_hours, WINDOWS[24])
    return f"{words(said)} {words(window)}"


def shown_count(alert: StoredAlert, *, k: int) -> int | None:
    """The count an audience below manager level may see: releasable and at least k."""
    if alert.releasable is None or alert.releasable < k:
        return None
    return alert.releasable


def visible_to(alert: StoredAlert, role: Role) -> bool:
    """Managers and stewards see drafts and dismissed ones too; others sent alerts only."""
    return role in FULL_VIEW_ROLES or alert.status == "sent"


def _iso(epoch_s: int | None) -> str | None:
    if epoch_s is None:
        return None
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_view(
    alert: StoredAlert, rule: AlertRule, *, role: Role, k: int, language: str
) -> dict[str, Any]:
    """One alert as ``role`` may see it (check :func:`visible_to` first)."""
    count = shown_count(alert, k=k)
    words = translations(language).gettext
    view: dict[str, Any] = {
        "id": alert.ref,
        "kind": rule.kind,
        "headline": headline(rule, language),
        "area": area_in(alert, language),
        "day": alert.day,
        "window": {"start": _iso(alert.window_start), "end": _iso(alert.window_end)},
        "sent_at": _iso(alert.decided_at) if alert.status == "sent" else None,
        "count": count,
        "count_words": None
        if count is None
        else words(COUNT_WORDS.get(rule.kind, COUNT_WORDS["overdose"])).format(count=count),
        "what_to_do": [words(line) for line in WHAT_TO_DO],
    }
    if role in FULL_VIEW_ROLES:
        view |= {
            "status": alert.status,
            "rule": {"id": rule.id, "name": rule.name, "method": rule.method},
            "area_key": alert.area,
            "observed": alert.observed,
            "expected": alert.expected,
            "statistic": alert.statistic,
            "level": alert.level,
            "releasable": alert.releasable,
            "drafted_at": _iso(alert.drafted_at),
            "decided_at": _iso(alert.decided_at),
            "poster_public": alert.poster_public,
        }
    return view
