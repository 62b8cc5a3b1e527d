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

# Set in ``meta`` once every event is counted in ``cell_months``; missing: build them.
COMPLETE_KEY = "cell_months"
KEY = ["kind", "cell_m", "cell_ix", "cell_iy", "month"]
_SUMMED = ["events", "amount", "first_start", "last_end"]
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
    grid = sa.select(meta.c.value).where(meta.c.key == "grid").scalar_subquery()
    row = conn.execute(
        sa.select(
            programs.c.timezone,
            programs.c.projected_crs,
            programs.c.grid_origin_x_m,
            programs.c.grid_origin_y_m,
            grid.label("grid"),
        ).where(programs.c.id == program_id)
    ).one()
    stored = row.grid
    record = json.loads(stored) if stored else {}
    timezone = row.timezone or record.get("timezone") or _DEFAULTS["timezone"].default
    crs = row.projected_crs or record.get("projected_crs")
    origin_x = row.grid_origin_x_m
    origin_y = row.grid_origin_y_m
    if origin_x is None:
        origin_x = record.get("grid_origin_x_m", _DEFAULTS["grid_origin_x_m"].default)
        origin_y = record.get("grid_origin_y_m", _DEFAULTS["grid_origin_y_m"].default)
    return ProgramZone(str(timezone), srid_of(crs), float(origin_x), float(origin_y))


def _group_codes(keys: list[np.ndarray]) -> np.ndarray:
    """One int64 per distinct combination of the key columns (offsets and strides)."""
    code = np.zeros(len(keys[0]), dtype=np.int64)
    room = 1
    for values in keys:
        low = int(values.min())
        span = int(values.max()) - low + 1
        room *= span
        if room >= 2**62:  # too sparse to pack: number the distinct rows instead
            return np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)[1].reshape(-1)
        code = code * span + (values - low)
    return code


def month_additions(
    kind: Iterable[str],
    columns: dict[str, np.ndarray],
    timezone: str,
) -> pd.DataFrame:
    """Rows summed per (kind, cell, local month): events, amount, first start, last end.
    ``columns``: cell_m, cell_ix, cell_iy, bucket_start, bucket_hours, count."""
    kind_code, kinds = pd.factorize(np.asarray(list(kind), dtype=object))
    if not len(kind_code):
        empty = {name: np.zeros(0, dtype=np.int64) for name in [*KEY, *_SUMMED]}
        return pd.DataFrame(empty | {"kind": np.zeros(0, dtype=object)})
    start = np.asarray(columns["bucket_start"], dtype=np.int64)
    keys = [
        kind_code.astype(np.int64),
        np.asarray(columns["cell_m"], dtype=np.int64),
        np.asarray(columns["cell_ix"], dtype=np.int64),
        np.asarray(columns["cell_iy"], dtype=np.int64),
        local_month_numbers(start, timezone),
    ]
    # One hash pass over a packed key: several times faster than a groupby or a sort.
    group, distinct = pd.factorize(_group_codes(keys))
    n = len(distinct)
    # factorize numbers groups in order of first appearance: a row is its group's first
    # where its number exceeds every number before it.
    seen = np.maximum.accumulate(group)
    first = np.flatnonzero(np.r_[True, seen[1:] > seen[:-1]])
    end = start + np.asarray(columns["bucket_hours"], dtype=np.int64) * 3600
    count = np.asarray(columns["count"], dtype=np.int64)
    amount = np.zeros(n, dtype=np.int64)
    np.add.at(amount, group, count)
    first_start = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_start, group, start)
    last_end = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_end, group, end)
    return pd.DataFrame(
        {
            "kind": np.asarray(kinds, dtype=object)[keys[0][first]],
            "cell_m": keys[1][first],
            "cell_ix": keys[2][first],
            "cell_iy": keys[3][first],
            "month": keys[4][first],
            "events": np.bincount(group, minlength=n),
            "amount": amount,
            "first_start": first_start,
            "last_end": last_end,
        }
    )


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
_GROUPED = "program_id, kind, cell_m, cell_ix, cell_iy, month"
# Summed per key, and in key order: two batches merging overlapping cells lock their rows in
# the same order, so one waits for the other's commit instead of deadlocking.
_PG_MERGE = (
    f"INSERT INTO cell_months ({_COLUMNS}{{geometry_column}}) "
    f"SELECT {_GROUPED}, events, amount, first_start, last_end{{geometry_value}} FROM ("
    f"SELECT {_GROUPED}, sum(events) AS events, sum(amount) AS amount, "
    "min(first_start) AS first_start, max(last_end) AS last_end "
    f"FROM cell_month_additions GROUP BY {_GROUPED}) AS added ORDER BY {_GROUPED}"
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
            additions["kind"].astype(str).tolist(),
            *(additions[name].astype(np.int64).tolist() for name in [*KEY[1:], *_SUMMED]),
            strict=True,
        )
    )


def stage_cell_months(conn: Connection, program_id: int, additions: pd.DataFrame) -> None:
    """Add grouped rows to the aggregates in the caller's transaction: at once on SQLite
    (one writer at a time), on PostgreSQL when ``merge_cell_months`` runs (last before the
    commit, so concurrent batches for one program hold their rows' locks only briefly)."""
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


def merge_cell_months(conn: Connection, *, zone: ProgramZone, squares: bool) -> None:
    """Merge what was staged into ``cell_months`` (PostgreSQL; SQLite added it already)."""
    if conn.dialect.name != "postgresql":
        return
    geometry = squares and zone.srid is not None
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(_PG_STAGE)
        cursor.execute(
            _PG_MERGE.format(
                geometry_column=", cell" if geometry else "",
                geometry_value=_SQUARE if geometry else "",
            ),
            {"ox": zone.origin_x_m, "oy": zone.origin_y_m, "srid": zone.srid},
        )
        cursor.execute("DELETE FROM cell_month_additions")


def add_cell_months(
    conn: Connection,
    program_id: int,
    additions: pd.DataFrame,
    *,
    zone: ProgramZone,
    squares: bool,
) -> None:
    """Add grouped rows to the aggregates now, inside the caller's transaction."""
    stage_cell_months(conn, program_id, additions)
    merge_cell_months(conn, zone=zone, squares=squares)


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
