"""Load benchmark: ``geo-service serve --workers 2`` (and 1) on a fresh PostgreSQL database.

N clients each POST M GeoJSON batches to one program over loopback, with an Idempotency-Key
per batch; some batches are re-sent at once (a lost answer) and some at the end (a late
retry). Prints events/s, p50/p95 latency and checks that the database holds exactly the
accepted events: no retry stored anything twice.

    .venv/bin/python bench/bench_load.py [--clients 8] [--batches 25] [--batch-size 1000]
        [--workers 2 1] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

The server is a separate process tree on 127.0.0.1; everything is stopped and the database
dropped at the end. Bounded: clients x batches requests plus the retries, nothing more.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
TOWN = (-101.8779, 54.7682)
CLI = [sys.executable, "-c", "from geo_service.cli import main; main()"]


@dataclass
class ClientLog:
    latencies_s: list[float] = field(default_factory=list)
    accepted: int = 0
    batch_ids: dict[str, str] = field(default_factory=dict)
    replays: int = 0
    mismatched_replays: int = 0
    errors: int = 0


def batch_body(rng: np.random.Generator, size: int) -> bytes:
    lon = TOWN[0] + rng.normal(0, 0.01, size).clip(-0.045, 0.045)
    lat = TOWN[1] + rng.normal(0, 0.006, size).clip(-0.025, 0.025)
    hours = rng.integers(0, 300 * 24, size)
    kinds = rng.choice(["needle_report", "overdose", "cleanup"], size, p=[0.7, 0.1, 0.2])
    features = []
    for x, y, h, kind in zip(lon.round(6), lat.round(6), hours, kinds, strict=True):
        stamp = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(1_735_689_600 + int(h) * 3600))
        props: dict[str, object] = {"kind": str(kind), "observed_at": stamp}
        if kind == "overdose":
            props["fatal"] = False
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
                "properties": props,
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def post(conn: http.client.HTTPConnection, key: str, idem: str, body: bytes) -> dict[str, str]:
    """POST until the server gives an answer (409: the same key is still being stored)."""
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/geo+json",
        "Idempotency-Key": idem,
    }
    for attempt in range(50):
        conn.request("POST", "/v1/events", body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status == 201:
            answer: dict[str, str] = json.loads(payload)
            answer["replayed"] = response.getheader("Idempotent-Replayed", "")
            return answer
        if response.status not in (409, 503):
            raise RuntimeError(f"unexpected {response.status}: {payload[:200]!r}")
        time.sleep(0.01 * (attempt + 1))
    raise RuntimeError("no answer after 50 tries")


def run_client(n: int, port: int, key: str, bodies: list[bytes], log: ClientLog) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    late: list[int] = []
    for b, body in enumerate(bodies):
        idem = f"client{n}-batch{b}"
        started = time.perf_counter()
        try:
            answer = post(conn, key, idem, body)
        except (RuntimeError, OSError):
            log.errors += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        log.latencies_s.append(time.perf_counter() - started)
        log.accepted += int(answer["accepted"])
        log.batch_ids[idem] = answer["batch_id"]
        if b % 10 == 3:  # the answer was "lost": the client sends the batch again at once
            check_replay(post(conn, key, idem, body), answer["batch_id"], log)
        if b % 10 == 7:
            late.append(b)
    for b in late:  # retries that come long after, as from a phone back in coverage
        idem = f"client{n}-batch{b}"
        check_replay(post(conn, key, idem, bodies[b]), log.batch_ids[idem], log)
    conn.close()


def check_replay(answer: dict[str, str], batch_id: str, log: ClientLog) -> None:
    log.replays += 1
    if answer["replayed"] != "true" or answer["batch_id"] != batch_id:
        log.mismatched_replays += 1


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"geo_service_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        sa.engine.make_url(server_url).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield (
            sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(env: dict[str, str], workers: int, port: int) -> Iterator[None]:
    process = subprocess.Popen(
        [*CLI, "serve", "--workers", str(workers), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the workers stop with it
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not come up")
            time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def stored_events(database_url: str) -> tuple[int, int]:
    engine = sa.create_engine(sa.engine.make_url(database_url).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        events = conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one()
        batches = conn.exec_driver_sql("SELECT count(*) FROM ingest_batches").scalar_one()
    engine.dispose()
    return int(events), int(batches)


def run(args: argparse.Namespace, workers: int, bodies: list[list[bytes]]) -> None:
    with fresh_database(args.postgres) as database_url:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GEO_SERVICE_DATABASE_URL": database_url,
            "GEO_SERVICE_RATE_LIMIT_PER_KEY": "0",
            "GEO_SERVICE_RATE_LIMIT_PER_ADDRESS": "0",
        }
        subprocess.run([*CLI, "migrate"], env=env, check=True, capture_output=True)
        made = subprocess.run(
            [*CLI, "keys", "create", "--role", "manager", "--program", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = made.stdout.strip().splitlines()[0]
        port = free_port()
        logs = [ClientLog() for _ in bodies]
        with server(env, workers, port):
            clients = [
                threading.Thread(target=run_client, args=(n, port, key, bodies[n], logs[n]))
                for n in range(len(bodies))
            ]
            started = time.perf_counter()
            for client in clients:
                client.start()
            for client in clients:
                client.join()
            seconds = time.perf_counter() - started
        accepted = sum(log.accepted for log in logs)
        latencies = sorted(s for log in logs for s in log.latencies_s)
        stored, batches = stored_events(database_url)
    replays = sum(log.replays for log in logs)
    bad_replays = sum(log.mismatched_replays for log in logs)
    errors = sum(log.errors for log in logs)
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    verdict = "stored = accepted, duplicates 0" if stored == accepted else "MISMATCH"
    print(
        f"{workers} worker(s): {accepted:,} events in {len(latencies)} batches "
        f"({replays} retries) in {seconds:.1f} s = {accepted / seconds:,.0f} events/s; "
        f"latency p50 {p50:.0f} ms, p95 {p95:.0f} ms; {verdict} (stored {stored:,}, "
        f"{batches} batch rows, {bad_replays} bad replays, {errors} errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batches", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "GEO_SERVICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    bodies = [
        [batch_body(rng, args.batch_size) for _ in range(args.batches)] for _ in range(args.clients)
    ]
    print(
        f"{args.clients} clients x {args.batches} batches of {args.batch_size} events, "
        "GeoJSON over loopback, PostgreSQL",
        flush=True,
    )
    for workers in args.workers:
        run(args, workers, bodies)


if __name__ == "__main__":
    main()
