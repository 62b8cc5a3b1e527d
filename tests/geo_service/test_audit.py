"""The audit trail: what is recorded, who may read it, and that tampering is detected."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.audit import GENESIS, record, verify_chain
from geo_service.auth import Role, create_key, revoke_key
from geo_service.cli import app as cli
from geo_service.storage.sql import SqlStore
from tests.conftest import collection, feature, problem
from tests.geo_service.test_cli import (
    _store,
    env,  # noqa: F401  (the CLI's database fixture)
)

Keys = dict[str, dict[str, str]]


def audit(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/v1/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def check(store: SqlStore) -> Any:
    return verify_chain(store.audit_rows(), store.audit_head())


def test_event_reads_are_recorded_without_coordinates(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    lon, lat = -101.8812345, 54.7712345
    posted = client.post("/v1/events", json=collection(feature(lon, lat)), headers=keys["manager"])
    assert posted.status_code == 201
    client.get(
        "/v1/events?kind=needle_report&bbox=-101.9,54.75,-101.85,54.79", headers=keys["manager"]
    )
    entries = audit(client, keys["steward"])["entries"]
    reads = [e for e in entries if e["action"] == "events.read"]
    assert len(reads) == 1
    assert reads[0]["actor"].endswith("(manager)")
    assert reads[0]["detail"] == {
        "rows": 1,
        "kinds": ["needle_report"],
        "filters": ["bbox"],
    }
    text = str(store.audit_rows())
    for digits in ("8812345", "7712345", "101.9", "54.75"):
        assert digits not in text


def test_key_changes_are_recorded(store: SqlStore) -> None:
    key_id, _ = create_key(store, program="town", role=Role.PLANNER, actor="cli")
    assert revoke_key(store, key_id)
    rows = [r for r in store.audit_rows() if r.action.startswith("key.")][-2:]
    assert [r.action for r in rows] == ["key.create", "key.revoke"]
    assert f'"new_key_id":{key_id}' in rows[0].detail and '"role":"planner"' in rows[0].detail
    assert rows[0].program_id == rows[1].program_id == store.program_id("town")


@pytest.mark.parametrize("role", ["peer", "planner", "manager"])
def test_only_stewards_read_the_trail(client: TestClient, keys: Keys, role: str) -> None:
    problem(client.get("/v1/audit", headers=keys[role]), 403)


def test_a_steward_sees_only_their_programs_rows_and_their_own_reading(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    client.get("/v1/events", headers=keys["other_manager"])
    entries = audit(client, keys["steward"])["entries"]
    town = store.program_id("town")
    assert entries and all(e["action"] != "events.read" for e in entries)
    assert {r.program_id for r in store.audit_rows() if r.id in {e["id"] for e in entries}} == {
        town
    }
    again = audit(client, keys["steward"])["entries"]
    assert [e["action"] for e in again if e["action"] == "audit.read"] == ["audit.read"] * 2


def test_paging_and_verification_through_the_api(client: TestClient, keys: Keys) -> None:
    for _ in range(5):
        client.get("/v1/events", headers=keys["manager"])
    first = audit(client, keys["steward"], limit=3)
    assert len(first["entries"]) == 3 and first["next_after"] == first["entries"][-1]["id"]
    rest = audit(client, keys["steward"], after=first["next_after"], verify=True)
    assert rest["entries"][0]["id"] > first["next_after"]
    assert rest["chain"]["verified"] is True and rest["chain"]["rows"] > 8


def test_tampering_is_found_at_the_first_bad_row(store: SqlStore) -> None:
    rows = [record(store, "test", actor="cli", n=i) for i in range(6)]
    assert check(store).verified
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_log SET detail = :d WHERE id = :i"),
            {"d": '{"n":99}', "i": rows[2].id},
        )
    broken = check(store)
    assert not broken.verified and broken.first_broken_id == rows[2].id
    assert "changed" in (broken.reason or "")


def test_a_deleted_row_or_a_cut_tail_is_found(store: SqlStore) -> None:
    rows = [record(store, "test", actor="cli", n=i) for i in range(6)]
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :i"), {"i": rows[-1].id})
    tail = check(store)
    assert not tail.verified and "end" in (tail.reason or "")
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = :i"), {"i": rows[1].id})
    middle = check(store)
    assert not middle.verified and middle.first_broken_id == rows[2].id


def test_concurrent_writers_keep_one_chain(store: SqlStore) -> None:
    def write(worker: int) -> None:
        for i in range(20):
            record(store, "test", actor="cli", worker=worker, n=i)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = check(store)
    assert result.verified and result.rows >= 120
    hashes = [r.prev_hash for r in store.audit_rows()]
    assert hashes[0] == GENESIS and len(set(hashes)) == len(hashes)  # no fork


@pytest.mark.usefixtures("env")
def test_cli_verify_says_intact_or_names_the_broken_row() -> None:
    runner = CliRunner()
    runner.invoke(cli, ["keys", "create", "--role", "peer", "--program", "north"])
    runner.invoke(cli, ["keys", "create", "--role", "steward", "--program", "north"])
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 2 rows" in ok.stdout
    listed = runner.invoke(cli, ["audit", "list", "--program", "north"])
    assert listed.stdout.count("key.create") == 2
    store = _store()
    first = store.audit_rows()[0]
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_log SET actor = 'someone' WHERE id = :i"), {"i": first.id}
        )
    store.close()
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code != 0 and f"BROKEN at row {first.id}" in broken.output
