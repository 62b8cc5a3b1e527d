"""The narrow read an alert rule needs at ingest: the reports of one short window, with who
sent them (the release rule's reporter), read with the events' time index."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from geo_service.storage.schema import alerts, batches, events
from geo_service.storage.sql.engine import SqlBase, compiled
from geo_service.storage.window_records import WindowReports

# Buckets are at most a day long (a date-only report); a bucket overlapping the window
# starts no earlier than this before it, so the index on bucket_start bounds the scan.
_LONGEST_BUCKET_S = 24 * 3600


class AlertWindowSql(SqlBase):
    def window_reports(self, program_id: int, kind: str, *, start: int, end: int) -> WindowReports:
        """Reports of ``kind`` whose bucket overlaps ``(start, end]`` (late rows included:
        managers review alerts); key-less rows each count as their own reporter."""
        c = events.c
        select = (
            sa.select(
                c.cell_m,
                c.cell_ix,
                c.cell_iy,
                c.bucket_start,
                c.bucket_hours,
                c.count,
                sa.func.coalesce(c.naloxone_doses, 0),
                sa.func.coalesce(batches.c.key_id, -c.id),
            )
            .select_from(events.outerjoin(batches, batches.c.id == c.batch_id))
            .where(
                c.program_id == program_id,
                c.kind == kind,
                c.bucket_start > start - _LONGEST_BUCKET_S,
                c.bucket_start <= end,
                c.bucket_start + c.bucket_hours * 3600 > start,
            )
        )
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(*compiled(select, conn)).fetchall()
        table = np.array(rows, dtype=np.int64).reshape(len(rows), 8)
        return WindowReports(*(np.ascontiguousarray(table[:, i]) for i in range(8)))

    def drafted_on(self, program_id: int, day: str) -> set[tuple[int, str]]:
        """The (rule, area) pairs that already have an alert on a local day, so evaluation
        skips them without a write each."""
        c = alerts.c
        query = sa.select(c.rule_id, c.area).where(c.program_id == program_id, c.day == day)
        with self.engine.connect() as conn:
            return {(int(rule), str(area)) for rule, area in conn.execute(query)}
