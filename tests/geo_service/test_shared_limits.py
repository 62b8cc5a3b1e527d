"""Rate limits counted in the database: one count for every worker, cheap, never a 500.

Two apps on one database stand for two workers (or two hosts); the subprocess servers of
test_several_hosts.py check the same across real processes.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from geo_service.security import address_digest
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore, open_store
from tests.conftest import bearer, make_settings

# Every request of a test falls in one minute's window, whenever it runs.
pytestmark = pytest.mark.usefixtures("steady_minute")
CLIENT_ADDRESS = "testclient"  # what Starlette's TestClient gives as the client's address


# -- the store -------------------------------------------------------------------------------


def test_counts_add_up_per_identity_and_window(any_store: SqlStore) -> None:
    assert [any_store.count_request("a:one", 100) for _ in range(3)] == [1, 2, 3]
    assert any_store.count_request("a:two", 100) == 1
    assert any_store.count_request("a:one", 101) == 1  # a new minute starts again


def test_a_key_is_counted_alone_only_once_it_proved_valid(any_store: SqlStore) -> None:
    assert any_store.count_known_key("k:abc", 100, known_since=90) is None
    assert any_store.count_request("a:x", 100) == 1
    any_store.key_proved("k:abc", 100, address="a:x", address_window=100)
    assert any_store.count_request("a:x", 100) == 1  # the proved request was given back
    assert any_store.count_known_key("k:abc", 100, known_since=90) == 2
    assert any_store.count_known_key("k:abc", 111, known_since=101) is None  # proved too long ago
    any_store.forget_key("k:abc")
    assert any_store.count_known_key("k:abc", 100, known_since=90) is None
    any_store.key_proved("k:abc", 100)
    assert any_store.count_known_key("k:abc", 100, known_since=90) == 4  # its count stayed


def test_old_windows_are_deleted(any_store: SqlStore) -> None:
    for window in (100, 105, 110):
        any_store.count_request("a:x", window)
    any_store.forget_counts_before(105)
    with any_store.engine.connect() as conn:
        kept = conn.execute(sa.text('SELECT "window" FROM rate_counts')).scalars().all()
    assert sorted(kept) == [105, 110]


def test_concurrent_counts_lose_nothing(any_store: SqlStore) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def count() -> None:
        for _ in range(25):
            hits = any_store.count_request("a:busy", 7)
            with lock:
                seen.append(hits)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 201))  # each request saw its own count


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a:1", "a:2", "k:3"]), st.integers(0, 2)),
        min_size=1,
        max_size=30,
    )
)
def test_each_count_is_the_running_total_of_its_identity_and_window(
    shared_store: SqlStore, hits: list[tuple[str, int]]
) -> None:
    base = shared_store.count_request("a:base", 0) * 10  # a fresh range of windows per example
    seen: dict[tuple[str, int], int] = {}
    for identity, window in hits:
        seen[identity, window] = seen.get((identity, window), 0) + 1
        assert shared_store.count_request(identity, base + window) == seen[identity, window]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('counts')}/counts.sqlite3")
    yield store
    store.close()


# -- two apps on one database ----------------------------------------------------------------


def clients(settings: Settings, count: int, stack: ExitStack) -> list[tuple[TestClient, Any]]:
    apps = [create_app(settings) for _ in range(count)]
    return [(stack.enter_context(TestClient(app)), app) for app in apps]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[list[tuple[TestClient, Any]]]:
    settings = make_settings(tmp_path, rate_limit_per_key=6, rate_limit_per_address=4)
    with ExitStack() as stack:
        yield clients(settings, 2, stack)


def test_two_workers_share_one_address_count(two_workers: list[tuple[TestClient, Any]]) -> None:
    (a, _), (b, _) = two_workers
    statuses = [(a if n % 2 else b).get("/v1/sites").status_code for n in range(6)]
    assert statuses == [401] * 4 + [429] * 2  # as one worker would answer


def test_two_workers_share_one_key_count(two_workers: list[tuple[TestClient, Any]]) -> None:
    (a, app), (b, _) = two_workers
    key = bearer(create_key(app.state.store, program="t", role=Role.PEER)[1])
    statuses = [(a if n % 2 else b).get("/v1/sites", headers=key).status_code for n in range(8)]
    assert statuses == [200] * 6 + [429] * 2


def test_a_key_proved_on_one_worker_is_known_on_the_other(
    two_workers: list[tuple[TestClient, Any]],
) -> None:
    (a, app), (b, _) = two_workers
    key_id, key = create_key(app.state.store, program="t", role=Role.PEER)
    assert a.get("/v1/sites", headers=bearer(key)).status_code == 200
    assert [b.get("/v1/sites").status_code for _ in range(5)] == [401] * 4 + [429]
    # The address is spent, yet B counts the key against itself: A proved it.
    assert b.get("/v1/sites", headers=bearer(key)).status_code == 200
    app.state.store.revoke_key(key_id)
    assert a.get("/v1/sites", headers=bearer(key)).status_code == 401
    assert b.get("/v1/sites", headers=bearer(key)).status_code == 429  # back on the address


def test_a_key_cannot_reset_its_count_on_a_route_that_never_checks_keys(
    two_workers: list[tuple[TestClient, Any]],
) -> None:
    # Attack: a known key sent to /openapi.json stops being known; if that also reset its
    # count, alternating the two routes would never meet the key's limit.
    (a, app), (b, _) = two_workers
    key = bearer(create_key(app.state.store, program="t", role=Role.PEER)[1])
    statuses = []
    for n in range(8):
        client = a if n % 2 else b
        statuses.append(client.get("/v1/sites", headers=key).status_code)
        client.get("/openapi.json", headers=key)
    assert statuses.count(200) <= 6 and statuses[-1] == 429


def test_addresses_are_stored_as_keyed_digests(two_workers: list[tuple[TestClient, Any]]) -> None:
    (a, app), _ = two_workers
    key = create_key(app.state.store, program="t", role=Role.PEER)[1]
    a.get("/v1/sites", headers=bearer(key))
    store: SqlStore = app.state.store
    with store.engine.connect() as conn:
        identities = conn.execute(sa.text("SELECT identity FROM rate_counts")).scalars().all()
    tag = address_digest(store.server_secret(), CLIENT_ADDRESS)
    assert f"a:{tag}" in identities
    assert all(len(i) <= 40 and CLIENT_ADDRESS not in i and key[3:] not in i for i in identities)


# -- when the database does not answer the count ---------------------------------------------


def test_a_failing_count_lets_the_request_through_and_logs_the_class_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, rate_limit_per_key=6, rate_limit_per_address=1)
    app = create_app(settings)
    with TestClient(app) as client:
        store: SqlStore = app.state.store

        def broken(identity: str, _window: int) -> int:
            with store.engine.connect() as conn:
                conn.execute(sa.text("SELECT x FROM no_such_table WHERE x = :x"), {"x": identity})
            return 0

        store.count_request = broken  # type: ignore[method-assign,assignment]
        with caplog.at_level(logging.WARNING):
            answers = [client.get("/v1/sites").status_code for _ in range(3)]
    assert answers == [401] * 3  # the route's own answer, never a 500 and never a 429
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "rate limits not counted" in logged and "OperationalError" in logged
    assert "no_such_table" not in logged and "a:" not in logged


def test_a_long_write_on_sqlite_does_not_hold_requests_up(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_key=6, rate_limit_per_address=100)
    app = create_app(settings)
    with TestClient(app) as client:
        store: SqlStore = app.state.store
        key = bearer(create_key(store, program="t", role=Role.PEER)[1])

        def key_hits() -> int:
            with store.engine.connect() as conn:
                query = "SELECT hits FROM rate_counts WHERE identity LIKE 'k:%'"
                return int(conn.execute(sa.text(query)).scalar_one())

        assert client.get("/v1/sites", headers=key).status_code == 200
        assert key_hits() == 1
        # Another process holds the one write lock (a long import, say).
        holder = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
        holder.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            answers = [client.get("/v1/sites", headers=key).status_code for _ in range(5)]
            took_s = time.monotonic() - started
        finally:
            holder.rollback()
            holder.close()
        assert answers == [200] * 5  # read while the writer works, uncounted
        # One wait of 50 ms for the lock, then no count (and no wait) for a second: not the
        # 10 s a write would wait, nor 50 ms per request.
        assert took_s < 1.0
        assert key_hits() == 1
        time.sleep(1.1)
        assert client.get("/v1/sites", headers=key).status_code == 200
        assert key_hits() == 2  # counting again


def test_a_key_on_the_map_pages_is_counted_against_the_key(
    two_workers: list[tuple[TestClient, Any]],
) -> None:
    (a, app), (b, _) = two_workers
    key = bearer(create_key(app.state.store, program="t", role=Role.MANAGER)[1])
    pages = [(a if n % 2 else b).get("/maps", headers=key).status_code for n in range(8)]
    assert pages == [200] * 6 + [429] * 2  # the key's 6, not the address's 4
    assert a.get("/v1/sites").status_code == 401  # and the address is untouched
