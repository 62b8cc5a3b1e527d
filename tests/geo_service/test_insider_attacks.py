"""Attacks by an insider holding a valid peer or planner key (issue 13): each test here
failed before its fix. Idempotency keys, bounds on periods and stored dates, analysis costs,
rate limits and links, database file modes, and the audit of sub-k reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.batches import idempotency_digest
from geo_service.storage.schema import batches
from geo_service.storage.sql import SqlStore
from tests.conftest import bearer, collection, feature

Keys = dict[str, dict[str, str]]


def post_events(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post("/v1/events", json=body, headers=headers)


# -- idempotency: scoped to the sending key, stored as a keyed hash -------------------------


def test_another_peers_idempotency_key_is_just_another_batch(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    peer_b, peer_c = (bearer(create_key(store, program="town", role=Role.PEER)[1]) for _ in "bc")
    guessed = "2026-12-02T05:01:07Z"  # a time-based key, as an app might send
    first = post_events(client, collection(feature()), {**keys["peer"], "Idempotency-Key": guessed})
    assert first.status_code == 201
    # Another body: no 409 that would confirm A used this key.
    other = post_events(
        client, collection(feature(count=4)), {**peer_b, "Idempotency-Key": guessed}
    )
    assert other.status_code == 201
    # Same body: C's batch is stored, not A's answer replayed (A's batch id stays secret).
    same = post_events(client, collection(feature()), {**peer_c, "Idempotency-Key": guessed})
    assert same.status_code == 201
    assert "Idempotent-Replayed" not in same.headers
    assert same.json()["batch_id"] != first.json()["batch_id"]
    assert store.count_rows(store.program_id("town") or 0)["events"] == 3


def test_the_sender_still_gets_a_replay_and_the_raw_key_is_not_stored(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    headers = {**keys["peer"], "Idempotency-Key": "2026-12-02T05:01:07Z"}
    first = post_events(client, collection(feature()), headers)
    again = post_events(client, collection(feature()), headers)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(batches.c.idempotency_key)).scalars().all()
    assert len(stored) == 1 and stored[0] is not None
    assert "2026" not in stored[0] and len(stored[0]) == 64


def test_the_migration_hashes_keys_stored_verbatim(tmp_path: Path) -> None:
    from alembic import command

    from geo_service.storage.sql import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/old.sqlite3")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0009")
        conn.execute(sa.text("INSERT INTO programs (id, name, created_on) VALUES (1, 't', 'x')"))
        conn.execute(
            sa.text(
                "INSERT INTO ingest_batches (id, program_id, key_id, target, idempotency_key, "
                "fingerprint, received_on, response) "
                "VALUES ('b1', 1, NULL, 'events', 'raw-key-1', 'f', '2026-01-01', '{}')"
            )
        )
    store = SqlStore(engine)
    store.migrate()
    with engine.connect() as conn:
        stored = conn.execute(sa.select(batches.c.idempotency_key)).scalar_one()
    digest = idempotency_digest(
        store.server_secret(), key_id=None, target="events", value="raw-key-1"
    )
    assert stored == digest
    found = store.find_batch(1, "events", None, digest)
    assert found is not None and found.batch_id == "b1"
    store.close()
