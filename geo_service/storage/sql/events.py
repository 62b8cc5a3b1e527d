"""Blurred events: one transaction per batch on the way in, sums per cell on the way out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.storage.alert_records import DailyTally
from geo_service.storage.records import (
    BatchRecord,
    EventBuckets,
    EventCells,
    EventQuery,
    EventRows,
    StoredEvent,
)
from geo_service.storage.schema import events
from geo_service.storage.sql.alerts import add_daily
from geo_service.storage.sql.batches import insert_batch
from geo_service.storage.sql.cell_month_reads import as_event_cells, month_cell_sums, raw_cell_sums
from geo_service.storage.sql.cell_month_store import CellMonthSql
from geo_service.storage.sql.cell_months import (
    merge_cell_months,
    program_zone,
    row_additions,
    stage_cell_months,
)
from geo_service.storage.sql.engine import bump_version, int_table

EVENT_COLUMNS = (
    "program_id",
    "batch_id",
    "kind",
    "cell_m",
    "cell_ix",
    "cell_iy",
    "bucket_start",
    "bucket_hours",
    "count",
    "source",
    "fatal",
    "naloxone_doses",
    "place_type",
    "late",
    "naloxone_given",
    "time_precision",
    "picked_up",
    "minutes",
    "outcome",
    "supplies",
)


def _event_tuples(batch: BatchRecord, rows: EventRows) -> list[tuple[object, ...]]:
    n = len(rows)
    nothing: list[None] = [None] * n
    details = rows.details
    return list(
        zip(
            [batch.program_id] * n,
            [batch.batch_id] * n,
            rows.kind,
            rows.cell_m.tolist(),
            rows.cell_ix.tolist(),
            rows.cell_iy.tolist(),
            rows.bucket_start.tolist(),
            rows.bucket_hours.tolist(),
            rows.count.tolist(),
            rows.source,
            rows.fatal,
            rows.naloxone_doses,
            rows.place_type,
            [False] * n if rows.late is None else rows.late.tolist(),
            [None] * n if rows.naloxone_given is None else rows.naloxone_given,
            ["hour"] * n if rows.time_precision is None else rows.time_precision,
            nothing if details is None else details.picked_up,
            nothing if details is None else details.minutes,
            nothing if details is None else details.outcome,
            nothing if details is None else details.supplies,
            strict=True,
        )
    )


class EventSql(CellMonthSql):
    def store_events(
        self,
        batch: BatchRecord,
        rows: EventRows,
        tally: Callable[[EventRows], DailyTally] | None = None,
    ) -> None:
        """Store the batch record and all its events in one transaction."""
        self.store_event_stream(batch, [rows], tally)

    def store_event_stream(
        self,
        batch: BatchRecord,
        chunks: Iterable[EventRows],
        tally: Callable[[EventRows], DailyTally] | None = None,
    ) -> None:
        """Like ``store_events`` for many chunks, still in one transaction; ``tally`` gives
        each chunk's additions to the daily series, stored in the same transaction."""
        with self._write() as conn:
            insert_batch(conn, batch)
            zone = program_zone(conn, batch.program_id)
            squares = self.cell_squares(conn)
            for rows in chunks:
                if len(rows):
                    self._bulk_insert_events(conn, batch, rows)
                    if tally is not None:
                        add_daily(conn, batch.program_id, tally(rows))
                    if self.keep_cell_months:
                        additions = row_additions(rows, zone.timezone)
                        stage_cell_months(conn, batch.program_id, additions)
            merge_cell_months(conn, zone=zone, squares=squares)
            bump_version(conn, batch.program_id)

    def _bulk_insert_events(self, conn: Connection, batch: BatchRecord, rows: EventRows) -> None:
        tuples = _event_tuples(batch, rows)
        if self.dialect == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor:
                copy_sql = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
                with cursor.copy(copy_sql) as copy:
                    for row in tuples:
                        copy.write_row(row)
            return
        placeholders = ", ".join("?" for _ in EVENT_COLUMNS)
        conn.exec_driver_sql(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({placeholders})", tuples
        )

    def query_events(
        self, query: EventQuery, *, grid_origin: tuple[float, float]
    ) -> list[StoredEvent]:
        c = events.c
        where = [c.program_id == query.program_id, c.id > query.after_id]
        if query.kinds:
            where.append(c.kind.in_(query.kinds))
        if query.start is not None:
            where.append(c.bucket_start + c.bucket_hours * 3600 > query.start)
        if query.end is not None:
            where.append(c.bucket_start < query.end)
        if query.envelope_m is not None:
            xmin, ymin, xmax, ymax = query.envelope_m
            ox, oy = grid_origin
            where += [
                (c.cell_ix + 1) * c.cell_m > xmin - ox,
                c.cell_ix * c.cell_m < xmax - ox,
                (c.cell_iy + 1) * c.cell_m > ymin - oy,
                c.cell_iy * c.cell_m < ymax - oy,
            ]
        select = (
            sa.select(
                c.id,
                c.batch_id,
                c.kind,
                c.cell_m,
                c.cell_ix,
                c.cell_iy,
                c.bucket_start,
                c.bucket_hours,
                c.count,
                c.source,
                c.fatal,
                c.naloxone_doses,
                c.place_type,
                c.naloxone_given,
                c.time_precision,
                c.picked_up,
                c.minutes,
                c.outcome,
                c.supplies,
            )
            .where(*where)
            .order_by(c.id)
            .limit(query.limit)
        )
        with self.engine.connect() as conn:
            return [StoredEvent(**row._mapping) for row in conn.execute(select)]

    def all_events(self, program_id: int) -> list[StoredEvent]:
        return self.query_events(
            EventQuery(program_id=program_id, limit=2**62), grid_origin=(0.0, 0.0)
        )

    def event_cells(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventCells]:
        """Events of one kind in a window, summed per cell by the database: the whole local
        months from the per-cell-per-month aggregates, the rest from the events."""
        c = events.c
        with self._reader() as conn:
            if self.read_cell_months:
                timezone = program_zone(conn, program_id).timezone
                window = (start, end)
                frame = month_cell_sums(conn, program_id, kind, window=window, timezone=timezone)
            else:
                where = [c.program_id == program_id, c.kind == kind]
                if start is not None:
                    where.append(c.bucket_start + c.bucket_hours * 3600 > start)
                if end is not None:
                    where.append(c.bucket_start < end)
                frame = raw_cell_sums(conn, where)
        return as_event_cells(frame)

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        """A read transaction on one snapshot: aggregates and events agree."""
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def first_event_start(self, program_id: int, kind: str) -> int | None:
        """The start of the earliest stored event of a kind (UTC epoch seconds), if any."""
        c = events.c
        select = sa.select(sa.func.min(c.bucket_start)).where(
            c.program_id == program_id, c.kind == kind
        )
        with self.engine.connect() as conn:
            first = conn.execute(select).scalar()
        return None if first is None else int(first)

    def event_buckets(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventBuckets]:
        """Events of one kind per stored cell and time bucket (buckets starting in the
        window), summed by the database."""
        c = events.c
        where = [c.program_id == program_id, c.kind == kind]
        if start is not None:
            where.append(c.bucket_start >= start)
        if end is not None:
            where.append(c.bucket_start < end)
        day = sa.case((c.time_precision == "day", 1), else_=0)
        select = (
            sa.select(
                c.cell_m,
                c.cell_ix,
                c.cell_iy,
                c.bucket_start,
                c.bucket_hours,
                sa.func.sum(c.count),
                day,
            )
            .where(*where)
            .group_by(c.cell_m, c.cell_ix, c.cell_iy, c.bucket_start, c.bucket_hours, day)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(select).all()
        if not rows:
            return []
        table = int_table(rows)
        out = []
        for size in np.unique(table[:, 0]).tolist():
            part = table[table[:, 0] == size]
            out.append(
                EventBuckets(
                    cell_m=int(size),
                    ix=part[:, 1],
                    iy=part[:, 2],
                    bucket_start=part[:, 3],
                    bucket_hours=part[:, 4],
                    count=part[:, 5],
                    day_only=part[:, 6] == 1,
                )
            )
        return out
