"""The batch protocol shared by event and site ingest: idempotency, all-or-nothing, answers."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from geo_service.errors import Conflict, InvalidParameter, Unprocessable
from geo_service.ingest.tabular import Rejection
from geo_service.storage import BatchRecord, Store

logger = logging.getLogger("geo_service.ingest.events")
MAX_IDEMPOTENCY_KEY = 200


class RejectedRow(BaseModel):
    index: int
    code: str
    detail: str


class BatchResult(BaseModel):
    """What a batch did: its id, how many rows were stored, and each rejected row."""

    batch_id: str
    accepted: int
    rejected: list[RejectedRow]
    # Stored, but their period was already published: managers see them, no release will.
    held_back: list[RejectedRow] = []


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if (
        not (0 < len(value) <= MAX_IDEMPOTENCY_KEY)
        or not value.isascii()
        or not value.isprintable()
    ):
        raise InvalidParameter(
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters "
            "(a UUID is a good choice)"
        )
    return value


def idempotency_digest(secret: str, *, key_id: int | None, target: str, value: str) -> str:
    """The stored form of an Idempotency-Key: keyed, and scoped to the key that sent it.

    The same value from another API key is another batch, so nobody can confirm, replay or
    read the moment in someone else's key; without the secret a stored digest reveals nothing.
    """
    message = f"{key_id}\x00{target}\x00{value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Sender:
    """Who sends a batch, and on what terms."""

    program_id: int
    key_id: int | None = None  # None: the command line or the demo
    idempotency_key: str | None = None  # checked with check_idempotency_key
    all_or_nothing: bool = False


@dataclass(frozen=True)
class Checked:
    """A batch whose rows were checked: where it goes, what passed and what was refused."""

    target: str
    fingerprint: str  # identifies a retry of the same batch; never the input itself
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    # Stored, but their period was already published: managers see them, no release will.
    held_back: list[dict[str, Any]] = field(default_factory=list)


def run_batch(
    store: Store, sender: Sender, checked: Checked, write: Callable[[BatchRecord], None]
) -> tuple[dict[str, Any], bool]:
    """Store a validated batch once. Returns ``(answer, replayed)``; raises if nothing fits."""
    digest = None
    program_id, key_id, target = sender.program_id, sender.key_id, checked.target
    if sender.idempotency_key is not None:
        digest = idempotency_digest(
            store.server_secret(), key_id=key_id, target=target, value=sender.idempotency_key
        )
        earlier = store.find_batch(program_id, target, key_id, digest)
        if earlier is not None:
            if earlier.fingerprint != checked.fingerprint:
                raise Conflict(
                    "this Idempotency-Key was already used for a different batch; use a new "
                    "key for new data",
                    code="idempotency_key_reused",
                )
            return earlier.response, True
    accepted, rejected = checked.accepted, checked.rejected
    rejected_dicts = [r.as_dict() for r in rejected]
    if accepted == 0 or (sender.all_or_nothing and rejected):
        nothing = (
            "no row could be accepted"
            if accepted == 0
            else ("all_or_nothing was asked for and some rows were rejected")
        )
        raise Unprocessable(
            f"{nothing}; nothing was stored. See 'rejected' for each row's reason",
            code="batch_rejected",
            rejected=rejected_dicts,
        )
    batch_id = uuid.uuid4().hex
    answer = {"batch_id": batch_id, "accepted": accepted, "rejected": rejected_dicts}
    if checked.held_back:
        answer["held_back"] = checked.held_back
    write(
        BatchRecord(
            batch_id=batch_id,
            program_id=program_id,
            key_id=key_id,
            target=target,
            idempotency_key=digest,
            fingerprint=checked.fingerprint,
            received_on=dt.datetime.now(dt.UTC).date().isoformat(),
            response=answer,
        )
    )
    logger.info("%s batch %s: %d accepted, %d rejected", target, batch_id, accepted, len(rejected))
    return answer, False
