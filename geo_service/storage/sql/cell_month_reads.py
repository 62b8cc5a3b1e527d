"""Sums per cell over a window, from the aggregates for its whole local months and from the
events for the rest: the same answer as summing every event, from thousands of rows.

A window ``[start, end)`` holds an event whose bucket overlaps it. The whole months are those
every one of whose events lies inside; events of the other months are read raw. Near a month's
first instant, where a clock falling back across midnight makes the month of an instant
ambiguous, rows are filed by computing their month, exactly as the aggregates were.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.storage.months import local_month_numbers, month_start_s
from geo_service.storage.records import EventCells, IntArray
from geo_service.storage.schema import cell_months, events
from geo_service.storage.sql.engine import int_table

CELL = ["cell_m", "cell_ix", "cell_iy"]
SUMS = [*CELL, "count", "first_start", "last_end"]


@dataclass(frozen=True)
class WholeMonths:
    """Months ``first..last`` (either may be open) and the instants around their edges:
    events starting before ``low[0]`` or from ``high[1]`` on are of other months; those in
    ``[low[0], low[1])`` or ``[high[0], high[1])`` may be of either."""

    first: int | None
    last: int | None
    low: tuple[int, int] | None
    high: tuple[int, int] | None


def whole_months(start: int | None, end: int | None, timezone: str) -> WholeMonths | None:
    """The local months lying wholly inside ``[start, end)``; ``None`` if there are none
    (or the window reaches the calendar's ends, year 1 or 9999: those read the events)."""
    try:
        return _whole_months(start, end, timezone)
    except (ValueError, OverflowError):
        return None


def _whole_months(start: int | None, end: int | None, timezone: str) -> WholeMonths | None:
    first = low = last = high = None
    zone = ZoneInfo(timezone)
    if start is not None:
        first = _month_of(start, zone)
        if month_start_s(first, timezone)[0] < start:
            first += 1
        low = month_start_s(first, timezone)
    if end is not None:
        after = _month_of(end, zone)
        if month_start_s(after, timezone)[1] > end:
            after -= 1
        last = after - 1
        high = month_start_s(after, timezone)
    if first is not None and last is not None and first > last:
        return None
    return WholeMonths(first, last, low, high)


def _month_of(epoch_s: int, zone: ZoneInfo) -> int:
    local = dt.datetime.fromtimestamp(epoch_s, zone)
    return local.year * 12 + local.month - 1


def _overlapping(start: int | None, end: int | None) -> list[sa.ColumnElement[bool]]:
    c = events.c
    where = []
    if start is not None:
        where.append(c.bucket_start + c.bucket_hours * 3600 > start)
    if end is not None:
        where.append(c.bucket_start < end)
    return where


def _cell_sums(where: list[sa.ColumnElement[bool]], table: sa.Table = events) -> sa.Select[Any]:
    """Events (or aggregates) matching ``where``, summed per cell."""
    c = table.c
    if table is events:
        sums = [sa.func.sum(c.count), sa.func.min(c.bucket_start)]
        last = sa.func.max(c.bucket_start + c.bucket_hours * 3600)
    else:
        sums = [sa.func.sum(c.amount), sa.func.min(c.first_start)]
        last = sa.func.max(c.last_end)
    names = ["count", "first_start", "last_end"]
    return (
        sa.select(
            c.cell_m,
            c.cell_ix,
            c.cell_iy,
            *(v.label(n) for v, n in zip([*sums, last], names, strict=True)),
        )
        .where(*where)
        .group_by(c.cell_m, c.cell_ix, c.cell_iy)
    )


def _summed(conn: Connection, parts: list[sa.Select[Any]]) -> IntArray:
    """The parts' sums combined per cell, in one statement: one round trip."""
    if len(parts) == 1:
        select = parts[0]
    else:
        both = sa.union_all(*parts).subquery()
        select = sa.select(
            both.c.cell_m,
            both.c.cell_ix,
            both.c.cell_iy,
            sa.func.sum(both.c["count"]),
            sa.func.min(both.c.first_start),
            sa.func.max(both.c.last_end),
        ).group_by(both.c.cell_m, both.c.cell_ix, both.c.cell_iy)
    return int_table(conn.execute(select).all()).reshape(-1, 6)


def raw_cell_sums(conn: Connection, where: list[sa.ColumnElement[bool]]) -> IntArray:
    """Events matching ``where``, summed per cell by the database (as before the aggregates)."""
    return _summed(conn, [_cell_sums(where)])


def _ambiguous_rows(
    conn: Connection,
    where: list[sa.ColumnElement[bool]],
    span: tuple[int, int],
    months: WholeMonths,
    timezone: str,
) -> IntArray:
    """Events starting in ``span`` (an edge of the whole months where the clock fell back)
    that belong to none of the whole months, one row each."""
    c = events.c
    rows = conn.execute(
        sa.select(c.cell_m, c.cell_ix, c.cell_iy, c.count, c.bucket_start, c.bucket_hours).where(
            *where, c.bucket_start >= span[0], c.bucket_start < span[1]
        )
    ).all()
    table = int_table(rows).reshape(-1, 6)
    month = local_month_numbers(table[:, 4], timezone)
    inside = np.ones(len(table), dtype=bool)
    if months.first is not None:
        inside &= month >= months.first
    if months.last is not None:
        inside &= month <= months.last
    kept = table[~inside].copy()
    kept[:, 5] = kept[:, 4] + kept[:, 5] * 3600  # bucket end
    return kept


def _earliest_overlapping(
    conn: Connection, program_id: int, kind: str, start: int, timezone: str
) -> int | None:
    """A lower bound on the bucket start of any event ending after ``start`` (``None``: no
    event does), from the month of the earliest cell month ending after it. The events'
    own condition on their end cannot use the index; this bound can."""
    m = cell_months.c
    first = conn.execute(
        sa.select(sa.func.min(m.month)).where(
            m.program_id == program_id, m.kind == kind, m.last_end > start
        )
    ).scalar()
    return None if first is None else month_start_s(int(first), timezone)[0]


def month_cell_sums(
    conn: Connection,
    program_id: int,
    kind: str,
    *,
    window: tuple[int | None, int | None],
    timezone: str,
) -> IntArray:
    """Per cell sums over the window (cell_m, ix, iy, count, first start, last end): whole
    months from the aggregates, the rest from the events, each through a range of an index."""
    start, end = window
    c = events.c
    base = [c.program_id == program_id, c.kind == kind, *_overlapping(start, end)]
    if start is not None:
        lower = _earliest_overlapping(conn, program_id, kind, start, timezone)
        if lower is None:
            return np.zeros((0, 6), dtype=np.int64)
        base.append(c.bucket_start >= lower)
    months = whole_months(start, end, timezone)
    if months is None:
        return _summed(conn, [_cell_sums(base)])
    m = cell_months.c
    chosen = [m.program_id == program_id, m.kind == kind]
    if months.first is not None:
        chosen.append(m.month >= months.first)
    if months.last is not None:
        chosen.append(m.month <= months.last)
    parts = [_cell_sums(chosen, cell_months)]
    # Each side its own branch, not one OR: each is one range of the index.
    if months.low is not None:
        parts.append(_cell_sums([*base, c.bucket_start < months.low[0]]))
    if months.high is not None:
        parts.append(_cell_sums([*base, c.bucket_start >= months.high[1]]))
    summed = _summed(conn, parts)
    edges = [
        _ambiguous_rows(conn, base, edge, months, timezone)
        for edge in (months.low, months.high)
        if edge is not None and edge[0] < edge[1]
    ]
    return _regrouped([summed, *edges]) if any(len(e) for e in edges) else summed


def _regrouped(parts: list[IntArray]) -> IntArray:
    frame = pd.DataFrame(np.concatenate(parts), columns=SUMS)
    summed = frame.groupby(CELL, as_index=False, sort=True).agg(
        count=("count", "sum"), first_start=("first_start", "min"), last_end=("last_end", "max")
    )
    return summed[SUMS].to_numpy(dtype=np.int64).reshape(-1, 6)


def as_event_cells(table: IntArray) -> list[EventCells]:
    """Per cell sums as one record per stored cell size, cells in (ix, iy) order."""
    out = []
    for size in np.unique(table[:, 0]).tolist():
        part = table[table[:, 0] == size]
        part = part[np.lexsort((part[:, 2], part[:, 1]))]
        out.append(
            EventCells(
                cell_m=int(size),
                ix=part[:, 1],
                iy=part[:, 2],
                count=part[:, 3],
                first_start=part[:, 4],
                last_end=part[:, 5],
            )
        )
    return out
