"""Store one phone report through the events' own rules: the blur (a square snaps to
itself), the key's history window, late rows held back from released periods, one batch with
its Idempotency-Key, and the program's data version raised in the same transaction.

The answer thanks and links to the map; it never counts anything, so no key can learn a
running total from what it sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
from typing import Any

import numpy as np

from geo_service.deployment import Deployment
from geo_service.errors import Conflict
from geo_service.ingest.batches import Checked, Sender, idempotency_digest, run_batch
from geo_service.ingest.events import KINDS, validate_events
from geo_service.ingest.reports import (
    SUPPLIES_NEEDED,
    Report,
    ReportRefused,
    check_bucket,
    raw_events,
)
from geo_service.services.alerts.evaluate import after_batch
from geo_service.services.alerts.series import program_tally
from geo_service.services.imports import Imported
from geo_service.services.releases import hold_back_late
from geo_service.storage import BatchRecord, EventRows, ReportDetails, Store

TARGET = "reports"
THANKS = "Thank you — this helps plan the next clean-up"
# Which rule of the events' refused the report, in the report's own words.
_REFUSALS = {
    "timestamp_in_future": "bucket_in_future",
    "too_old_for_this_key": "bucket_too_old",
    "older_than_retention": "bucket_too_old",
    "outside_service_area": "cell_outside_area",
}


def report_answer(report: Report) -> dict[str, Any]:
    """What the phone is told: thanks and the released map of the report's kind."""
    kind = report.kind.value
    return {"status": "stored", "thanks": THANKS, "map": f"/maps/hotspots?kind={kind}"}


def store_report(
    store: Store,
    deployment: Deployment,
    sender: Sender,
    report: Report,
    history_days: float | None,
) -> Imported:
    """Store ``report`` once per Idempotency-Key (a replay gets the first answer, another
    report under the same key a 409); refuse it whole, storing nothing, if a rule fails."""
    if sender.idempotency_key is None:
        raise ReportRefused("idempotency_key_required")
    secret = store.server_secret()
    # Keyed: a bare hash of one square and hour could be found by trying them all, and the
    # batch record outlives its event's hour under retention.
    fingerprint = hmac.new(secret.encode(), report.fingerprint().encode(), "sha256").hexdigest()
    digest = idempotency_digest(
        secret, key_id=sender.key_id, target=TARGET, value=sender.idempotency_key
    )
    # Before the clock is consulted: a phone that retries after two days is answered again.
    earlier = store.find_batch(sender.program_id, TARGET, sender.key_id, digest)
    if earlier is not None:
        if earlier.fingerprint != fingerprint:
            raise Conflict(
                "this Idempotency-Key was already used for another report; use a new key for "
                "each report",
                code="idempotency_key_reused",
            )
        return Imported(earlier.response, True)
    now = dt.datetime.now(dt.UTC)
    check_bucket(report, deployment, now)
    batch = validate_events(
        raw_events(report, deployment), deployment, allowed_kinds=KINDS, history_days=history_days
    )
    if batch.rejected:
        raise ReportRefused(_REFUSALS.get(batch.rejected[0].code, "report_refused"), hours=48)
    batch = dataclasses.replace(batch, rows=_with_answers(batch.rows, report))
    batch, held = hold_back_late(store, deployment, sender.program_id, batch)
    answer = report_answer(report)
    rows = batch.rows
    tally = program_tally(store, deployment, sender.program_id)

    def write(record: BatchRecord) -> None:
        # Kept for a replay: the answer the phone was given, not the batch's counts.
        record.response.clear()
        record.response.update(answer)
        store.store_event_stream(record, [rows], tally)

    # A twin that committed in the meantime is found here again: then nothing is written.
    given, replayed = run_batch(
        store, sender, Checked(TARGET, fingerprint, len(rows), [], held), write
    )
    if not replayed:
        after_batch(store, deployment, sender.program_id, set(rows.kind))
    return Imported(given, replayed)


def _with_answers(rows: EventRows, report: Report) -> EventRows:
    """The validated row with what only a phone report carries."""
    details = ReportDetails(
        picked_up=[report.picked_up],
        minutes=[report.minutes],
        outcome=[report.outcome],
        supplies=[report.supplies],
    )
    if report.type == SUPPLIES_NEEDED:
        # Checked as a needle report (its grid and hour), stored as a request for supplies.
        return dataclasses.replace(
            rows, kind=[SUPPLIES_NEEDED], count=np.ones(1, dtype=np.int64), details=details
        )
    return dataclasses.replace(rows, details=details)
