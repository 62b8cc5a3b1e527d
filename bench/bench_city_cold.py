"""Cold hot-spot answers on a city of a million key-less events (issue 20), SQLite and PostgreSQL.

    .venv/bin/python bench/bench_city_cold.py [--events 1000000] [--backends sqlite,postgresql]

The city of ``bench/city_pages.py`` (a million events over the last year, imported without a
key, so each counts as its own reporter). Every timing is the first request of a FRESH
process (a new app on the stored database: nothing cached): a peer's ``/maps/hotspots`` and
``GET /v1/hotspots`` for the latest published quarter, and a manager's ``GET /v1/hotspots``
(the whole year) and ``/maps/hotspots``. The peer's answers are timed twice: with no release
made yet (the first reader makes the quarter's months and the quarter), and after
``geo-service releases make`` made them ahead (what the server's background tick or cron does
when a period's grace ends; its time is printed too), and once more in a fresh process after
an earlier one stored the page (peers' pages are stored in the database by release hash).
Releases and stored pages are deleted between the runs, so each cold run makes its own.
PostgreSQL: GEO_SERVICE_TEST_POSTGRES_URL, in a database of its own (created and dropped here).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geo_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_PEER_S, TARGET_MANAGER_S = 1.0, 0.5
BEFORE = {  # bench/README.md, 2026-11-22 (a quarter of 1M events; the city never finished)
    "peer /maps/hotspots": 9.5,
    "peer /v1/hotspots": 3.7,
    "manager /v1/hotspots": 2.9,
    "manager /maps/hotspots": 0.45,
}


def settings_for(url: str) -> Settings:
    from city_pages import city_bbox

    from geo_service.settings import Settings

    return Settings(
        database_url=url, service_area_bbox=city_bbox(), map_tiles="none", rate_limit_per_key=0,
        rate_limit_per_address=0, analysis_seconds=600, releases_ahead_minutes=0,
        database_statement_timeout_s=600,  # one COPY of a million rows on a busy machine
    )  # fmt: skip


def build(url: str, n: int, keys_file: Path) -> float:
    """Store the city's events and a key per role; seconds spent storing."""
    import pandas as pd
    from city_pages import city_events
    from fastapi.testclient import TestClient

    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from geo_service.storage import BatchRecord

    app = create_app(settings_for(url))
    with TestClient(app):
        store, deployment = app.state.store, app.state.deployment
        keys = {r.value: create_key(store, program="city", role=r)[1] for r in Role}
        program_id = store.program_id("city")
        start = time.perf_counter()
        batch = city_events(n, deployment, pd.Timestamp.now(tz="UTC").floor("h"))
        record = BatchRecord("bench", program_id, None, "events", None, "x", "2026-01-01")
        store.store_events(record, batch.rows)  # type: ignore[attr-defined]
        keys_file.write_text(json.dumps(keys))
        return time.perf_counter() - start


def measure(url: str, keys_file: Path, role: str, path: str) -> None:
    """In a fresh process: the first answer's seconds (and a warm one), as JSON on stdout."""
    from fastapi.testclient import TestClient

    from geo_service.main import create_app
    from geo_service.periods import Bucket, latest_published
    from geo_service.services.releases import DEFAULT_GRACE_DAYS

    app = create_app(settings_for(url))
    keys = json.loads(keys_file.read_text())
    with TestClient(app) as client:
        quarter = latest_published(
            Bucket.QUARTER, now=time.time(), grace_days=DEFAULT_GRACE_DAYS,
            tz=app.state.deployment.tz,
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {keys[role]}"}
        url_path = path.replace("QUARTER", quarter)
        start = time.perf_counter()
        first = client.get(url_path, headers=headers)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        client.get(url_path, headers=headers)
        warm = time.perf_counter() - start
        assert first.status_code == 200, first.text[:300]
        print(json.dumps({"cold": cold, "warm": warm, "bytes": len(first.content)}))


def make_ahead(url: str) -> None:
    """In a fresh process: ``geo-service releases make`` (the latest published month, quarter,
    half-year and year of every kind), timed."""
    from geo_service.deployment import Deployment
    from geo_service.services.releases.ahead import ReleaseMaker
    from geo_service.storage.sql import open_store

    settings = settings_for(url)
    store = open_store(url)
    start = time.perf_counter()
    outcomes = ReleaseMaker(store, Deployment(settings), every_s=0).tick(
        now=time.time(), latest=True
    )
    seconds = time.perf_counter() - start
    store.close()
    print(json.dumps({"seconds": seconds, "made": [o.period + " " + o.kind for o in outcomes]}))


def forget_releases(url: str) -> None:
    import sqlalchemy as sa

    from geo_service.storage.sql import open_store

    store = open_store(url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM releases"))
        conn.execute(sa.text("DELETE FROM stored_pages"))  # made of the releases
    store.close()


@contextmanager
def own_database(server: str) -> Iterator[str]:
    """A new PostgreSQL database for this run, dropped at the end."""
    import sqlalchemy as sa

    name = f"bench_city_cold_{uuid.uuid4().hex[:8]}"
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


def child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


PAGES = [
    ("peer /maps/hotspots", "peer", "/maps/hotspots?kind=needle_report&period=QUARTER"),
    ("peer /v1/hotspots", "peer", "/v1/hotspots?kind=needle_report&method=gi_star&period=QUARTER"),
]
MANAGER = [
    ("manager /v1/hotspots", "manager", "/v1/hotspots?kind=needle_report&method=gi_star"),
    ("manager /maps/hotspots", "manager", "/maps/hotspots?kind=needle_report&period=QUARTER"),
]


def run_backend(name: str, url: str, n: int, tmp: Path) -> list[tuple[str, str, float, float]]:
    keys = tmp / f"{name}-keys.json"
    stored = build(url, n, keys)
    print(f"{name}: {n:,} events stored in {stored:.0f} s", flush=True)
    rows: list[tuple[str, str, float, float]] = []
    for label, role, path in PAGES:
        forget_releases(url)
        got = child("--measure", url, str(keys), role, path)
        rows.append((label, "cold, nothing made", float(got["cold"]), float(got["warm"])))
        print(f"  {label}, nothing made: {got['cold']:.2f} s", flush=True)
    forget_releases(url)
    made = child("--make", url)
    print(f"  releases made ahead in {made['seconds']:.1f} s: {made['made']}", flush=True)
    rows.append(("geo-service releases make", "fresh process", float(made["seconds"]), 0.0))
    for label, role, path in PAGES + MANAGER:
        got = child("--measure", url, str(keys), role, path)
        when = "cold, made ahead" if role == "peer" else "cold"
        rows.append((label, when, float(got["cold"]), float(got["warm"])))
        print(f"  {label}, {when}: {got['cold']:.2f} s (warm {got['warm']:.3f} s)", flush=True)
    # The made-ahead peer page above was built once and stored: another process serves it.
    label, role, path = PAGES[0]
    got = child("--measure", url, str(keys), role, path)
    rows.append(
        (label, "cold, stored by an earlier process", float(got["cold"]), float(got["warm"]))
    )
    print(f"  {label}, stored by an earlier process: {got['cold']:.2f} s", flush=True)
    return rows


def table(results: dict[str, list[tuple[str, str, float, float]]]) -> None:
    print("\n| backend | answer | state | first (s) | warm (s) | target | before | before / now |")
    print("|---|---|---|---|---|---|---|---|")
    for backend, rows in results.items():
        for label, state, cold, warm in rows:
            target = TARGET_PEER_S if label.startswith("peer") else TARGET_MANAGER_S
            if label == "manager /maps/hotspots" or label.startswith("geo-service"):
                target_text = "—"
            else:
                target_text = f"≤ {target:g}" + (" ✓" if cold <= target else " ✗")
            before = BEFORE.get(label)
            ratio = f"{before / cold:.1f}×" if before else "—"
            print(
                f"| {backend} | {label} | {state} | {cold:.2f} | {warm:.3f} | {target_text} | "
                f"{before if before else '—'} | {ratio} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--measure", nargs=4)
    parser.add_argument("--make")
    args = parser.parse_args()
    if args.measure:
        url, keys, role, path = args.measure
        measure(url, Path(keys), role, path)
        return
    if args.make:
        make_ahead(args.make)
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/city.sqlite3"
                results[backend] = run_backend(backend, url, args.events, Path(tmp))
                continue
            server = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
            if not server:
                print("postgresql: skipped (set GEO_SERVICE_TEST_POSTGRES_URL)")
                continue
            with own_database(server) as url:
                results[backend] = run_backend(backend, url, args.events, Path(tmp))
    table(results)
    print(f"\n(run {uuid.uuid4().hex[:6]}, {time.strftime('%Y-%m-%d %H:%M')} UTC; targets: peer "
          f"≤ {TARGET_PEER_S} s, manager /v1 ≤ {TARGET_MANAGER_S} s)")  # fmt: skip


if __name__ == "__main__":
    main()
