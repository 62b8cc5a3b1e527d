"""Sums per cell over a window, from the aggregates for its whole local months and from the
events for the rest: the same answer as summing every event, from thousands of rows.

A window ``[start, end)`` holds an event whose bucket overlaps it. The whole months are those
every one of whose events lies inside; events of the other months are read raw. Near a month's
first instant, where a clock falling back across midnight makes the month of an instant
ambiguous, rows are filed by computing their month, exactly as the aggregates were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo_service.storage.months import local_month_numbers, month_start_s
from geo_service.storage.records import EventCells
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
    if start is not None:
        first = int(local_month_numbers(np.array([start]), timezone)[0])
        if month_start_s(first, timezone)[0] < start:
            first += 1
        low = month_start_s(first, timezone)
    if end is not None:
        after = int(local_month_numbers(np.array([end]), timezone)[0])
        if month_start_s(after, timezone)[1] > end:
            after -= 1
        last = after - 1
        high = month_start_s(after, timezone)
    if first is not None and last is not None and first > last:
        return None
    return WholeMonths(first, last, low, high)


def _overlapping(start: int | None, end: int | None) -> list[sa.ColumnElement[bool]]:
    c = events.c
    where = []
    if start is not None:
        where.append(c.bucket_start + c.bucket_hours * 3600 > start)
    if end is not None:
        where.append(c.bucket_start < end)
    return where


def raw_cell_sums(
    conn: Connection, where: list[sa.ColumnElement[bool]], table: sa.Table = events
) -> pd.DataFrame:
    """Events (or aggregates) matching ``where``, summed per cell by the database."""
    c = table.c
    if table is events:
        sums = [sa.func.sum(c.count), sa.func.min(c.bucket_start)]
        last = sa.func.max(c.bucket_start + c.bucket_hours * 3600)
    else:
        sums = [sa.func.sum(c.amount), sa.func.min(c.first_start)]
        last = sa.func.max(c.last_end)
    select = (
        sa.select(c.cell_m, c.cell_ix, c.cell_iy, *sums, last)
        .where(*where)
        .group_by(c.cell_m, c.cell_ix, c.cell_iy)
    )
    rows = conn.execute(select).all()
    return pd.DataFrame(int_table(rows).reshape(-1, 6), columns=SUMS)


def _ambiguous_rows(
    conn: Connection,
    where: list[sa.ColumnElement[bool]],
    span: tuple[int, int],
    months: WholeMonths,
    timezone: str,
) -> pd.DataFrame:
    """Events starting in ``span`` (an edge of the whole months where the clock fell back)
    that belong to none of the whole months, summed per cell."""
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
    kept = table[~inside]
    frame = pd.DataFrame(
        {
            "cell_m": kept[:, 0],
            "cell_ix": kept[:, 1],
            "cell_iy": kept[:, 2],
            "count": kept[:, 3],
            "first_start": kept[:, 4],
            "last_end": kept[:, 4] + kept[:, 5] * 3600,
        }
    )
    return frame.groupby(CELL, as_index=False).agg(
        count=("count", "sum"), first_start=("first_start", "min"), last_end=("last_end", "max")
    )


def month_cell_sums(
    conn: Connection,
    program_id: int,
    kind: str,
    *,
    window: tuple[int | None, int | None],
    timezone: str,
) -> pd.DataFrame | None:
    """Per cell sums over the window from the aggregates where whole months allow, with
    the events of the partial months; ``None`` when the window holds no whole month."""
    start, end = window
    months = whole_months(start, end, timezone)
    if months is None:
        return None
    m = cell_months.c
    chosen = [m.program_id == program_id, m.kind == kind]
    if months.first is not None:
        chosen.append(m.month >= months.first)
    if months.last is not None:
        chosen.append(m.month <= months.last)
    parts = [raw_cell_sums(conn, chosen, cell_months)]
    c = events.c
    base = [c.program_id == program_id, c.kind == kind, *_overlapping(start, end)]
    outside = []
    if months.low is not None:
        outside.append(c.bucket_start < months.low[0])
    if months.high is not None:
        outside.append(c.bucket_start >= months.high[1])
    if outside:
        parts.append(raw_cell_sums(conn, [*base, sa.or_(*outside)]))
    for edge in (months.low, months.high):
        if edge is not None and edge[0] < edge[1]:
            parts.append(_ambiguous_rows(conn, base, edge, months, timezone))
    return _combined(parts)


def _combined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    return frame.groupby(CELL, as_index=False, sort=True).agg(
        count=("count", "sum"), first_start=("first_start", "min"), last_end=("last_end", "max")
    )


def as_event_cells(frame: pd.DataFrame) -> list[EventCells]:
    """Per cell sums as one record per stored cell size, cells in (ix, iy) order."""
    table = frame[SUMS].to_numpy(dtype=np.int64).reshape(-1, 6)
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
