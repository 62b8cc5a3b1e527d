"""Alerts where people already are: the maps index and the phone's ``/report`` page.

Both show the program's *open sent* alerts (drafted in the last week, confirmed or sent by
their rule), each cut by :func:`views.alert_view` with the k of the reader's audience. The
store is asked for sent alerts only, whoever reads: a draft or a dismissed alert cannot change
either page, not even a manager's. Managers and stewards get one more thing, the *number* of
drafts waiting for review (never their words); peers and planners never cause that read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from babel.dates import format_date

from geo_service.auth import Role
from geo_service.services.alerts.messages import audience_k, poster_path, rules_by_id
from geo_service.services.alerts.review import OPEN_DAYS
from geo_service.services.alerts.views import FULL_VIEW_ROLES, alert_view
from geo_service.settings import Settings
from geo_service.storage import Store
from geo_service.storage.alert_records import StoredAlert

# The most a page lists (newest first): a week rarely has more than a few, and a page's size
# must stay bounded whatever the rules draft.
SHOWN_MAX = 20
_DRAFTS_SCAN = 200  # drafts counted per read; "200 or more" is as good as the exact number


@dataclass(frozen=True)
class PageAlert:
    """One sent alert in the reader's view and language, ready for a template."""

    ref: str
    headline: str
    area: str
    day: str  # the alert's local day, YYYY-MM-DD (a <time> element's datetime)
    day_words: str  # the same day in the reader's language: "December 1, 2026"
    count_words: str | None  # only when the view allows a count (at least the reader's k)
    what_to_do: tuple[str, ...]
    poster: str  # the printable poster's path


def _open_cutoff(now: float) -> int:
    return int(now) - OPEN_DAYS * 86400


def _open_of(
    store: Store, program_id: int, status: str, now: float, limit: int
) -> list[StoredAlert]:
    """The newest ``limit`` alerts of ``status`` drafted in the last week; ids grow with
    drafting time, so the newest come first and the first old one ends the list."""
    cutoff = _open_cutoff(now)
    newest = store.list_alerts(program_id, statuses=(status,), limit=limit)
    return [alert for alert in newest if alert.drafted_at >= cutoff]


def open_sent_alerts(
    store: Store, program_id: int, *, role: Role, k: int, language: str, now: float
) -> list[PageAlert]:
    """The program's open sent alerts as ``role`` (with audience ``k``) may read them."""
    rules = rules_by_id(store, program_id)
    shown: list[PageAlert] = []
    for alert in _open_of(store, program_id, "sent", now, SHOWN_MAX):
        rule = rules.get(alert.rule_id)
        if rule is None:
            continue
        view = alert_view(alert, rule, role=role, k=k, language=language)
        shown.append(
            PageAlert(
                ref=alert.ref,
                headline=view["headline"],
                area=view["area"],
                day=alert.day,
                day_words=format_date(
                    dt.date.fromisoformat(alert.day), format="long", locale=language
                ),
                count_words=view["count_words"],
                what_to_do=tuple(view["what_to_do"]),
                poster=poster_path(alert.ref),
            )
        )
    return shown


def peer_alerts(
    store: Store, settings: Settings, program_id: int, *, language: str, now: float
) -> list[PageAlert]:
    """What a peer may read, for a page every role that reports gets alike (``/report``)."""
    k = audience_k(store, settings, program_id, Role.PEER)
    return open_sent_alerts(store, program_id, role=Role.PEER, k=k, language=language, now=now)


@dataclass(frozen=True)
class IndexAlerts:
    """What the maps index shows: the open sent alerts, and for managers and stewards the
    number of drafts waiting (``None`` for anyone else: not even zero is said)."""

    sent: list[PageAlert]
    drafts_waiting: int | None


def index_alerts(
    store: Store, settings: Settings, program_id: int, *, role: Role, language: str, now: float
) -> IndexAlerts:
    """The index's alerts in ``role``'s view, with the k of the role's audience."""
    k = audience_k(store, settings, program_id, role)
    sent = open_sent_alerts(store, program_id, role=role, k=k, language=language, now=now)
    drafts = None
    if role in FULL_VIEW_ROLES:
        drafts = len(_open_of(store, program_id, "drafted", now, _DRAFTS_SCAN))
    return IndexAlerts(sent, drafts)
