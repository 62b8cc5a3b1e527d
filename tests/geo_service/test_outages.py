"""Nothing hangs: database outages answer 503, servers start together, errors log no SQL.

The PostgreSQL tests run when GEO_SERVICE_TEST_POSTGRES_URL is set (see test_postgres.py).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.auth import Role, create_key
from geo_service.cli import app as cli_app
from geo_service.errors import is_transient
from geo_service.main import create_app
from geo_service.settings import Settings, get_settings
from geo_service.storage import BatchRecord, EventRows
from geo_service.storage.connection import DatabaseTimeouts
from geo_service.storage.sql import MIGRATIONS, SqlStore, open_store
from tests.conftest import TOWN, bearer, collection, feature, fresh_postgres_database

SERVER = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(not SERVER, reason="set GEO_SERVICE_TEST_POSTGRES_URL to run")
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
EVENT = feature(*TOWN, kind="needle_report", observed_at="2025-05-01T10:00:00Z")


@contextmanager
def postgres_databases(count: int) -> Iterator[list[str]]:
    """``count`` fresh, empty databases on the test server, dropped afterwards."""
    assert SERVER is not None
    with ExitStack() as stack:
        yield [stack.enter_context(fresh_postgres_database(SERVER)) for _ in range(count)]


# -- servers starting together ---------------------------------------------------------------

# Each process starts a server's store (what the app's lifespan does) on every database in
# turn, in step with its twin; the app itself would only add seconds of imports.
_SERVER_SCRIPT = """
import json, sys, time, pathlib
from geo_service.deployment import Deployment
from geo_service.settings import Settings
from geo_service.storage.sql import open_store
me, sync, urls = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
for step, url in enumerate(urls):
    (sync / f"{step}-{me}").touch()
    while len(list(sync.glob(f"{step}-*"))) < 2:
        time.sleep(0.001)
    try:
        grid = Deployment(Settings(database_url=url)).grid_record()
        store = open_store(url, grid_record=grid)
        print(json.dumps(store.ping()))
        store.close()
    except Exception as exc:
        print(json.dumps(type(exc).__name__))
    sys.stdout.flush()
"""


def start_two_servers_on_each(urls: list[str], sync_dir: Path) -> None:
    sync_dir.mkdir()
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", _SERVER_SCRIPT, name, str(sync_dir), *urls],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outputs = [server.communicate(timeout=240)[0] for server in servers]
    revisions = [json.loads(line) for output in outputs for line in output.splitlines()]
    assert revisions == [HEAD] * 2 * len(urls)
    for url in urls:
        with TestClient(create_app(Settings(database_url=url))) as client:
            health = client.get("/healthz")
            assert health.status_code == 200 and health.json()["schema_revision"] == HEAD


def test_two_servers_start_together_on_empty_sqlite(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path}/start{n}/db.sqlite3" for n in range(5)]
    start_two_servers_on_each(urls, tmp_path / "sync")


@pytest.mark.postgres
@needs_postgres
def test_two_servers_start_together_on_empty_postgres(tmp_path: Path) -> None:
    with postgres_databases(5) as urls:
        start_two_servers_on_each(urls, tmp_path / "sync")


# -- the database going away mid-run ---------------------------------------------------------


class CuttableProxy:
    """A TCP forwarder to PostgreSQL that can be cut like a network partition and restored.

    Cut: open connections are dropped, and new ones are accepted but never answered.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _track(self, *sockets: socket.socket) -> None:
        with self.lock:
            self.sockets.update(sockets)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._track(client)
            if not self.up:
                continue  # held open, never answered
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._track(server)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            end.close()

    def _drop_all(self) -> None:
        with self.lock:
            dropped, self.sockets = self.sockets, set()
        for end in dropped:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def cut(self) -> None:
        self.up = False
        self._drop_all()

    def restore(self) -> None:
        self.up = True
        self._drop_all()  # connections held while cut fail now instead of at their timeout

    def close(self) -> None:
        self.listener.close()
        self._drop_all()


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    return call(), time.monotonic() - started


def eventually_ok(client: TestClient, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        status = int(client.get("/healthz").status_code)
        if status == 200 or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["code"] == "database_unavailable"


@pytest.mark.postgres
@needs_postgres
def test_postgres_partition_answers_503_quickly_and_recovers() -> None:
    assert SERVER is not None
    upstream = sa.engine.make_url(SERVER)
    proxy = CuttableProxy((upstream.host or "127.0.0.1", upstream.port or 5432))
    with postgres_databases(1) as [url]:
        through_proxy = sa.engine.make_url(url).set(host="127.0.0.1", port=proxy.port)
        settings = Settings(
            database_url=through_proxy.render_as_string(hide_password=False),
            database_connect_timeout_s=2,
            database_pool_timeout_s=2,
            health_timeout_s=1,
        )
        app = create_app(settings)
        with TestClient(app) as client:
            manager = bearer(create_key(app.state.store, program="t", role=Role.MANAGER)[1])
            assert client.post("/v1/events", json=collection(EVENT), headers=manager).is_success
            assert client.get("/healthz").status_code == 200

            proxy.cut()
            health, health_s = timed(lambda: client.get("/healthz"))
            assert_unavailable(health)
            assert health_s < 3
            for call in (
                lambda: client.post("/v1/events", json=collection(EVENT), headers=manager),
                lambda: client.get("/v1/events", headers=manager),
            ):
                response, took_s = timed(call)
                assert_unavailable(response)
                assert took_s < 8  # the connect timeout (2 s) bounds it, not TCP's minutes

            proxy.restore()
            assert eventually_ok(client, 10) == 200
            again = client.post("/v1/events", json=collection(EVENT), headers=manager)
            assert again.status_code == 201, again.text
            listed = client.get("/v1/events", headers=manager).json()
            assert len(listed["features"]) == 2
        proxy.close()


def test_sqlite_file_gone_answers_503_and_recovers(
    app: Any, client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    store: SqlStore = app.state.store
    manager = bearer(create_key(store, program="t", role=Role.MANAGER)[1])
    assert client.post("/v1/events", json=collection(EVENT), headers=manager).status_code == 201
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    # Open connections keep a moved file's inode; a new worker or connection sees the path.
    store.engine.dispose()
    database.rename(tmp_path / "elsewhere.sqlite3")
    database.mkdir()  # the path now names something no database can be opened at

    assert_unavailable(client.get("/healthz"))
    assert_unavailable(client.post("/v1/events", json=collection(EVENT), headers=manager))
    assert_unavailable(client.get("/v1/events", headers=manager))

    database.rmdir()
    (tmp_path / "elsewhere.sqlite3").rename(database)
    assert client.get("/healthz").json()["schema_revision"] == HEAD
    assert client.post("/v1/events", json=collection(EVENT), headers=manager).status_code == 201


# -- what a database error leaves in the log -------------------------------------------------

SECRET = "cell-8675309-fatal-idem-4242"


def test_database_error_logs_class_and_request_id_never_parameters(
    app: Any, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    store: SqlStore = app.state.store

    def failing_lookup(_key_hash: str) -> None:
        with store.engine.connect() as conn:
            conn.execute(sa.text("SELECT cell FROM no_such_table WHERE cell = :c"), {"c": SECRET})

    store.key_by_hash = failing_lookup  # type: ignore[method-assign,assignment]
    with caplog.at_level(logging.INFO):
        response = client.get("/v1/events", headers=bearer("gs_" + "x" * 40))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    request_id = response.headers["X-Request-ID"]
    assert response.json()["request_id"] == request_id
    assert SECRET not in response.text
    assert SECRET not in caplog.text and "no_such_table" not in caplog.text
    assert "Traceback" not in caplog.text
    assert all(record.exc_info is None for record in caplog.records)
    [error] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "OperationalError" in error and request_id in error
    assert any(request_id in r.getMessage() and " 500 " in r.getMessage() for r in caplog.records)


def test_every_response_names_its_request(client: TestClient) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first.headers["X-Request-ID"]) >= 16
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_uvicorn_access_log_stays_off_when_uvicorn_is_run_by_hand(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    create_app(settings)
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # What uvicorn's access logger writes for each request: address and query string.
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "10.0.0.9:5000", "GET", "/v1/x?lat=54.76", "1.1", 200
        )
    assert "54.76" not in caplog.text


# -- bad database settings at start ------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def bad_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:

    def use(url: str) -> None:
        monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", url)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def _unwritable_sqlite(tmp_path: Path) -> str:
    (tmp_path / "a-file").write_text("not a folder")  # even root cannot make a folder in it
    return f"sqlite:///{tmp_path}/a-file/db.sqlite3"


@pytest.mark.parametrize("which", ["nonsense", "unparseable", "unwritable", "unreachable"])
def test_migrate_with_a_bad_database_says_one_line_and_exits_2(
    which: str, bad_database: Any, tmp_path: Path
) -> None:
    closed_port = socket.create_server(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()
    bad_database(
        {
            "nonsense": "nonsense://x",
            "unparseable": "not a url at all",
            "unwritable": _unwritable_sqlite(tmp_path),
            "unreachable": f"postgresql://nobody:hunter2@127.0.0.1:{port}/db",
        }[which]
    )
    result = runner.invoke(cli_app, ["migrate"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "GEO_SERVICE_DATABASE_URL" in result.stderr and "hunter2" not in result.stderr


def test_migrate_brings_an_empty_database_to_head(bad_database: Any, tmp_path: Path) -> None:
    bad_database(f"sqlite:///{tmp_path}/fresh/db.sqlite3")
    for _ in range(2):  # and again: nothing left to do is not an error
        result = runner.invoke(cli_app, ["migrate"])
        assert result.exit_code == 0, result.output
        assert HEAD is not None and HEAD in result.stdout


def test_app_with_an_unwritable_database_fails_start_with_one_line(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=_unwritable_sqlite(tmp_path)))
    sent: list[MutableMapping[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    import asyncio

    with pytest.raises(Exception, match="SQLite"):
        asyncio.run(
            app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        )
    [failed] = sent
    assert failed["type"] == "lifespan.startup.failed"
    # What uvicorn prints: the reason in one line, not Starlette's formatted traceback.
    assert len(failed["message"].splitlines()) == 1
    assert "cannot start" in failed["message"] and "GEO_SERVICE_DATABASE_URL" in failed["message"]


def test_serve_runs_several_workers_with_the_access_log_off(
    bad_database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    bad_database(f"sqlite:///{tmp_path}/db.sqlite3")
    runs: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: runs.append((app, options)))
    result = runner.invoke(cli_app, ["serve", "--workers", "3", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [(target, options)] = runs
    # Several workers need an import string; each worker builds the app from the environment.
    assert target == "geo_service.main:create_app" and options["factory"] is True
    assert options["workers"] == 3 and options["access_log"] is False


# -- several workers ingesting into one program ----------------------------------------------


def one_event() -> EventRows:
    ints = np.array([1], dtype=np.int64)
    return EventRows(
        kind=["needle_report"],
        cell_m=ints * 125,
        cell_ix=ints,
        cell_iy=ints,
        bucket_start=ints * 1_746_100_800,
        bucket_hours=ints,
        count=ints,
        source=["peer"],
        fatal=[None],
        naloxone_doses=[None],
        place_type=[None],
    )


def batch_record(program_id: int) -> BatchRecord:
    return BatchRecord(
        batch_id=uuid.uuid4().hex,
        program_id=program_id,
        key_id=None,
        target="events",
        idempotency_key=None,
        fingerprint=uuid.uuid4().hex,
        received_on="2025-05-01",
    )


@pytest.mark.postgres
@needs_postgres
def test_batches_for_one_program_store_side_by_side_and_show_at_commit() -> None:
    with postgres_databases(1) as [url]:
        store = open_store(url)
        program = store.get_or_create_program("t")
        before = store.data_version(program)
        first_is_open, release_first = threading.Event(), threading.Event()

        def slow_chunks() -> Iterator[EventRows]:
            yield one_event()
            first_is_open.set()
            release_first.wait(20)
            yield one_event()

        first = threading.Thread(
            target=store.store_event_stream, args=(batch_record(program), slow_chunks())
        )
        first.start()
        assert first_is_open.wait(10)
        # While the first batch's transaction is open, a second batch for the program commits.
        second = threading.Thread(
            target=store.store_events, args=(batch_record(program), one_event())
        )
        second.start()
        second.join(5)
        second_waited = second.is_alive()
        version_with_second = store.data_version(program)
        release_first.set()
        first.join(20)
        second.join(20)
        assert not second_waited, "the second batch queued behind the first one's lock"
        assert version_with_second == before + 1  # its rows and its version show together
        assert store.data_version(program) == before + 2
        assert store.count_rows(program)["events"] == 3
        store.close()


@pytest.mark.postgres
@needs_postgres
def test_postgres_statements_and_dead_links_time_out() -> None:
    with postgres_databases(1) as [url]:
        timeouts = DatabaseTimeouts(statement_s=0.5, keepalive_idle_s=7)
        store = open_store(url, timeouts=timeouts)
        with store.engine.connect() as conn:
            parameters = conn.connection.driver_connection.info.get_parameters()  # type: ignore[union-attr]
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError) as stuck:
                conn.exec_driver_sql("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3
        assert is_transient(stuck.value)  # answered as 503 with Retry-After
        assert parameters["keepalives_idle"] == "7" and parameters["connect_timeout"] == "5"
        assert int(parameters["tcp_user_timeout"]) > 0
        store.close()
