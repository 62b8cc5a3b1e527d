"""One-time invites: a steward's short code that signs a phone in without a key to type.

A code is 8 characters from the 31 that cannot be mistaken for one another (digits 2-9 and
the capitals without I, L and O): 31**8 = 8.5e11 codes, 39.6 bits. That is far too few for a
key, so a code lives 24 hours, works once, and guesses are rate-limited (``JoinLimiter``). Only
an HMAC of the code, keyed by the deployment's secret, is stored: a copy of the database alone
does not let anyone search the code space offline. Codes are never compared as text: the store
looks up the keyed hash, whose timing says nothing about the code without the secret.

Invites make peers and planners only. A manager sees every cell, small ones too; that view is
handed over with ``keys create`` and a key kept deliberately, never by a short code that a
photo of a screen or a shoulder can carry off. Stewards are never invited.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass

from geo_service.audit import record
from geo_service.auth import KEY_PREFIX, Principal, Role, hash_key
from geo_service.errors import InvalidParameter
from geo_service.security import address_digest
from geo_service.storage import InviteRecord, NewInvite, Redemption, Store

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH = 8
CODE_BITS = CODE_LENGTH * math.log2(len(ALPHABET))  # 39.6
INVITE_HOURS = 24
MAX_SESSION_DAYS = 30
INVITE_ROLES = frozenset({Role.PEER, Role.PLANNER})
_SEPARATORS = re.compile(r"[\s\-_.]+")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def shown(code: str) -> str:
    """How a code is printed: two groups of four, easy to read aloud."""
    return f"{code[:4]}-{code[4:]}"


def normalise(text: str) -> str | None:
    """The code typed or scanned: spaces, dashes and lower case are fine; None if it cannot be
    a code at all (the caller refuses it exactly like a wrong one)."""
    code = _SEPARATORS.sub("", text).upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def code_hash(secret: str, code: str) -> str:
    return hmac.new(secret.encode(), b"invite:" + code.encode(), hashlib.sha256).hexdigest()


def join_url(public_url: str | None, code: str) -> str:
    return f"{(public_url or '').rstrip('/')}/join?code={shown(code)}"


@dataclass(frozen=True)
class IssuedInvite:
    id: int
    code: str  # shown once, never stored
    role: Role
    program: str
    session_days: int
    expires_at: int


def check_invite_role(role: Role) -> Role:
    if role not in INVITE_ROLES:
        raise InvalidParameter(
            "invites make peer or planner sign-ins only; give a manager a key with "
            "'geo-service keys create'"
        )
    return role


def check_session_days(days: int) -> int:
    if not 1 <= days <= MAX_SESSION_DAYS:
        raise InvalidParameter(f"session_days must be 1 to {MAX_SESSION_DAYS}")
    return days


@dataclass(frozen=True)
class InviteAsk:
    """What a steward asks for: a role, a program, how long the phone stays signed in."""

    program_id: int
    program: str
    role: Role
    session_days: int = MAX_SESSION_DAYS
    label: str | None = None


def create_invite(
    store: Store, ask: InviteAsk, *, actor: str, now: int | None = None
) -> IssuedInvite:
    role = check_invite_role(ask.role)
    days = check_session_days(ask.session_days)
    now = int(time.time()) if now is None else now
    code = new_code()
    invite = NewInvite(
        program_id=ask.program_id,
        role=role.value,
        code_hash=code_hash(store.server_secret(), code),
        session_days=days,
        created_at=now,
        expires_at=now + INVITE_HOURS * 3600,
        created_by=actor[:100],
        label=ask.label,
    )
    invite_id = store.add_invite(invite)
    record(
        store,
        "invite.create",
        actor=actor,
        program_id=ask.program_id,
        invite_id=invite_id,
        role=role.value,
        session_days=days,
    )
    return IssuedInvite(invite_id, code, role, ask.program, days, invite.expires_at)


def open_invites(store: Store, program_id: int | None, now: int) -> list[InviteRecord]:
    """Invites that could still be used: not used, not revoked, not expired."""
    return [
        i
        for i in store.list_invites(program_id)
        if i.used_at is None and i.revoked_at is None and i.expires_at > now
    ]


def revoke_invite(
    store: Store, invite_id: int, *, actor: str, program_id: int | None = None
) -> bool:
    """Revoke an invite; if a phone joined with it, that phone is signed out for good."""
    found = {i.id: i for i in store.list_invites(program_id)}.get(invite_id)
    if found is None or not store.revoke_invite(invite_id, int(time.time()), program_id):
        return False
    record(
        store,
        "invite.revoke",
        actor=actor,
        program_id=found.program_id,
        invite_id=invite_id,
        revoked_key_id=found.used_key_id,
    )
    return True


@dataclass(frozen=True)
class Joined:
    token: str  # the session cookie's value; only its hash is stored
    principal: Principal
    expires_at: int


def join(store: Store, text: str, *, now: int | None = None) -> Joined | None:
    """Use a code once: a new key for this phone (never shown to anyone), a session on it and
    the ``invite.use`` audit row, in one transaction.
    None for a code that is unknown, used, expired, revoked or malformed, all alike."""
    now = int(time.time()) if now is None else now
    code = normalise(text)
    # A malformed code still costs a keyed hash, so it takes as long as a wrong one.
    digest = code_hash(store.server_secret(), code or "-" * CODE_LENGTH)
    if code is None:
        return None
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = secrets.token_urlsafe(32)
    redemption = Redemption(digest, now, hash_key(key), key[:8], hash_key(token))
    redeemed = store.redeem_invite(redemption)
    if redeemed is None:
        return None
    invite, expires_at = redeemed
    assert invite.used_key_id is not None
    principal = Principal(invite.used_key_id, Role(invite.role), invite.program, invite.program_id)
    return Joined(token, principal, expires_at)


def client_tag(secret: str, address: str) -> str:
    """How the audit trail names a guessing address: a keyed digest, not the address."""
    return hmac.new(secret.encode(), b"client:" + address.encode(), hashlib.sha256).hexdigest()[:12]


class JoinLimiter:
    """Failed codes per address and in all, over a sliding window; when either is spent,
    every try (a right code too) waits. Kept in the database (``join_failures``, addresses
    as keyed digests), so every worker on every host counts the same failures: a guesser
    spreading tries over the servers behind a proxy meets the same limits as on one."""

    def __init__(self, *, per_address: int, overall: int, window_s: float = 900.0) -> None:
        self.per_address, self.overall, self.window_s = per_address, overall, window_s

    def retry_after(self, store: Store, address: str, now: float) -> int | None:
        """Seconds to wait before trying again, or None if a try may go ahead."""
        mine, everyone = store.join_failure_times(
            address_digest(store.server_secret(), address),
            now - self.window_s,
            per_address=self.per_address,
            overall=self.overall,
        )
        oldest = mine if mine is not None else everyone
        if oldest is None:
            return None
        return max(1, math.ceil(oldest + self.window_s - now))

    def failed(self, store: Store, address: str, now: float) -> None:
        store.add_join_failure(
            address_digest(store.server_secret(), address),
            now,
            forget_before=now - self.window_s,
        )
