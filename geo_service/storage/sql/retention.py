"""Retention: old events folded into monthly aggregates and deleted, a chunk at a time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.periods import month_of_buckets
from geo_service.storage.records import MonthlyAggregate, RetentionResult
from geo_service.storage.schema import daily_counts, events, monthly_aggregates
from geo_service.storage.sql.cell_month_store import CellMonthSql
from geo_service.storage.sql.cell_months import recount_deleted
from geo_service.storage.sql.engine import bump_version

RETENTION_CHUNK_ROWS = 10_000  # ids per DELETE: under SQLite's 32,766 bound parameters
RETENTION_ATTEMPTS = 3
_AGGREGATE_KEY = ("program_id", "kind", "month", "cell_m", "cell_ix", "cell_iy")
# One monthly aggregate row's key, in the order of _AGGREGATE_KEY.
AggregateKey = tuple[int, str, str, int, int, int]
# What one chunk did: the last id it read, the rows it deleted, the aggregates it touched.
ChunkDone = tuple[int, int, set[AggregateKey]]


class _ChunkChanged(Exception):
    """A retention chunk's rows changed between reading and deleting them."""


def _fold(conn: Connection, frame: pd.DataFrame, *, tz: str) -> set[AggregateKey]:
    """Add a chunk's counts to the monthly aggregates (one UPDATE and one INSERT for
    all rows, not a statement per cell); returns the aggregate keys it touched."""
    frame = frame.assign(month=month_of_buckets(frame["start"].to_numpy(), tz))
    summed = frame.groupby(list(_AGGREGATE_KEY), as_index=False).agg(n=("count", "sum"))
    sums: dict[AggregateKey, int] = {
        (int(p), str(kind), str(month), int(m), int(x), int(y)): int(n)
        for p, kind, month, m, x, y, n in summed.itertuples(index=False)
    }
    a = monthly_aggregates.c
    existing = {
        tuple(row)
        for row in conn.execute(
            sa.select(*(a[name] for name in _AGGREGATE_KEY)).where(
                a.program_id.in_(summed["program_id"].unique().tolist()),
                a.month.in_(summed["month"].unique().tolist()),
            )
        )
    }
    rows = [dict(zip(_AGGREGATE_KEY, key, strict=True)) | {"n": n} for key, n in sums.items()]
    old = [r for r, key in zip(rows, sums, strict=True) if key in existing]
    new = [r for r, key in zip(rows, sums, strict=True) if key not in existing]
    if old:
        conn.execute(
            sa.update(monthly_aggregates)
            .where(*(a[name] == sa.bindparam(f"key_{name}") for name in _AGGREGATE_KEY))
            .values(count=a.count + sa.bindparam("n")),
            [{f"key_{k}": v for k, v in r.items() if k != "n"} | {"n": r["n"]} for r in old],
        )
    if new:
        conn.execute(
            sa.insert(monthly_aggregates),
            [{k: v for k, v in r.items() if k != "n"} | {"count": r["n"]} for r in new],
        )
    return set(sums)


class RetentionSql(CellMonthSql):
    def roll_up_before(
        self,
        cutoff: int,
        *,
        tz: str,
        chunk_rows: int = RETENTION_CHUNK_ROWS,
        program_id: int | None = None,
    ) -> RetentionResult:
        """Fold events whose bucket starts before ``cutoff`` into monthly aggregates and
        delete them (DESIGN §4.7), a chunk at a time: each chunk's rows are folded and then
        deleted by their ids in one transaction, so only counted rows go. Events stored
        after the run began wait for the next run, so a busy ingest cannot keep it going.
        ``program_id``: that program's events only (each program's months are its own time
        zone's); ``None``: every program's, all in ``tz``."""
        self._forget_days_before(cutoff, tz=tz, program_id=program_id)
        with self.engine.connect() as conn:
            last_id = conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
        span = (0, int(last_id))
        removed, touched = 0, set[AggregateKey]()
        while True:
            chunk = self._roll_up_chunk(
                cutoff, tz=tz, span=span, limit=chunk_rows, program_id=program_id
            )
            if chunk is None:
                return RetentionResult(removed, len(touched))
            after_id, deleted, keys = chunk
            span = (after_id, span[1])
            removed += deleted
            touched |= keys

    def _forget_days_before(self, cutoff: int, *, tz: str, program_id: int | None) -> None:
        """The alerts' daily series goes with the events it counted: a day before the cutoff
        keeps nothing finer than the monthly aggregates do (alert rules read 104 days at
        most, far inside any retention period)."""
        first_kept = dt.datetime.fromtimestamp(cutoff, ZoneInfo(tz)).date().isoformat()
        query = sa.delete(daily_counts).where(daily_counts.c.day < first_kept)
        if program_id is not None:
            query = query.where(daily_counts.c.program_id == program_id)
        with self._write() as conn:
            conn.execute(query)

    def _roll_up_chunk(
        self, cutoff: int, *, tz: str, span: tuple[int, int], limit: int, program_id: int | None
    ) -> ChunkDone | None:
        for _ in range(RETENTION_ATTEMPTS):
            try:
                return self._fold_and_delete(
                    cutoff, tz=tz, span=span, limit=limit, program_id=program_id
                )
            except _ChunkChanged:
                continue  # rolled back; the next attempt reads the chunk afresh
        raise RuntimeError("retention: events kept changing under one chunk; run it again")

    def _fold_and_delete(
        self, cutoff: int, *, tz: str, span: tuple[int, int], limit: int, program_id: int | None
    ) -> ChunkDone | None:
        """Fold and delete the oldest-id ``limit`` old events with ids in ``span``
        (exclusive, inclusive); ``None`` once there are none."""
        c = events.c
        columns = {
            "id": c.id,
            "program_id": c.program_id,
            "kind": c.kind,
            "cell_m": c.cell_m,
            "cell_ix": c.cell_ix,
            "cell_iy": c.cell_iy,
            "start": c.bucket_start,
            "count": c.count,
        }
        chosen = sa.true() if program_id is None else c.program_id == program_id
        with self._write() as conn:
            rows = conn.execute(
                sa.select(*columns.values())
                .where(c.bucket_start < cutoff, c.id > span[0], c.id <= span[1], chosen)
                .order_by(c.id)
                .limit(limit)
            ).all()
            if not rows:
                return None
            frame = pd.DataFrame(rows, columns=list(columns))
            keys = _fold(conn, frame, tz=tz)
            ids = frame["id"].tolist()
            removed = conn.execute(sa.delete(events).where(c.id.in_(ids))).rowcount
            if removed != len(ids):
                raise _ChunkChanged  # someone deleted some of them meanwhile: roll back
            recount_deleted(conn, frame, squares=self.cell_squares(conn))
            for program_id in frame["program_id"].unique().tolist():
                bump_version(conn, int(program_id))
        return int(ids[-1]), int(removed), keys

    def aggregates(self, program_id: int) -> list[MonthlyAggregate]:
        a = monthly_aggregates.c
        query = (
            sa.select(monthly_aggregates)
            .where(a.program_id == program_id)
            .order_by(a.month, a.kind, a.cell_iy, a.cell_ix)
        )
        with self.engine.connect() as conn:
            return [MonthlyAggregate(**row._mapping) for row in conn.execute(query)]
