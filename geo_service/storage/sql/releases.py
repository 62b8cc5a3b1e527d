"""Frozen releases, and the per-report rows a new one is made from."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from geo_service.storage.records import EventAtoms, StoredRelease
from geo_service.storage.schema import batches, events, releases
from geo_service.storage.sql.engine import SqlBase, compiled


class ReleaseSql(SqlBase):
    def event_atoms(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventAtoms]:
        """A period's reports with their reporting key, late rows left out; rows imported
        without a key each count as their own reporter (they come from many reports)."""
        c = events.c
        where = [c.program_id == program_id, c.kind == kind, c.late == sa.false()]
        if start is not None:
            where.append(c.bucket_start >= start)
        if end is not None:
            where.append(c.bucket_start < end)
        # Plain rows (the caller groups them in numpy, faster than SQLite's GROUP BY), with the
        # submitting key looked up per batch rather than joined per event.
        select = sa.select(
            c.cell_m,
            c.cell_ix,
            c.cell_iy,
            c.bucket_start,
            c.id,
            c.count,
            c.bucket_hours,
            c.batch_id,
            sa.case((c.time_precision == "day", 1), else_=0),
        ).where(*where)
        with self.engine.connect() as conn:
            keys = dict(
                conn.execute(
                    sa.select(batches.c.id, batches.c.key_id).where(
                        batches.c.program_id == program_id
                    )
                ).all()
            )
            # The driver's own cursor: a million SQLAlchemy Row objects cost seconds.
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(*compiled(select, conn))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        if not rows:
            return []
        batch_ids = [row[7] for row in rows]
        key_of_batch = np.array([keys.get(b) or 0 for b in batch_ids], dtype=np.int64)
        table = np.array([row[:7] for row in rows], dtype=np.int64)
        day_only = np.array([row[8] == 1 for row in rows], dtype=bool)
        row_id = table[:, 4].copy()
        # A key-less (imported) row counts as its own reporter: a unique negative id.
        table[:, 4] = np.where(key_of_batch > 0, key_of_batch, -table[:, 4])
        out = []
        for size in np.unique(table[:, 0]):
            pick = table[:, 0] == size
            p = table[pick]
            out.append(
                EventAtoms(
                    int(size),
                    p[:, 1],
                    p[:, 2],
                    p[:, 3],
                    p[:, 4],
                    p[:, 5],
                    p[:, 6],
                    row_id[pick],
                    day_only[pick],
                )
            )
        return out

    def release(self, program_id: int, kind: str, period: str) -> StoredRelease | None:
        r = releases.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(r.kind, r.period, r.made_on, r.rule, r.body, r.content_hash).where(
                    r.program_id == program_id, r.kind == kind, r.period == period
                )
            ).first()
        return StoredRelease(*row) if row else None

    def release_hash(self, program_id: int, kind: str, period: str) -> str | None:
        """A stored release's content hash, without reading its body."""
        r = releases.c
        with self.engine.connect() as conn:
            found = conn.execute(
                sa.select(r.content_hash).where(
                    r.program_id == program_id, r.kind == kind, r.period == period
                )
            ).scalar()
        return None if found is None else str(found)

    def add_release(self, program_id: int, release: StoredRelease) -> bool:
        """Store a release once; False if another worker stored this period's first."""
        try:
            with self._write() as conn:
                conn.execute(sa.insert(releases).values(program_id=program_id, **vars(release)))
        except IntegrityError:
            return False
        return True

    def released_periods(self, program_id: int) -> set[tuple[str, str]]:
        r = releases.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r.kind, r.period).where(r.program_id == program_id))
            return {(str(kind), str(period)) for kind, period in rows}
