"""API keys and roles. Only a SHA-256 of each key is stored; the key is shown once."""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from geo_service.audit import record
from geo_service.errors import Forbidden, InvalidParameter, Unauthenticated
from geo_service.settings import EventKind
from geo_service.storage import KeyRecord, Store, StoredGeography

KEY_PREFIX = "gs_"
PROGRAM_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Role(enum.StrEnum):
    PEER = "peer"
    PLANNER = "planner"
    MANAGER = "manager"
    STEWARD = "steward"


# Which event kinds each role may submit; planners submit nothing.
SUBMITTABLE_KINDS: dict[Role, frozenset[str]] = {
    Role.PEER: frozenset({EventKind.NEEDLE_REPORT.value, EventKind.CLEANUP.value}),
    Role.PLANNER: frozenset(),
    Role.MANAGER: frozenset(k.value for k in EventKind),
    Role.STEWARD: frozenset(k.value for k in EventKind),
}
EVENT_WRITERS = frozenset(role for role, kinds in SUBMITTABLE_KINDS.items() if kinds)
ANYONE = frozenset(Role)
PLANNING = frozenset({Role.PLANNER, Role.MANAGER, Role.STEWARD})
FULL_VIEW = frozenset({Role.MANAGER, Role.STEWARD})  # may see every cell, small ones too
STEWARDS = frozenset({Role.STEWARD})


class Action(enum.StrEnum):
    """What a route does, in the words a refusal uses: ``<action> needs one of the roles``."""

    SUBMIT_EVENTS = "submitting events"
    SEND_REPORTS = "sending reports from a phone"
    READ_EVENTS = "reading events"
    READ_SITES = "reading sites"
    ADD_SITES = "adding service sites"
    READ_LAYERS = "reading candidate sites and exclusions"
    MAP_PLANNING_LAYERS = "adding candidate sites and exclusions to a GIS"
    ADD_LAYERS = "adding candidate sites and exclusions"
    SITE_LOCKERS = "siting lockers"
    RANK_CONSUMPTION_SITES = "ranking consumption sites"
    READ_PUBLICATION = "reading publication settings"
    CHANGE_PUBLICATION = "changing publication settings"
    READ_AUDIT = "reading the audit trail"
    EXPORT_PROGRAM = "exporting the program's data"
    DELETE_PROGRAM = "deleting the program's data"
    MANAGE_INVITES = "inviting phones to sign in"
    READ_ALERTS = "reading alerts"
    READ_ALERT_SETTINGS = "reading alert rules, areas and settings"
    CHANGE_ALERT_SETTINGS = "changing alert rules, areas and settings"
    DECIDE_ALERTS = "confirming or dismissing alerts"
    PUBLISH_POSTERS = "publishing an alert poster"


# The one policy table: which roles may do what. Routes ask for an action, never a role set.
POLICY: dict[Action, frozenset[Role]] = {
    Action.SUBMIT_EVENTS: EVENT_WRITERS,
    # One square and hour per report, every type (an overdose a peer helped at, too).
    Action.SEND_REPORTS: frozenset({Role.PEER, Role.MANAGER, Role.STEWARD}),
    Action.READ_EVENTS: FULL_VIEW,
    Action.READ_SITES: ANYONE,
    Action.ADD_SITES: FULL_VIEW,
    Action.READ_LAYERS: ANYONE,
    # /ogc lists candidates and exclusions to planners and up only (issue 20): a peer's
    # QGIS shows the layers a peer works with, not where a consumption site may go.
    Action.MAP_PLANNING_LAYERS: PLANNING,
    Action.ADD_LAYERS: PLANNING,
    Action.SITE_LOCKERS: PLANNING,
    Action.RANK_CONSUMPTION_SITES: PLANNING,
    Action.READ_PUBLICATION: FULL_VIEW,
    Action.CHANGE_PUBLICATION: STEWARDS,
    Action.READ_AUDIT: STEWARDS,
    Action.EXPORT_PROGRAM: STEWARDS,
    Action.DELETE_PROGRAM: STEWARDS,
    Action.MANAGE_INVITES: STEWARDS,
    # Everyone with a key reads alerts; what each role is shown is cut by
    # services.alerts.views (peers and planners: sent alerts, no small counts).
    Action.READ_ALERTS: ANYONE,
    Action.READ_ALERT_SETTINGS: FULL_VIEW,
    Action.CHANGE_ALERT_SETTINGS: STEWARDS,
    # A person reviews a draft before it goes out (human review, as BC's alerts do).
    Action.DECIDE_ALERTS: FULL_VIEW,
    Action.PUBLISH_POSTERS: STEWARDS,
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: key id, role and program."""

    key_id: int
    role: Role
    program: str
    program_id: int

    @property
    def actor(self) -> str:
        """How the audit log names this caller: never the key itself."""
        return f"key {self.key_id} ({self.role.value})"

    def may(self, action: Action) -> bool:
        return self.role in POLICY[action]

    def check(self, action: Action) -> None:
        """Raise 403 unless the policy table lets this role do ``action``."""
        if not self.may(action):
            allowed = ", ".join(sorted(r.value for r in POLICY[action]))
            raise Forbidden(f"{action.value} needs one of the roles: {allowed}")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_program_name(name: str) -> str:
    if not PROGRAM_NAME.match(name):
        raise InvalidParameter(
            "a program name is 1-64 lowercase letters, digits, '-' or '_', starting with a "
            "letter or digit"
        )
    return name


def create_key(
    store: Store,
    *,
    program: str,
    role: Role,
    label: str | None = None,
    actor: str = "cli",
    geography: StoredGeography | None = None,
) -> tuple[int, str]:
    """Create a key (and its program if new, with ``geography``: the deployment's defaults,
    kept from then on). Returns ``(key_id, key)``; the key is not kept."""
    program_id = store.get_or_create_program(check_program_name(program), geography)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = store.add_key(program_id, role.value, hash_key(key), key[:8], label)
    record(
        store, "key.create", actor=actor, program_id=program_id, new_key_id=key_id, role=role.value
    )
    return key_id, key


def revoke_key(store: Store, key_id: int, *, actor: str = "cli") -> bool:
    """Revoke a key; False if there is no active key with that id."""
    keys = {k.id: k for k in store.list_keys()}
    if not store.revoke_key(key_id):
        return False
    record(
        store,
        "key.revoke",
        actor=actor,
        program_id=keys[key_id].program_id if key_id in keys else None,
        revoked_key_id=key_id,
    )
    return True


def authenticate(store: Store, authorization: str | None) -> Principal:
    """Resolve an ``Authorization: Bearer KEY`` header to a principal, or raise 401."""
    if not authorization:
        raise Unauthenticated("send the key as 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
    record = store.key_by_hash(hash_key(key.strip()))
    if record is None or record.revoked_on is not None:
        raise Unauthenticated("the key is unknown or revoked; ask your data steward for a key")
    return Principal(
        key_id=record.id,
        role=Role(record.role),
        program=record.program,
        program_id=record.program_id,
    )


SESSION_COOKIE = "gs_session"


def _principal(record: KeyRecord) -> Principal:
    return Principal(
        key_id=record.id,
        role=Role(record.role),
        program=record.program,
        program_id=record.program_id,
    )


def start_session(store: Store, key: str, *, hours: float) -> tuple[str, Principal]:
    """Sign a browser in with a pasted key: returns the cookie's token (only its hash is
    stored) and who it is. The key itself is not kept."""
    principal = authenticate(store, f"Bearer {key.strip()}")
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    store.add_session(hash_key(token), principal.key_id, now + int(hours * 3600), now)
    return token, principal


def session_principal(store: Store, token: str) -> Principal | None:
    record = store.key_by_session(hash_key(token), int(time.time()))
    if record is None or record.revoked_on is not None:
        return None
    return _principal(record)
