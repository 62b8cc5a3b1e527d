"""The batch store: an earlier batch is found only where it was sent, by whom it was sent."""

from __future__ import annotations

from pathlib import Path

from geo_service.storage import BatchRecord, BatchStore
from geo_service.storage.sql import open_store


def test_find_batch_is_scoped_to_its_target_and_sending_key(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/batches.sqlite3")
    try:
        program_id = store.get_or_create_program("town")
        batch = BatchRecord(
            batch_id="b1",
            program_id=program_id,
            key_id=None,
            target="sites",
            idempotency_key="digest-1",
            fingerprint="f",
            received_on="2026-01-01",
            response={"batch_id": "b1", "accepted": 1},
        )
        store.store_sites(batch, [])
        batches: BatchStore = store

        found = batches.find_batch(program_id, "sites", None, "digest-1")
        assert found == batch
        assert batches.find_batch(program_id, "events", None, "digest-1") is None
        assert batches.find_batch(program_id, "candidates", None, "digest-1") is None
        assert batches.find_batch(program_id + 1, "sites", None, "digest-1") is None
    finally:
        store.close()
