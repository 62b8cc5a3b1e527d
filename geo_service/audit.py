"""The audit trail: who read events, exported, changed keys or thresholds, and when.

Rows form a hash chain: each row's hash covers its content and the previous row's hash, and
the newest hash is kept as the chain's head. Editing, deleting or reordering a row, or
cutting rows off the end, makes :func:`verify_chain` name the first row that no longer fits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from geo_service.storage import AuditEntry, AuditRow, Store

GENESIS = "0" * 64
AUDIT_HEAD_KEY = "audit_head"


def detail_text(detail: dict[str, Any]) -> str:
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode()


def chain_hash(
    prev_hash: str,
    *,
    at: str,
    program_id: int | None,
    key_id: int | None,
    actor: str,
    action: str,
    detail: str,
) -> str:
    payload = orjson.dumps([prev_hash, at, program_id, key_id, actor, action, detail])
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    verified: bool
    rows: int
    first_broken_id: int | None = None
    reason: str | None = None


def verify_chain(rows: list[AuditRow], head: str) -> ChainCheck:
    """Check every link and hash, in id order, and that the last hash is the head."""
    prev = GENESIS
    for row in rows:
        if row.prev_hash != prev:
            return ChainCheck(False, len(rows), row.id, "a row before it was removed or changed")
        expected = chain_hash(
            prev,
            at=row.at,
            program_id=row.program_id,
            key_id=row.key_id,
            actor=row.actor,
            action=row.action,
            detail=row.detail,
        )
        if row.hash != expected:
            return ChainCheck(False, len(rows), row.id, "this row was changed")
        prev = row.hash
    if prev != head:
        return ChainCheck(False, len(rows), None, "rows were removed from the end")
    return ChainCheck(True, len(rows))


def record(
    store: Store,
    action: str,
    *,
    actor: str,
    program_id: int | None = None,
    key_id: int | None = None,
    **detail: Any,
) -> AuditRow:
    """Append one row. Callers pass counts and names only, never coordinates or bodies."""
    entry = AuditEntry(action, actor, program_id=program_id, key_id=key_id, detail=detail)
    return store.append_audit(entry)
