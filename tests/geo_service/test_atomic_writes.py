"""Nothing lost: a batch is stored whole or not at all on both backends, whatever fails
midway (a database error, a killed process, a full disk); SQLite's one writer makes others
wait and then answers 503, never 500; retention deletes exactly what it folded.

The PostgreSQL cases run when GEO_SERVICE_TEST_POSTGRES_URL is set (see test_postgres.py).
Child processes run the functions named ``_child_*`` below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.auth import Role, create_key
from geo_service.cli import app as cli
from geo_service.main import create_app
from geo_service.settings import Settings, get_settings
from geo_service.storage import BatchRecord, EventRows
from geo_service.storage.schema import batches
from geo_service.storage.sql import SqlStore, open_store
from tests.conftest import (
    TOWN,
    batch_record,
    bearer,
    collection,
    feature,
    fresh_postgres_database,
    service_site,
)

SERVER = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
ROOT = Path(__file__).resolve().parents[2]
TZ = "America/Winnipeg"
OLD = 1_677_628_800  # 2023-03-01T00:00Z: older than any retention cut-off used here
CUTOFF = 1_704_067_200  # 2024-01-01T00:00Z
no_server = pytest.mark.skipif(not SERVER, reason="set GEO_SERVICE_TEST_POSTGRES_URL to run")


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, no_server])]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/atomic.sqlite3"
        return
    assert SERVER is not None
    with fresh_postgres_database(SERVER) as url:
        yield url


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, rate_limit_per_key=0, rate_limit_per_address=0)


@contextmanager
def failing_inserts(engine: sa.Engine, table: str) -> Iterator[None]:
    """A trigger that makes every insert into ``table`` fail, as a full disk or a lost
    connection would halfway through a batch."""
    if engine.dialect.name == "sqlite":
        install = [
            f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        ]
        remove = f"DROP TRIGGER fail_{table}"
    else:
        install = [
            "CREATE OR REPLACE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
            f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION injected_fault()",
        ]
        remove = f"DROP TRIGGER fail_{table} ON {table}"
    with engine.begin() as conn:
        for statement in install:
            conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(remove)


def stored(store: SqlStore, table: str) -> tuple[int, int]:
    """(batch records, rows of ``table``) in the whole database."""
    with store.engine.connect() as conn:
        records = conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar_one()
        rows = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    return int(records), int(rows)


def needle_reports(n: int) -> dict[str, Any]:
    return collection(
        *(feature(TOWN[0] + 0.002 * (i % 7), TOWN[1], count=1 + i % 3) for i in range(n))
    )


def candidates(n: int) -> dict[str, Any]:
    body = collection(*(feature(name=f"Wall {i}", candidate_type="locker") for i in range(n)))
    for f in body["features"]:
        del f["properties"]["kind"], f["properties"]["observed_at"]
    return body


BODIES = {
    "events": ("events", needle_reports(30), 30),
    "sites": (
        "sites",
        collection(*(service_site(f"S{i}", ["naloxone"], None) for i in range(4))),
        4,
    ),
    "candidates": ("context_features", candidates(3), 3),
}


# -- a failing insert ----------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(BODIES))
def test_a_batch_whose_rows_fail_to_insert_leaves_nothing_and_its_retry_stores_once(
    database_url: str, route: str
) -> None:
    table, body, n = BODIES[route]
    app = create_app(settings_for(database_url))
    with TestClient(app, raise_server_exceptions=False) as client:
        store: SqlStore = app.state.store
        headers = bearer(create_key(store, program="town", role=Role.MANAGER)[1])
        headers["Idempotency-Key"] = f"{route}-1"
        program_id = store.program_id("town") or 0
        version = store.data_version(program_id)
        with failing_inserts(store.engine, table):
            failed = client.post(f"/v1/{route}", json=body, headers=headers)
        assert failed.status_code >= 500, failed.text
        assert stored(store, table) == (0, 0)  # no batch record claims rows that are absent
        assert store.data_version(program_id) == version  # no cache was told of new data
        retried = client.post(f"/v1/{route}", json=body, headers=headers)
        assert retried.status_code == 201, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        assert retried.json()["accepted"] == n
        assert stored(store, table) == (1, n)
        replayed = client.post(f"/v1/{route}", json=body, headers=headers)
        assert replayed.headers.get("Idempotent-Replayed") == "true"
        assert stored(store, table) == (1, n)


# -- a killed writer -----------------------------------------------------------------------


def _store_then(store_event_stream: Any, *, marker: Path, hold_s: float) -> Any:
    """Wrap ``SqlStore.store_event_stream`` so that, after writing every row and before
    committing, it leaves ``marker`` and waits ``hold_s`` (to be killed, or to hold the lock)."""

    def store(
        self: SqlStore, batch: BatchRecord, chunks: Iterable[EventRows], tally: Any = None
    ) -> None:
        def chunks_then_wait() -> Iterator[EventRows]:
            yield from chunks
            marker.write_text("inside the batch's transaction")
            time.sleep(hold_s)

        store_event_stream(self, batch, chunks_then_wait(), tally)

    return store


def _child_post_events() -> None:
    """Child: POST a batch through the app, pausing inside its transaction."""
    url, key, marker = sys.argv[1:4]
    SqlStore.store_event_stream = _store_then(  # type: ignore[method-assign]
        SqlStore.store_event_stream, marker=Path(marker), hold_s=120
    )
    app = create_app(settings_for(url))
    with TestClient(app) as client:
        headers = bearer(key) | {"Idempotency-Key": "killed-1"}
        client.post("/v1/events", json=needle_reports(200), headers=headers)


def _child_cli_ingest() -> None:
    """Child: `geo-service ingest ...`, pausing inside its transaction for argv[2] seconds."""
    marker, hold_s, *argv = sys.argv[1:]
    SqlStore.store_event_stream = _store_then(  # type: ignore[method-assign]
        SqlStore.store_event_stream, marker=Path(marker), hold_s=float(hold_s)
    )
    cli(argv)


def start_child(function: str, *args: str, env: dict[str, str] | None = None) -> Any:
    code = f"from tests.geo_service.test_atomic_writes import {function}; {function}()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(marker: Path, child: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            _, err = child.communicate(timeout=10)
            raise AssertionError(f"child never reached its batch: {err.decode()[-2000:]}")
        time.sleep(0.05)


def kill(child: Any) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)


def test_a_writer_killed_mid_batch_leaves_nothing_and_the_retry_stores_it_once(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(settings_for(database_url))
    with TestClient(app) as client:
        store: SqlStore = app.state.store
        key = create_key(store, program="town", role=Role.MANAGER)[1]
        marker = tmp_path / "inside"
        child = start_child("_child_post_events", database_url, key, str(marker))
        wait_for(marker, child)
        kill(child)
        assert stored(store, "events") == (0, 0)
        headers = bearer(key) | {"Idempotency-Key": "killed-1"}
        retried = client.post("/v1/events", json=needle_reports(200), headers=headers)
        assert retried.status_code == 201, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        assert stored(store, "events") == (1, 200)


def events_csv(path: Path, n: int) -> Path:
    lines = ["kind,observed_at,latitude,longitude"]
    lines += [
        f"needle_report,2025-05-{1 + i % 28:02d}T12:00:00Z,{TOWN[1] + 0.0005 * (i % 40):.5f},"
        f"{TOWN[0] + 0.0005 * (i % 50):.5f}"
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_cli_import_killed_mid_batch_leaves_nothing_and_a_rerun_stores_it_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = events_csv(tmp_path / "big.csv", 20_000)
    marker = tmp_path / "inside"
    env = {"GEO_SERVICE_DATABASE_URL": database_url}
    argv = ["ingest", "events", str(big), "--program", "town"]
    child = start_child("_child_cli_ingest", str(marker), "120", *argv, env=env)
    wait_for(marker, child)
    kill(child)
    store = open_store(database_url)
    try:
        assert stored(store, "events") == (0, 0)
        monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", database_url)
        get_settings.cache_clear()
        try:
            rerun = CliRunner().invoke(cli, argv)
        finally:
            get_settings.cache_clear()
        assert rerun.exit_code == 0, rerun.output
        assert stored(store, "events") == (1, 20_000)
    finally:
        store.close()


# -- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_stores_no_part_of_a_batch_and_the_retry_stores_it_once(
    tmp_path: Path,
) -> None:
    app = create_app(settings_for(f"sqlite:///{tmp_path}/full.sqlite3"))
    with TestClient(app, raise_server_exceptions=False) as client:
        store: SqlStore = app.state.store
        headers = bearer(create_key(store, program="town", role=Role.MANAGER)[1])
        headers["Idempotency-Key"] = "full-1"
        with store.engine.connect() as conn:
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

        def cap(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

        body = needle_reports(3000)
        sa.event.listen(store.engine, "connect", cap)
        store.engine.dispose()
        try:
            full = client.post("/v1/events", json=body, headers=headers)
        finally:
            sa.event.remove(store.engine, "connect", cap)
            store.engine.dispose()
        assert 400 <= full.status_code < 600 and full.status_code != 201, full.text
        assert stored(store, "events") == (0, 0)
        retried = client.post("/v1/events", json=body, headers=headers)
        assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
        assert stored(store, "events") == (1, 3000)


# -- readers never see half a batch --------------------------------------------------------


def event_rows(n: int, *, start: int = OLD, first_cell: int = 0) -> EventRows:
    """``n`` needle reports spread over many cells and months, counts 1 to 3."""
    i = np.arange(n, dtype=np.int64)
    return EventRows(
        kind=["needle_report"] * n,
        cell_m=np.full(n, 125, dtype=np.int64),
        cell_ix=first_cell + i % 997,
        cell_iy=(i // 997) % 5,
        bucket_start=start + (i % 9) * 30 * 86_400,
        bucket_hours=np.ones(n, dtype=np.int64),
        count=1 + i % 3,
        source=[None] * n,
        fatal=[None] * n,
        naloxone_doses=[None] * n,
        place_type=[None] * n,
    )


def test_readers_see_a_new_data_version_only_with_its_events(database_url: str) -> None:
    """The hot-spot caches key on the data version: bumped before the events were visible,
    it let a cache keep an answer without them under the new version."""
    store = open_store(database_url)
    try:
        program_id = store.get_or_create_program("town")
        version = store.data_version(program_id)
        seen = []

        def chunks() -> Iterator[EventRows]:
            yield event_rows(100)
            seen.append((store.data_version(program_id), stored(store, "events")))
            yield event_rows(100)

        store.store_event_stream(batch_record("events", program_id), chunks())
        assert seen == [(version, (0, 0))]
        assert (store.data_version(program_id), stored(store, "events")) == (version + 1, (1, 200))
    finally:
        store.close()


# -- SQLite's one writer -------------------------------------------------------------------


def _child_post_while_locked() -> None:
    """Child: say ``ready``, wait for ``go``, then post small batches until ``done`` exists
    (and two more), writing each answer's status, Retry-After and time taken to ``out``."""
    url, key, out = sys.argv[1:4]
    folder, name = Path(out).parent, Path(out).stem
    app = create_app(settings_for(url))
    answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.store.write_wait_s = 0.5
        (folder / f"ready-{name}").write_text("started")
        while not (folder / "go").exists():
            time.sleep(0.02)
        after_done = 0
        for i in range(200):
            headers = bearer(key) | {"Idempotency-Key": f"{name}-{i}"}
            began = time.monotonic()
            answer = client.post("/v1/events", json=needle_reports(5), headers=headers)
            answers.append(
                {
                    "status": answer.status_code,
                    "retry_after": answer.headers.get("Retry-After"),
                    "type": answer.headers.get("content-type"),
                    "seconds": time.monotonic() - began,
                }
            )
            after_done += (folder / "done").exists()
            if after_done > 2:
                break
    Path(out).write_text(json.dumps(answers))


def test_two_servers_and_a_long_import_on_one_sqlite_file_answer_201_or_503_never_500(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    store = open_store(url)
    program_id = store.get_or_create_program("town")
    key = create_key(store, program="town", role=Role.MANAGER)[1]
    outs = [tmp_path / f"server-{n}.json" for n in "ab"]
    servers = [start_child("_child_post_while_locked", url, key, str(out)) for out in outs]
    try:
        for out, server in zip(outs, servers, strict=True):
            wait_for(tmp_path / f"ready-{out.stem}", server)
        # The import holds the write lock 2.5 s, five times as long as the servers wait.
        holding = _store_then(SqlStore.store_event_stream, marker=tmp_path / "go", hold_s=2.5)
        holding(store, batch_record("events", program_id), [event_rows(5000)])
        (tmp_path / "done").write_text("the import committed")
        for server in servers:
            _, err = server.communicate(timeout=120)
            assert server.returncode == 0, err.decode()[-2000:]
    finally:
        for server in servers:
            if server.poll() is None:
                kill(server)
    answers = [a for out in outs for a in json.loads(out.read_text())]
    statuses = [a["status"] for a in answers]
    assert set(statuses) == {201, 503}, statuses  # never a 500
    busy = [a for a in answers if a["status"] == 503]
    assert all(a["retry_after"] and a["type"].startswith("application/problem+json") for a in busy)
    assert max(a["seconds"] for a in busy) < 2.5  # gave up within its wait, not SQLite's 5 s
    with store.engine.connect() as conn:
        per_batch = conn.exec_driver_sql(
            f"SELECT b.id, count(e.id) FROM {batches.name} b "
            "LEFT JOIN events e ON e.batch_id = b.id GROUP BY b.id"
        ).all()
    store.close()
    sizes = sorted(n for _, n in per_batch)
    assert sizes == [5] * statuses.count(201) + [5000]  # each 201 stored whole, no 503 at all


# -- retention racing ingest ---------------------------------------------------------------


def test_retention_racing_old_dated_ingest_loses_no_count(database_url: str) -> None:
    """Old-dated events stored while retention runs are either folded or kept, never
    deleted uncounted: counts before = aggregates + remaining events, exactly."""
    store = open_store(database_url)
    try:
        program_id = store.get_or_create_program("town")
        first = event_rows(12_000)
        store.store_events(batch_record("events", program_id), first)
        added = [int(first.count.sum())]
        stop = threading.Event()
        failures: list[BaseException] = []

        def ingest_old_reports() -> None:
            try:
                while not stop.is_set():
                    late = event_rows(50, start=OLD + 3600, first_cell=5000 + len(added))
                    store.store_events(batch_record("events", program_id), late)
                    added.append(int(late.count.sum()))
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        writer = threading.Thread(target=ingest_old_reports)
        writer.start()
        try:
            while len(added) < 3 and writer.is_alive():  # ingest is under way
                time.sleep(0.01)
            result = store.roll_up_before(CUTOFF, tz=TZ)
        finally:
            stop.set()
            writer.join()
        assert not failures, failures
        assert result.events_removed >= len(first)
        folded = sum(a.count for a in store.aggregates(program_id))
        remaining = sum(e.count for e in store.all_events(program_id))
        assert folded + remaining == sum(added)
        store.roll_up_before(CUTOFF, tz=TZ)  # the late ones are folded on the next run
        assert sum(a.count for a in store.aggregates(program_id)) == sum(added)
        assert store.all_events(program_id) == []
    finally:
        store.close()
