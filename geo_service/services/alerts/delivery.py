"""Delivering a sent alert to its subscribers (Atom feed readers poll; webhooks and email are
pushed from here). Each subscriber gets its audience's view (peer and planner: the count only
at or above their k; manager: the full view), and each delivery is recorded with its outcome:
a status code or an error's class name, never the target, the secret or the body. Logs carry
the alert's id, the channel and the outcome only."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from geo_service.auth import Role
from geo_service.services.alerts import mailing, webhooks
from geo_service.services.alerts.messages import (
    ALERT_WORDS,
    POSTER_WORDS,
    poster_url,
    role_view,
    rule_of,
    text_of,
    title_of,
)
from geo_service.settings import Settings
from geo_service.storage import Store
from geo_service.storage.alert_records import AlertRule, Delivery, StoredAlert, Subscriber
from maps.language import translations

logger = logging.getLogger("geo_service.alerts")
NOT_CONFIGURED = "not configured"


def webhook_body(
    program: str, subscriber: Subscriber, views: dict[str, dict[str, Any]], poster: str
) -> bytes:
    """The JSON a webhook receives: the audience's view in English, the French words beside
    it (a bot can post either), the poster's address."""
    french = views["fr"]
    return orjson.dumps(
        {
            "event": webhooks.EVENT,
            "program": program,
            "audience": subscriber.audience,
            "alert": views["en"],
            "fr": {key: french[key] for key in ("headline", "area", "count_words", "what_to_do")},
            "poster_url": poster,
        }
    )


def email_text(program: str, views: dict[str, dict[str, Any]], poster: str, role: Role) -> str:
    """English, then French: each with who sends it, the alert, what to do, the poster."""
    parts = []
    for language in ("en", "fr"):
        words = translations(language).gettext
        parts.append(
            f"{words(ALERT_WORDS)} — {program}\n\n"
            f"{text_of(views[language], language, role=role)}\n\n"
            f"{words(POSTER_WORDS)}: {poster}"
        )
    return "\n\n-----\n\n".join(parts)


def _send(
    settings: Settings, program: str, subscriber: Subscriber, views: dict[str, dict[str, Any]]
) -> webhooks.Outcome:
    poster = poster_url(settings, views["en"]["id"])
    if subscriber.channel == "webhook":
        body = webhook_body(program, subscriber, views, poster)
        return webhooks.post(subscriber.target, subscriber.secret or "", body)
    if not mailing.configured(settings):
        return webhooks.Outcome(False, NOT_CONFIGURED)
    role = Role(subscriber.audience)
    mail = mailing.message(
        settings,
        subscriber.target,
        title_of(views["en"]),
        email_text(program, views, poster, role),
    )
    try:
        mailing.send(settings, mail)
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
        return webhooks.Outcome(False, type(exc).__name__)
    return webhooks.Outcome(True, "sent")


def _deliver_one(
    store: Store,
    settings: Settings,
    program: str,
    subscriber: Subscriber,
    found: tuple[StoredAlert, AlertRule],
) -> None:
    alert, rule = found
    try:
        views = role_view(store, settings, alert, rule, role=Role(subscriber.audience))
        outcome = _send(settings, program, subscriber, views)
    except Exception as exc:  # one subscriber's failure must not stop the others
        outcome = webhooks.Outcome(False, type(exc).__name__)
    store.add_delivery(
        Delivery(alert.id, subscriber.id, int(time.time()), outcome.ok, outcome.detail)
    )
    log = logger.info if outcome.ok or outcome.detail == NOT_CONFIGURED else logger.warning
    log(
        "alert %d delivery by %s: %s",
        alert.id,
        subscriber.channel,
        outcome.detail,
    )


def deliver_alert(store: Store, settings: Settings, program_id: int, alert_id: int) -> None:
    """Push one sent alert to the program's webhooks and email subscribers, recording each
    delivery; never raises (a failed delivery is recorded, not lost, and never fails the
    request that sent the alert)."""
    try:
        alert = store.alert(program_id, alert_id)
        if alert is None or alert.status != "sent":
            return
        rule = rule_of(store, alert)
        if rule is None:
            return
        program = store.program_name(program_id) or ""
        for subscriber in store.subscribers(program_id):
            _deliver_one(store, settings, program, subscriber, (alert, rule))
    except Exception as exc:
        logger.error("alert %d delivery stopped: %s", alert_id, type(exc).__name__)
