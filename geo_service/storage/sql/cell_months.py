"""Per cell and local month aggregates (``cell_months``), kept equal to the events.

Every write of events adds to them in its own transaction; every delete recounts what it
touched; a database with events from before revision 0017 has them built when the store
opens. The month is the local month of a bucket's start in the program's time zone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.settings import Settings
from geo_service.storage.months import FOLD_MARGIN_S, local_month_numbers, month_start_s
from geo_service.storage.records import EventRows
from geo_service.storage.schema import cell_months, events, meta, programs
from geo_service.storage.sql.engine import SqlBase
from geo_service.storage.sql.postgis import add_squares, has_squares

# Set in ``meta`` once every event is counted in ``cell_months``; missing: build them.
COMPLETE_KEY = "cell_months"
KEY = ["kind", "cell_m", "cell_ix", "cell_iy", "month"]
BUILD_CHUNK_ROWS = 200_000
_CELLS_PER_QUERY = 900  # three parameters each: under SQLite's bound-parameter limit
_DEFAULTS = Settings.model_fields


@dataclass(frozen=True)
class ProgramZone:
    """What placing a program's months and squares needs: its time zone and grid."""

    timezone: str
    srid: int | None  # of the projected CRS; None: not an EPSG code PostGIS would know
    origin_x_m: float
    origin_y_m: float


def srid_of(crs: str | None) -> int | None:
    found = re.fullmatch(r"(?i)epsg:(\d+)", crs or "")
    return int(found.group(1)) if found else None


def program_zone(conn: Connection, program_id: int) -> ProgramZone:
    """The program's own time zone and grid; NULL columns (a program from before revision
    0011) take the deployment's, frozen in the database's grid record."""
    row = conn.execute(
        sa.select(
            programs.c.timezone,
            programs.c.projected_crs,
            programs.c.grid_origin_x_m,
            programs.c.grid_origin_y_m,
        ).where(programs.c.id == program_id)
    ).one()
    stored = conn.execute(sa.select(meta.c.value).where(meta.c.key == "grid")).scalar()
    record = json.loads(stored) if stored else {}
    timezone = row.timezone or record.get("timezone") or _DEFAULTS["timezone"].default
    crs = row.projected_crs or record.get("projected_crs")
    origin_x = row.grid_origin_x_m
    origin_y = row.grid_origin_y_m
    if origin_x is None:
        origin_x = record.get("grid_origin_x_m", _DEFAULTS["grid_origin_x_m"].default)
        origin_y = record.get("grid_origin_y_m", _DEFAULTS["grid_origin_y_m"].default)
    return ProgramZone(str(timezone), srid_of(crs), float(origin_x), float(origin_y))


def month_additions(
    kind: Iterable[str],
    columns: dict[str, np.ndarray],
    timezone: str,
) -> pd.DataFrame:
    """Rows summed per (kind, cell, local month): events, amount, first start, last end.
    ``columns``: cell_m, cell_ix, cell_iy, bucket_start, bucket_hours, count."""
    start = np.asarray(columns["bucket_start"], dtype=np.int64)
    frame = pd.DataFrame(
        {
            "kind": pd.Categorical(list(kind)),
            "cell_m": np.asarray(columns["cell_m"], dtype=np.int64),
            "cell_ix": np.asarray(columns["cell_ix"], dtype=np.int64),
            "cell_iy": np.asarray(columns["cell_iy"], dtype=np.int64),
            "month": local_month_numbers(start, timezone),
            "count": np.asarray(columns["count"], dtype=np.int64),
            "start": start,
            "end": start + np.asarray(columns["bucket_hours"], dtype=np.int64) * 3600,
        }
    )
    summed = frame.groupby(KEY, observed=True, sort=False).agg(
        events=("count", "size"),
        amount=("count", "sum"),
        first_start=("start", "min"),
        last_end=("end", "max"),
    )
    out = summed.reset_index()
    out["kind"] = out["kind"].astype(str)
    return out


def row_additions(rows: EventRows, timezone: str) -> pd.DataFrame:
    return month_additions(
        rows.kind,
        {
            "cell_m": rows.cell_m,
            "cell_ix": rows.cell_ix,
            "cell_iy": rows.cell_iy,
            "bucket_start": rows.bucket_start,
            "bucket_hours": rows.bucket_hours,
            "count": rows.count,
        },
        timezone,
    )


_COLUMNS = (
    "program_id, kind, cell_m, cell_ix, cell_iy, month, events, amount, first_start, last_end"
)
_CONFLICT = (
    " ON CONFLICT (program_id, kind, cell_m, cell_ix, cell_iy, month) DO UPDATE SET "
    "events = cell_months.events + excluded.events, "
    "amount = cell_months.amount + excluded.amount, "
    "first_start = {low}(cell_months.first_start, excluded.first_start), "
    "last_end = {high}(cell_months.last_end, excluded.last_end)"
)
_SQLITE_UPSERT = (
    f"INSERT INTO cell_months ({_COLUMNS}) VALUES ({', '.join('?' * 10)})"
    + _CONFLICT.format(low="min", high="max")
)
# PostgreSQL: the additions are copied into a temporary table and merged with one statement.
_PG_STAGE = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS cell_month_additions ("
    "program_id integer, kind varchar(16), cell_m integer, cell_ix bigint, cell_iy bigint, "
    "month integer, events integer, amount bigint, first_start bigint, last_end bigint"
    ") ON COMMIT DELETE ROWS"
)
_PG_MERGE = (
    f"INSERT INTO cell_months ({_COLUMNS}{{geometry_column}}) "
    f"SELECT {_COLUMNS}{{geometry_value}} FROM cell_month_additions"
    + _CONFLICT.format(low="least", high="greatest")
)
# Each cell's square in the program's projected CRS, from the grid's origin and cell size.
_SQUARE = (
    ", ST_MakeEnvelope(%(ox)s + cell_ix * cell_m, %(oy)s + cell_iy * cell_m, "
    "%(ox)s + (cell_ix + 1) * cell_m, %(oy)s + (cell_iy + 1) * cell_m, %(srid)s)"
)


def _tuples(program_id: int, additions: pd.DataFrame) -> list[tuple[object, ...]]:
    return list(
        zip(
            [program_id] * len(additions),
            additions["kind"].tolist(),
            *(additions[name].tolist() for name in KEY[1:]),
            *(additions[n].tolist() for n in ("events", "amount", "first_start", "last_end")),
            strict=True,
        )
    )


def add_cell_months(
    conn: Connection,
    program_id: int,
    additions: pd.DataFrame,
    *,
    zone: ProgramZone,
    squares: bool,
) -> None:
    """Add grouped rows to the aggregates, inside the caller's transaction. ``squares``:
    the table has PostGIS's ``cell`` column, filled for new rows."""
    if not len(additions):
        return
    tuples = _tuples(program_id, additions)
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(_SQLITE_UPSERT, tuples)
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(_PG_STAGE)
        with cursor.copy(f"COPY cell_month_additions ({_COLUMNS}) FROM STDIN") as copy:
            for row in tuples:
                copy.write_row(row)
        geometry = squares and zone.srid is not None
        cursor.execute(
            _PG_MERGE.format(
                geometry_column=", cell" if geometry else "",
                geometry_value=_SQUARE if geometry else "",
            ),
            {"ox": zone.origin_x_m, "oy": zone.origin_y_m, "srid": zone.srid},
        )
        cursor.execute("DELETE FROM cell_month_additions")


def recount_cell_months(
    conn: Connection,
    program_id: int,
    touched: pd.DataFrame,
    *,
    zone: ProgramZone,
    squares: bool,
) -> None:
    """Make the ``touched`` (kind, cell, month) rows equal to the events stored now, after
    some of their events were deleted: recounted from the events, or removed if none is left."""
    if not len(touched):
        return
    keys = touched[KEY].drop_duplicates()
    fresh: list[pd.DataFrame] = []
    pairs = keys[["kind", "month"]].drop_duplicates().to_numpy(dtype=object).tolist()
    for kind, month in pairs:
        group = keys[(keys["kind"] == kind) & (keys["month"] == month)]
        low, _ = month_start_s(int(month), zone.timezone)
        _, high = month_start_s(int(month) + 1, zone.timezone)
        cells = list(group[["cell_m", "cell_ix", "cell_iy"]].itertuples(index=False, name=None))
        for i in range(0, len(cells), _CELLS_PER_QUERY):
            fresh.append(
                _events_in(
                    conn,
                    program_id,
                    str(kind),
                    (low - FOLD_MARGIN_S, high + FOLD_MARGIN_S),
                    cells[i : i + _CELLS_PER_QUERY],
                    zone.timezone,
                )
            )
    c = cell_months.c
    conn.execute(
        sa.delete(cell_months).where(
            c.program_id == program_id,
            c.kind == sa.bindparam("d_kind"),
            c.cell_m == sa.bindparam("d_cell_m"),
            c.cell_ix == sa.bindparam("d_cell_ix"),
            c.cell_iy == sa.bindparam("d_cell_iy"),
            c.month == sa.bindparam("d_month"),
        ),
        [{f"d_{k}": _plain(v) for k, v in row.items()} for row in keys.to_dict("records")],
    )
    counted = pd.concat(fresh, ignore_index=True)
    kept = counted.merge(keys, on=KEY, how="inner")  # the touched months only
    add_cell_months(conn, program_id, kept, zone=zone, squares=squares)


def recount_deleted(conn: Connection, deleted: pd.DataFrame, *, squares: bool) -> None:
    """After deleting events (columns program_id, kind, cell_m, cell_ix, cell_iy, start),
    recount the cell months they were counted in."""
    for program_id in deleted["program_id"].unique().tolist():
        rows = deleted[deleted["program_id"] == program_id]
        zone = program_zone(conn, int(program_id))
        touched = rows.assign(
            month=local_month_numbers(rows["start"].to_numpy(np.int64), zone.timezone)
        )
        recount_cell_months(conn, int(program_id), touched, zone=zone, squares=squares)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _events_in(
    conn: Connection,
    program_id: int,
    kind: str,
    span: tuple[int, int],
    cells: list[tuple[int, int, int]],
    timezone: str,
) -> pd.DataFrame:
    e = events.c
    rows = conn.execute(
        sa.select(e.cell_m, e.cell_ix, e.cell_iy, e.bucket_start, e.bucket_hours, e.count).where(
            e.program_id == program_id,
            e.kind == kind,
            e.bucket_start >= span[0],
            e.bucket_start < span[1],
            sa.tuple_(e.cell_m, e.cell_ix, e.cell_iy).in_(cells),
        )
    ).all()
    table = np.array([tuple(r) for r in rows], dtype=np.int64).reshape(-1, 6)
    names = ["cell_m", "cell_ix", "cell_iy", "bucket_start", "bucket_hours", "count"]
    return month_additions([kind] * len(table), dict(zip(names, table.T, strict=True)), timezone)


def build_cell_months(conn: Connection, *, squares: bool) -> int:
    """Rebuild every program's aggregates from its events, a chunk of rows at a time, inside
    the caller's transaction; returns the number of events counted."""
    conn.execute(sa.delete(cell_months))
    e = events.c
    counted = 0
    for (program_id,) in conn.execute(sa.select(programs.c.id).order_by(programs.c.id)).all():
        zone = program_zone(conn, int(program_id))
        after = 0
        while True:
            rows = conn.execute(
                sa.select(
                    e.id,
                    e.kind,
                    e.cell_m,
                    e.cell_ix,
                    e.cell_iy,
                    e.bucket_start,
                    e.bucket_hours,
                    e.count,
                )
                .where(e.program_id == program_id, e.id > after)
                .order_by(e.id)
                .limit(BUILD_CHUNK_ROWS)
            ).all()
            if not rows:
                break
            kinds = [r[1] for r in rows]
            table = np.array([(r[0], *r[2:]) for r in rows], dtype=np.int64)
            names = ["cell_m", "cell_ix", "cell_iy", "bucket_start", "bucket_hours", "count"]
            columns = dict(zip(names, table[:, 1:].T, strict=True))
            additions = month_additions(kinds, columns, zone.timezone)
            add_cell_months(conn, int(program_id), additions, zone=zone, squares=squares)
            after = int(table[-1, 0])
            counted += len(rows)
    return counted


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
