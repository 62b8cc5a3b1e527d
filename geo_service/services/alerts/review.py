"""Alerts as each role reads them, and the review a person gives a draft (issue 19).

Every alert shown below manager level goes through :func:`views.alert_view`, with the k of
the caller's audience; drafts and dismissed alerts are never read for a peer or a planner (the
store is asked for sent alerts only), so their answers cannot change when a draft is made or
dismissed. An alert a caller may not see answers exactly like one that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from geo_service.audit import record
from geo_service.auth import Role
from geo_service.errors import Conflict, InvalidParameter, NotFound
from geo_service.services.alerts.rules import Caller
from geo_service.services.alerts.views import FULL_VIEW_ROLES, alert_view, visible_to
from geo_service.services.publication import AUDIENCE_OF_ROLE, threshold
from geo_service.settings import Settings
from geo_service.storage import Store
from geo_service.storage.alert_records import AlertRule, StoredAlert

# An alert is open for a week after it was drafted: a warning about an older window is history.
OPEN_DAYS = 7
PAGE_DEFAULT = 50
PAGE_MAX = 200
_SCAN_PAGE = 200
NO_ALERT = "no alert with that id"
PHONE = re.compile(r"[0-9 +\-()]{1,32}")


@dataclass(frozen=True)
class Reader:
    """Who reads alerts: their program and role, the k of their audience, their language."""

    program_id: int
    role: Role
    k: int
    language: str

    @property
    def statuses(self) -> tuple[str, ...] | None:
        """What the store is asked for: peers and planners never get a draft read at all."""
        return None if self.role in FULL_VIEW_ROLES else ("sent",)


def reader_for(
    store: Store, settings: Settings, program_id: int, role: Role, language: str
) -> Reader:
    """Managers and stewards see every count; peers and planners their audience's k (the
    steward may have raised it)."""
    k = 0
    if role in AUDIENCE_OF_ROLE:
        k = threshold(settings, store.publication(program_id), AUDIENCE_OF_ROLE[role])
    return Reader(program_id, role, k, language)


@dataclass(frozen=True)
class Page:
    before: str | None = None  # the reference of the last alert of the previous page
    limit: int = PAGE_DEFAULT

    def check(self) -> None:
        if not 1 <= self.limit <= PAGE_MAX:
            raise InvalidParameter(f"limit is 1 to {PAGE_MAX}")


def _views(store: Store, reader: Reader, alerts: list[StoredAlert]) -> list[dict[str, Any]]:
    rules: dict[int, AlertRule] = {
        r.id: r for r in store.alert_rules(reader.program_id, with_deleted=True)
    }
    return [
        alert_view(a, rules[a.rule_id], role=reader.role, k=reader.k, language=reader.language)
        for a in alerts
        if a.rule_id in rules and visible_to(a, reader.role)
    ]


def _before_id(store: Store, reader: Reader, page: Page) -> int | None:
    """The stored id a page continues from; a reference the reader may not see (or none that
    exists) is refused alike."""
    if page.before is None:
        return None
    alert = store.alert_by_ref(reader.program_id, page.before)
    if alert is None or not visible_to(alert, reader.role):
        raise InvalidParameter("before is the next_before of an earlier page of alerts")
    return alert.id


def _open(store: Store, reader: Reader, page: Page, now: int) -> list[StoredAlert]:
    """Alerts drafted in the last week that the reader may see (drafts and sent ones for
    managers, sent ones for others), newest first; ids grow with drafting time."""
    cutoff = now - OPEN_DAYS * 86400
    statuses = reader.statuses or ("drafted", "sent")
    found: list[StoredAlert] = []
    before = _before_id(store, reader, page)
    while len(found) < page.limit:
        batch = store.list_alerts(
            reader.program_id, statuses=statuses, limit=_SCAN_PAGE, before_id=before
        )
        found += [a for a in batch if a.drafted_at >= cutoff]
        if len(batch) < _SCAN_PAGE or batch[-1].drafted_at < cutoff:
            break
        before = batch[-1].id
    return found[: page.limit]


def list_alerts(
    store: Store, reader: Reader, *, history: bool, page: Page, now: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of alerts as ``reader`` may see them, and the ``before`` of the next page."""
    page.check()
    if history:
        alerts = store.list_alerts(
            reader.program_id,
            statuses=reader.statuses,
            limit=page.limit,
            before_id=_before_id(store, reader, page),
        )
    else:
        alerts = _open(store, reader, page, now)
    following = alerts[-1].ref if len(alerts) == page.limit else None
    return _views(store, reader, alerts), following


def one_alert(store: Store, reader: Reader, ref: str) -> dict[str, Any]:
    """One alert; a draft (for a peer), another program's or a missing one: the same 404."""
    alert = store.alert_by_ref(reader.program_id, ref)
    views = [] if alert is None else _views(store, reader, [alert])
    if not views:
        raise NotFound(NO_ALERT)
    return views[0]


def _existing(store: Store, program_id: int, ref: str) -> StoredAlert:
    alert = store.alert_by_ref(program_id, ref)
    if alert is None:
        raise NotFound(NO_ALERT)
    return alert


def decide_alert(store: Store, caller: Caller, ref: str, *, confirm: bool) -> StoredAlert:
    """Send (confirm) or dismiss a draft, once; audited with the key that decided. The caller
    delivers a confirmed alert (services.alerts.delivery), off the request."""
    alert_id = _existing(store, caller.program_id, ref).id
    status = "sent" if confirm else "dismissed"
    decided = store.decide_alert(
        caller.program_id, alert_id, status=status, now=caller.now, key_id=caller.key_id
    )
    if decided is None:
        raise Conflict(
            "this alert was already confirmed or dismissed; only a draft can be",
            code="already_decided",
        )
    record(
        store,
        "alert.confirm" if confirm else "alert.dismiss",
        actor=caller.actor,
        program_id=caller.program_id,
        key_id=caller.key_id,
        alert_id=alert_id,
        rule_id=decided.rule_id,
    )
    return decided


def publish_poster(store: Store, caller: Caller, ref: str, *, public: bool) -> StoredAlert:
    """Let anyone open a sent alert's printable poster (or stop it); audited."""
    alert_id = _existing(store, caller.program_id, ref).id
    if not store.set_poster_public(caller.program_id, alert_id, public):
        raise Conflict(
            "only a sent alert has a poster; confirm the draft first", code="alert_not_sent"
        )
    record(
        store,
        "alert.poster",
        actor=caller.actor,
        program_id=caller.program_id,
        key_id=caller.key_id,
        alert_id=alert_id,
        public=public,
    )
    return _existing(store, caller.program_id, ref)


def check_phone(phone: str | None) -> str | None:
    """The poster's phone number: digits, spaces, +, -, parentheses; at most 32 characters."""
    if phone is None or not phone.strip():
        return None
    trimmed = phone.strip()
    if not PHONE.fullmatch(trimmed) or not any(c.isdigit() for c in trimmed):
        raise InvalidParameter(
            "a phone number is digits, spaces, +, - and parentheses, at most 32 characters",
            code="invalid_phone",
        )
    return trimmed


def set_phone(store: Store, caller: Caller, phone: str | None) -> str | None:
    """Set (or clear, with None) the number the poster tells people to call; audited."""
    checked = check_phone(phone)
    store.set_alert_phone(caller.program_id, checked)
    record(
        store,
        "alert.phone",
        actor=caller.actor,
        program_id=caller.program_id,
        key_id=caller.key_id,
        phone_set=checked is not None,
    )
    return checked
