"""Rate limits in the database: what one request's count costs, on SQLite and PostgreSQL.

Three measurements per backend, each the median of several rounds:

1. the store alone: ``count_request`` (an anonymous request: one upsert) and
   ``count_known_key`` (a key that proved valid: one conditional upsert);
2. the middleware around an ASGI app that answers at once, called directly (no HTTP):
   the shared counts against the per-worker token buckets they replace (the old class,
   kept below as the reference), and against no limiter at all;
3. ``GET /v1/sites`` with a peer key through the whole app (TestClient), limits on and off.

    .venv/bin/python bench/bench_rate_limits.py [--requests 2000]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

A fresh SQLite file and a fresh PostgreSQL database (dropped at the end) are used.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from geo_service.security import KEY_VERIFIED, RateLimitMiddleware
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore, open_store

ROUNDS = 5


class TokenBuckets:
    """The per-worker limiter this replaces (in memory, token buckets), the reference."""

    def __init__(self, app: ASGIApp, *, per_key: int, per_address: int) -> None:
        self.app, self.per_key, self.per_address = app, per_key, per_address
        self._buckets: dict[str, tuple[float, float]] = {}
        self._valid_keys: set[str] = set()
        self._lock = threading.Lock()

    def _take(self, identity: str, limit: int) -> float:
        now = time.monotonic()
        rate = limit / 60.0
        with self._lock:
            tokens, last = self._buckets.get(identity, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[identity] = (tokens - 1.0, now)
                return 0.0
            self._buckets[identity] = (tokens, now)
            return (1.0 - tokens) / rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                key = "k:" + hashlib.sha256(value).hexdigest()[:24]
        if key is not None and key in self._valid_keys:
            self._take(key, self.per_key)
            await self.app(scope, receive, send)
            return
        self._take("a:" + scope["client"][0], self.per_address)
        await self.app(scope, receive, send)
        if key is not None and scope.get(KEY_VERIFIED):
            self._valid_keys.add(key)
            self._take(key, self.per_key)


async def answer_at_once(scope: Scope, _receive: Receive, send: Send) -> None:
    scope[KEY_VERIFIED] = True  # as the key check does for a valid key
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


class FakeApp:
    """Stands for the FastAPI app in the scope: the middleware reads ``state.store``."""

    def __init__(self, store: SqlStore) -> None:
        self.state = type("State", (), {"store": store})()


def interleaved_us(runs: dict[str, Callable[[], object]], count: int) -> dict[str, float]:
    """Median µs per call of each run, the runs taking turns round by round so that a busy
    machine slows them alike."""
    rounds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            started = time.perf_counter()
            for _ in range(count):
                run()
            rounds[name].append((time.perf_counter() - started) / count * 1e6)
    return {name: statistics.median(times) for name, times in rounds.items()}


def store_costs(store: SqlStore, count: int) -> dict[str, float]:
    minute = int(time.time() // 60)
    store.key_proved("k:bench", minute)
    return interleaved_us(
        {
            "count_request": lambda: store.count_request("a:bench", minute),
            "count_known_key": lambda: store.count_known_key(
                "k:bench", minute, known_since=minute - 10
            ),
        },
        count,
    )


def middleware_costs(store: SqlStore, count: int) -> dict[str, float]:
    """The middleware around an app that answers at once, called without HTTP."""
    limits = {"per_key": 10**9, "per_address": 10**9}
    apps: dict[str, ASGIApp] = {
        "none": answer_at_once,
        "token buckets": TokenBuckets(answer_at_once, **limits),
        "shared counts": RateLimitMiddleware(answer_at_once, **limits),
    }
    scope_base = {
        "type": "http",
        "method": "GET",
        "path": "/v1/sites",
        "headers": [(b"authorization", b"Bearer gs_bench")],
        "client": ("10.0.0.1", 5000),
        "app": FakeApp(store),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(_: Any) -> None:
        return None

    async def many() -> dict[str, float]:
        rounds: dict[str, list[float]] = {name: [] for name in apps}
        for app in apps.values():
            await app(dict(scope_base), receive, send)  # the key proves valid once
        for _ in range(ROUNDS):
            for name, app in apps.items():
                started = time.perf_counter()
                for _ in range(count):
                    await app(dict(scope_base), receive, send)
                rounds[name].append((time.perf_counter() - started) / count * 1e6)
        return {name: statistics.median(times) for name, times in rounds.items()}

    return asyncio.run(many())


def whole_app_costs(database_url: str, count: int) -> dict[str, float]:
    """``GET /v1/sites`` with a peer key, limits off and on, through the whole app."""
    with ExitStack() as stack:
        runs: dict[str, Callable[[], object]] = {}
        for name, limit in (("off", 0), ("on", 10**9)):
            settings = Settings(
                database_url=database_url, rate_limit_per_key=limit, rate_limit_per_address=limit
            )
            app = create_app(settings)
            client = stack.enter_context(TestClient(app))
            key = create_key(app.state.store, program="bench", role=Role.PEER)[1]
            headers = {"Authorization": f"Bearer {key}"}
            client.get("/v1/sites", headers=headers)
            runs[name] = partial(client.get, "/v1/sites", headers=headers)
        return interleaved_us(runs, count)


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    name = f"wt_hosts_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        sa.engine.make_url(server).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def report(backend: str, database_url: str, count: int) -> None:
    store = open_store(database_url)
    try:
        alone = store_costs(store, count)
        around = middleware_costs(store, count)
    finally:
        store.close()
    whole = whole_app_costs(database_url, count // 4)
    print(
        f"{backend}: store count_request {alone['count_request']:.0f} µs, count_known_key "
        f"{alone['count_known_key']:.0f} µs | middleware around an instant app: none "
        f"{around['none']:.0f} µs, per-worker token buckets {around['token buckets']:.0f} µs, "
        f"shared counts {around['shared counts']:.0f} µs | GET /v1/sites with a key: limits "
        f"off {whole['off']:.0f} µs, on {whole['on']:.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report("SQLite", f"sqlite:///{Path(folder) / 'bench.sqlite3'}", args.requests)
    with postgres_database(args.postgres) as url:
        report("PostgreSQL", url, args.requests)


if __name__ == "__main__":
    main()
