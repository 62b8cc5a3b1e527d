"""Space-time cubes for emerging hot spots: events per cell per time step.

Managers' cubes are read from the store (every event of the window); peers' and planners'
are built from monthly releases alone (DESIGN §4.4, §4.5): a cell a month did not release
counts as empty that month, exactly as it looks to them, so no hidden report leaves a mark.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.grid import IntArray
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.periods import DAY_S, month_label, month_of, month_start
from geo_service.services.releases import Release
from geo_service.settings import EventKind
from geo_service.storage import Store

WEEK_S = 7 * DAY_S


class TimeStep(enum.StrEnum):
    MONTH = "month"
    WEEK = "week"


@dataclass(frozen=True)
class Step:
    """One time step: its label (``2025-05``, or the week's Monday ``2025-05-05``) and its
    bounds in UTC epoch seconds of local midnights."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Cube:
    """Events per cell (rows, in ``ix``/``iy`` order) per step (columns, oldest first)."""

    cell_m: int
    ix: IntArray
    iy: IntArray
    counts: npt.NDArray[np.int64]
    steps: tuple[Step, ...]

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def month_steps(last_month: int, steps: int, tz: dt.tzinfo) -> tuple[Step, ...]:
    """``steps`` months ending with the month index ``last_month``, oldest first."""
    months = range(last_month - steps + 1, last_month + 1)
    return tuple(Step(month_label(m), month_start(m, tz), month_start(m + 1, tz)) for m in months)


def last_finished_month(now: float, tz: dt.tzinfo) -> int:
    return month_of(dt.datetime.fromtimestamp(now, tz)) - 1


def week_steps(now: float, steps: int, tz: dt.tzinfo) -> tuple[Step, ...]:
    """``steps`` weeks (Monday to Sunday, local) ending with the last finished one."""
    today = dt.datetime.fromtimestamp(now, tz).date()
    this_monday = today - dt.timedelta(days=today.weekday())
    mondays = [this_monday - dt.timedelta(weeks=k) for k in range(steps, -1, -1)]
    starts = [int(dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()) for d in mondays]
    return tuple(
        Step(monday.isoformat(), start, end)
        for monday, start, end in zip(mondays, starts, starts[1:], strict=False)
    )


def _cube(
    cell_m: int,
    ix: IntArray,
    iy: IntArray,
    step: IntArray,
    count: IntArray,
    steps: tuple[Step, ...],
) -> Cube:
    """Sum (cell, step, count) rows into a cube of the cells that hold any event."""
    if len(ix) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Cube(cell_m, empty, empty, np.zeros((0, len(steps)), dtype=np.int64), steps)
    cells, row = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    counts = np.zeros((len(cells), len(steps)), dtype=np.int64)
    np.add.at(counts, (row.ravel(), step), count)
    return Cube(cell_m, cells[:, 0], cells[:, 1], counts, steps)


def store_cube(
    store: Store,
    deployment: Deployment,
    program_id: int,
    kind: EventKind,
    steps: tuple[Step, ...],
) -> Cube:
    """Every stored event of ``kind`` in the steps, per stored-size cell and step."""
    cell_m = deployment.cell_m(kind)
    starts = np.array([s.start for s in steps], dtype=np.int64)
    groups = store.event_buckets(program_id, kind.value, start=steps[0].start, end=steps[-1].end)
    parts: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []
    for group in groups:
        if group.cell_m > cell_m:
            raise InvalidParameter(
                f"some {kind.value} events are stored in cells larger than {cell_m} m; "
                "they cannot be shown at this size"
            )
        shift = deployment.grid.levels_between(group.cell_m, cell_m)
        step = np.searchsorted(starts, group.bucket_start, side="right") - 1
        parts.append((group.ix >> shift, group.iy >> shift, step, group.count))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _cube(cell_m, empty, empty, empty, empty, steps)
    ix, iy, step, count = (np.concatenate(column) for column in zip(*parts, strict=True))
    return _cube(cell_m, ix, iy, step, count, steps)


def release_cube(releases: list[Release], steps: tuple[Step, ...]) -> Cube:
    """The releases' stored-size cells at their released counts, one release per step.

    Cells a month released only rolled up into larger squares are left out of that month:
    the cube is at the stored size (the basis says how many reports that leaves out)."""
    assert len(releases) == len(steps) and releases
    rows = [
        (f.ix, f.iy, step, f.count)
        for step, release in enumerate(releases)
        for f in release.features
        if f.level == 0
    ]
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return _cube(releases[0].cell_m, table[:, 0], table[:, 1], table[:, 2], table[:, 3], steps)
