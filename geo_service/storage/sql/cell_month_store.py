"""The cell months' upkeep as part of the store: squares where PostGIS is, built when a
database opens without them, switches for the benchmarks."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.storage.schema import meta
from geo_service.storage.sql.cell_months import COMPLETE_KEY, build_cell_months
from geo_service.storage.sql.engine import SqlBase
from geo_service.storage.sql.postgis import add_squares, has_squares


class CellMonthSql(SqlBase):
    """The aggregates' upkeep, shared by the writers of events."""

    # Off only in the ingest benchmark, to measure what keeping them costs.
    keep_cell_months = True
    # Off only in tests and benchmarks, to read every event as before revision 0017.
    read_cell_months = True
    _squares: bool | None = None

    def cell_squares(self, conn: Connection) -> bool:
        """Whether ``cell_months`` has PostGIS's squares (asked once per store)."""
        if self._squares is None:
            self._squares = has_squares(conn)
        return self._squares

    def ensure_cell_months(self) -> int | None:
        """Give the aggregates PostGIS squares where possible, and build them if this database
        has events counted in none (stored before revision 0017, or under another grid
        record); returns the events counted, ``None`` if they were complete already."""
        self._squares = None
        with self.engine.connect() as conn:
            done = conn.execute(sa.select(meta.c.value).where(meta.c.key == COMPLETE_KEY))
            complete = done.scalar() is not None
            if complete and (self.dialect != "postgresql" or has_squares(conn)):
                return None
        with self._write() as conn:
            added = add_squares(conn)
            done = conn.execute(sa.select(meta.c.value).where(meta.c.key == COMPLETE_KEY))
            if done.scalar() is not None and not added:
                return None
            if self.dialect == "postgresql":  # a million events take a while
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            counted = build_cell_months(conn, squares=self.cell_squares(conn))
            conn.execute(sa.delete(meta).where(meta.c.key == COMPLETE_KEY))
            conn.execute(sa.insert(meta).values(key=COMPLETE_KEY, value="complete"))
            return counted

    def rebuild_cell_months(self) -> int:
        """Rebuild every program's aggregates from its events (the store does it when it
        opens a database that needs it); returns the events counted."""
        with self._write() as conn:
            conn.execute(sa.delete(meta).where(meta.c.key == COMPLETE_KEY))
        counted = self.ensure_cell_months()
        assert counted is not None
        return counted
