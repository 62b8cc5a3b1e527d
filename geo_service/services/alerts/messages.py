"""An alert cut to one audience, in words: what the feed, a webhook, an email and the poster
say. Every one of them starts from :func:`views.alert_view` with the audience's k, so no
channel can tell a peer more than the API would."""

from __future__ import annotations

from typing import Any

from geo_service.auth import Role
from geo_service.services.alerts.views import FULL_VIEW_ROLES, alert_view
from geo_service.services.publication import AUDIENCE_OF_ROLE, threshold
from geo_service.settings import Settings
from geo_service.storage import Store
from geo_service.storage.alert_records import AlertRule, StoredAlert
from maps.language import N_, translations

ALERT_WORDS = N_("Drug alert")
WHAT_TO_DO_WORDS = N_("What to do")
POSTER_WORDS = N_("Printable poster")
MANAGER_COUNTS = N_("Reports in the window: {observed}; expected: {expected}.")


def audience_k(store: Store, settings: Settings, program_id: int, role: Role) -> int:
    """The k of a peer or planner audience (the steward's, never below the floor); managers
    see every count, so none applies."""
    audience = AUDIENCE_OF_ROLE.get(role)
    if audience is None:
        return 0
    return threshold(settings, store.publication(program_id), audience)


def rules_by_id(store: Store, program_id: int) -> dict[int, AlertRule]:
    """The program's rules, those the steward deleted since an alert was sent too."""
    return {rule.id: rule for rule in store.alert_rules(program_id, with_deleted=True)}


def rule_of(store: Store, alert: StoredAlert) -> AlertRule | None:
    return rules_by_id(store, alert.program_id).get(alert.rule_id)


def poster_path(ref: str) -> str:
    return f"/alerts/{ref}/poster"


def poster_url(settings: Settings, ref: str) -> str:
    """Absolute on the configured public address; else relative (never built on a request's
    Host header)."""
    return (settings.public_url or "") + poster_path(ref)


def role_view(
    store: Store, settings: Settings, alert: StoredAlert, rule: AlertRule, *, role: Role
) -> dict[str, dict[str, Any]]:
    """The audience's view in each language, by language code."""
    k = audience_k(store, settings, alert.program_id, role)
    return {
        language: alert_view(alert, rule, role=role, k=k, language=language)
        for language in ("en", "fr")
    }


def title_of(view: dict[str, Any]) -> str:
    """The headline and the area: a feed entry's title, an email's subject."""
    return f"{view['headline']} — {view['area']}"


def text_of(view: dict[str, Any], language: str, *, role: Role) -> str:
    """The alert as plain text: headline and area, the count if shown, what to do; for
    managers, the observed and expected counts as the full view has them."""
    words = translations(language).gettext
    lines = [title_of(view)]
    if view.get("count_words"):
        lines.append(str(view["count_words"]))
    if role in FULL_VIEW_ROLES and view.get("observed") is not None:
        expected = view.get("expected")
        lines.append(
            words(MANAGER_COUNTS).format(
                observed=view["observed"], expected="-" if expected is None else f"{expected:.1f}"
            )
        )
    lines.append(f"{words(WHAT_TO_DO_WORDS)}:")
    lines.extend(f"- {line}" for line in view["what_to_do"])
    return "\n".join(lines)
