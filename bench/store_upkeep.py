"""Issue 20's store step alone: ``store_events`` of n blurred rows with the per-cell-per-month
aggregates kept and without, each into a fresh SQLite file or PostgreSQL database (called by
``bench_ingest.py --aggregates-rows``)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from geo_service.settings import Settings

KINDS = np.array(["needle_report", "overdose", "cleanup"])


def database_url(kind: str, name: str, directory: Path, postgres: str | None) -> str:
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (directory / f"{name}.sqlite3{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{directory}/{name}.sqlite3"
    assert postgres is not None
    import sqlalchemy as sa

    admin = sa.create_engine(
        sa.engine.make_url(postgres).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.engine.make_url(postgres).set(database=name).render_as_string(hide_password=False)


def store_seconds(url: str, n: int, *, keep: bool) -> float:
    """Seconds for ``store_events`` of n blurred rows (one batch) into a fresh database."""
    from geo_service.deployment import Deployment
    from geo_service.storage import BatchRecord, EventRows
    from geo_service.storage.connection import DatabaseTimeouts
    from geo_service.storage.sql import open_store

    deployment = Deployment(Settings(database_url=url))
    # One 1,000,000-row COPY may outlast the default 30 s statement limit on a busy machine.
    timeouts = DatabaseTimeouts(statement_s=600.0)
    store = open_store(url, grid_record=deployment.grid_record(), timeouts=timeouts)
    store.keep_cell_months = keep
    try:
        program_id = store.get_or_create_program("bench")
        rng = np.random.default_rng(5)
        kinds = KINDS[rng.choice(3, n, p=[0.8, 0.05, 0.15])].tolist()
        rows = EventRows(
            kind=kinds,
            cell_m=np.where(np.array(kinds) == "overdose", 250, 125).astype(np.int64),
            # A city: events around a centre (sd 1.5 km on 125 m cells), over 300 days.
            cell_ix=np.rint(rng.normal(0, 12, n)).astype(np.int64),
            cell_iy=np.rint(rng.normal(0, 12, n)).astype(np.int64),
            bucket_start=1_735_689_600 + rng.integers(0, 300 * 24, n) * 3600,
            bucket_hours=np.ones(n, dtype=np.int64),
            count=np.ones(n, dtype=np.int64),
            source=[None] * n,
            fatal=[None] * n,
            naloxone_doses=[None] * n,
            place_type=[None] * n,
        )
        record = BatchRecord("b" * 32, program_id, None, "events", None, "x", "2026-01-01")
        started = time.perf_counter()
        store.store_events(record, rows)
        took = time.perf_counter() - started
        with store.engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT count(*) FROM cell_months").scalar()
        if keep:
            print(f"           ({n:,} events kept as {kept:,} cell months)")
        return took
    finally:
        store.close()


def bench_store_only(n: int, directory: Path, postgres: str | None) -> None:
    """The store step alone (no file to read): one batch of n rows, with and without."""
    for kind in ("sqlite", "postgresql") if postgres else ("sqlite",):
        seconds: dict[str, float] = {}
        for mode in ("off", "on", "off", "on"):
            url = database_url(kind, f"wt_agg_store_{mode}", directory, postgres)
            took = store_seconds(url, n, keep=mode == "on")
            seconds[mode] = min(seconds.get(mode, took), took)
        print(
            f"{kind:10} store_events of {n:,} blurred rows, one batch: aggregates kept "
            f"{seconds['on']:.1f} s, not kept {seconds['off']:.1f} s; ratio "
            f"{seconds['on'] / seconds['off']:.2f}x (the upkeep against the store step alone)"
        )
