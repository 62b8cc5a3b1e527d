"""The printable drug-alert poster: who may see it and what it says.

A poster is meant to be put up where anyone reads it, so it says what a peer may be told and
the count only when it reaches the stricter of the peer and public k: "Drug alert", the
program, the day, the area in words, the headline, what to do, the steward's phone number. No
map, no pin.

Who may open it: any signed-in role of the program once the alert is sent; managers and
stewards also a draft's (to review the poster before they confirm); the public (no sign-in)
only a sent alert's poster the steward published. Everything else, a dismissed alert or
another program's, is the same "not found" as an id that does not exist."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from babel.dates import format_date

from geo_service.auth import Principal, Role
from geo_service.services.alerts.messages import ALERT_WORDS, WHAT_TO_DO_WORDS, rule_of
from geo_service.services.alerts.views import FULL_VIEW_ROLES, alert_view
from geo_service.services.publication import Audience, threshold
from geo_service.settings import Settings
from geo_service.storage import Store
from geo_service.storage.alert_records import StoredAlert
from maps.language import N_, translations

CALL_WORDS = N_("Call {phone}")
DRAFT_WORDS = N_("Draft: not sent yet")


@dataclass(frozen=True)
class Poster:
    alert_words: str
    program: str
    date: str
    area: str
    headline: str
    count_words: str | None
    what_to_do_words: str
    what_to_do: list[str]
    call: str | None
    draft: str | None  # a manager's preview of a draft says so


def find_poster(store: Store, viewer: Principal | None, ref: str) -> tuple[StoredAlert, str] | None:
    """The alert and its program's name, if ``viewer`` (``None``: the public) may see its
    poster."""
    if viewer is not None:
        alert = store.alert_by_ref(viewer.program_id, ref)
        if alert is not None and (
            alert.status == "sent" or (alert.status == "drafted" and viewer.role in FULL_VIEW_ROLES)
        ):
            return alert, viewer.program
    return store.public_poster(ref)


def poster_k(store: Store, settings: Settings, program_id: int) -> int:
    """A poster is public-facing: its count needs the stricter of the peer and public k."""
    choice = store.publication(program_id)
    return max(
        threshold(settings, choice, Audience.PEER), threshold(settings, choice, Audience.PUBLIC)
    )


def poster_of(
    store: Store, settings: Settings, found: tuple[StoredAlert, str], language: str
) -> Poster | None:
    alert, program = found
    rule = rule_of(store, alert)
    if rule is None:
        return None
    words = translations(language).gettext
    k = poster_k(store, settings, alert.program_id)
    view = alert_view(alert, rule, role=Role.PEER, k=k, language=language)
    phone = store.alert_phone(alert.program_id)
    return Poster(
        alert_words=words(ALERT_WORDS),
        program=program,
        date=format_date(dt.date.fromisoformat(alert.day), format="long", locale=language),
        area=view["area"],
        headline=view["headline"],
        count_words=view["count_words"],
        what_to_do_words=words(WHAT_TO_DO_WORDS),
        what_to_do=list(view["what_to_do"]),
        call=words(CALL_WORDS).format(phone=phone) if phone else None,
        draft=words(DRAFT_WORDS) if alert.status != "sent" else None,
    )
