"""Alert rules as the steward sets them (issue 19), checked once here for the API and the CLI.

A refusal says what is wrong in our own words and never repeats what was sent: a rule's name
or an option's name may be anything, and a refusal may end up in a log or on a page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from geo_service.audit import record
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.settings import EventKind
from geo_service.storage import Store
from geo_service.storage.alert_records import AlertRule, NewAlertRule

KINDS = ("overdose", "needle_report")
FIXED_METHODS = ("count", "naloxone")
EARS_METHODS = ("ears_c1", "ears_c2", "ears_c3")
METHODS = (*FIXED_METHODS, *EARS_METHODS, "ewma")
# program: the whole program area; cells: coarse cells of >= 1 km²; named: the steward's
# named areas; all: the three together.
AREA_SCOPES = ("program", "cells", "named", "all")
WINDOWS = (24, 1)
# The minimum-count guard of the statistical methods when the steward names none.
DEFAULT_GUARD = 3
MAX_THRESHOLD = 100_000
NAME_MAX = 100
# EARS: alarm at this many standard deviations (Hutwagner's defaults); C3 sums C2's excess.
EARS_DEFAULT_SD = {"ears_c1": 3.0, "ears_c2": 2.0, "ears_c3": 2.0}
EARS_MIN_SIGMA = 0.5
EWMA_LEVELS = ("yellow", "red")


@dataclass(frozen=True)
class Caller:
    """Who changes a program's alerts, as the audit trail names them, and when."""

    program_id: int
    actor: str
    key_id: int | None
    now: int


@dataclass(frozen=True)
class RuleAsk:
    """A rule as sent, before any check."""

    name: str
    kind: str
    method: str
    window_hours: int = 24
    threshold: int | None = None
    areas: str = "all"
    auto_send: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)


def check_name(name: str, what: str) -> str:
    """A name of 1 to 100 characters with no control characters, spaces trimmed."""
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= NAME_MAX:
        raise InvalidParameter(f"{what} is 1 to {NAME_MAX} characters", code="invalid_name")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in trimmed):
        raise InvalidParameter(
            f"{what} may not hold control characters or line breaks", code="invalid_name"
        )
    return trimmed


def _check_choices(ask: RuleAsk) -> None:
    if ask.kind not in KINDS:
        raise InvalidParameter("kind is one of: " + ", ".join(KINDS), code="invalid_rule")
    if ask.method not in METHODS:
        raise InvalidParameter("method is one of: " + ", ".join(METHODS), code="invalid_rule")
    if ask.areas not in AREA_SCOPES:
        raise InvalidParameter("areas is one of: " + ", ".join(AREA_SCOPES), code="invalid_rule")
    if ask.method == "naloxone" and ask.kind != "overdose":
        raise InvalidParameter(
            "the naloxone method counts the doses given at overdoses: it works for kind "
            "overdose only",
            code="invalid_rule",
        )


def _check_window(ask: RuleAsk, deployment: Deployment) -> None:
    if ask.window_hours not in WINDOWS:
        raise InvalidParameter("window_hours is 24, or 1 for a count rule", code="invalid_window")
    if ask.window_hours == 24:
        return
    if ask.method != "count":
        raise InvalidParameter(
            "only the count method takes a 1-hour window; the others compare whole days "
            "(window_hours 24)",
            code="invalid_window",
        )
    bucket = deployment.bucket_hours(EventKind(ask.kind))
    if bucket > 1:
        words = "overdoses" if ask.kind == "overdose" else "these reports"
        raise InvalidParameter(
            f"{words} are kept to {bucket}-hour blocks, so they cannot be counted in a 1-hour "
            "window; use window_hours 24",
            code="invalid_window",
        )


def _check_threshold(ask: RuleAsk) -> int:
    if ask.threshold is None:
        if ask.method in FIXED_METHODS:
            raise InvalidParameter(
                "a count or naloxone rule needs a threshold: how many reports (or naloxone "
                "doses) in the window raise an alert",
                code="invalid_threshold",
            )
        return DEFAULT_GUARD
    if not 1 <= ask.threshold <= MAX_THRESHOLD:
        raise InvalidParameter(
            f"threshold is a whole number from 1 to {MAX_THRESHOLD}", code="invalid_threshold"
        )
    return ask.threshold


def _number(value: Any, name: str, low: float, high: float) -> float:
    """A number in (low, high]; bools are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
        raise InvalidParameter(
            f"option {name} is a number above {low:g} and at most {high:g}", code="invalid_option"
        )
    return float(value)


def check_options(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The method's options with their defaults filled in; unknown names are refused."""
    allowed: tuple[str, ...] = ()
    if method in EARS_METHODS:
        allowed = ("threshold", "min_sigma")
    elif method == "ewma":
        allowed = ("alarm_at",)
    if set(options) - set(allowed):
        takes = ", ".join(allowed) if allowed else "no options"
        raise InvalidParameter(
            f"an option is not known for the {method} method; it takes {takes}",
            code="invalid_option",
        )
    if method in EARS_METHODS:
        return {
            "threshold": _number(
                options.get("threshold", EARS_DEFAULT_SD[method]), "threshold", 0, 10
            ),
            "min_sigma": _number(options.get("min_sigma", EARS_MIN_SIGMA), "min_sigma", 0, 1000),
        }
    if method == "ewma":
        level = options.get("alarm_at", "red")
        if level not in EWMA_LEVELS:
            raise InvalidParameter("option alarm_at is yellow or red", code="invalid_option")
        return {"alarm_at": level}
    return {}


def check_rule(ask: RuleAsk, deployment: Deployment) -> RuleAsk:
    """The rule as it will be stored, or a 400 saying what is wrong (never echoing input)."""
    name = check_name(ask.name, "a rule's name")
    _check_choices(ask)
    _check_window(ask, deployment)
    threshold = _check_threshold(ask)
    options = check_options(ask.method, ask.options)
    return dataclasses.replace(ask, name=name, threshold=threshold, options=options)


def add_rule(store: Store, deployment: Deployment, caller: Caller, ask: RuleAsk) -> AlertRule:
    """Check and store a rule; audited (its settings, not its name: the steward's words)."""
    checked = check_rule(ask, deployment)
    assert checked.threshold is not None  # check_rule fills it
    new = NewAlertRule(
        program_id=caller.program_id,
        name=checked.name,
        kind=checked.kind,
        method=checked.method,
        window_hours=checked.window_hours,
        threshold=checked.threshold,
        areas=checked.areas,
        auto_send=checked.auto_send,
        options=orjson.dumps(dict(checked.options), option=orjson.OPT_SORT_KEYS).decode(),
        created_at=caller.now,
    )
    rule_id = store.add_alert_rule(new)
    record(
        store,
        "alert_rule.add",
        actor=caller.actor,
        program_id=caller.program_id,
        key_id=caller.key_id,
        rule_id=rule_id,
        kind=new.kind,
        method=new.method,
        window_hours=new.window_hours,
        threshold=new.threshold,
        areas=new.areas,
        auto_send=new.auto_send,
    )
    return AlertRule(**dataclasses.asdict(new), id=rule_id)


def delete_rule(store: Store, caller: Caller, rule_id: int) -> bool:
    """Soft-delete one of the program's rules (its alerts keep naming it); audited."""
    if not store.delete_alert_rule(caller.program_id, rule_id, caller.now):
        return False
    record(
        store,
        "alert_rule.delete",
        actor=caller.actor,
        program_id=caller.program_id,
        key_id=caller.key_id,
        rule_id=rule_id,
    )
    return True


def iso(epoch_s: int) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rule_json(rule: AlertRule) -> dict[str, Any]:
    """A rule as managers and stewards read it (never shown below manager level: its name
    and threshold are the steward's words, and "3 in 24 hours" would tell a small count)."""
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind,
        "method": rule.method,
        "window_hours": rule.window_hours,
        "threshold": rule.threshold,
        "areas": rule.areas,
        "auto_send": rule.auto_send,
        "options": orjson.loads(rule.options),
        "created_at": iso(rule.created_at),
    }
