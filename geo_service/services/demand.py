"""The demand an answer may rest on: which events, in which window, per cell and hour.

Everything is computed on all events of the window; what is *shown* depends on the role.
Managers and stewards see event counts over the last year (or a period). Peers and planners
(DESIGN.md §4) get only a finished period's released cells, so every number computed from
them is a function of published numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.coverage import HOURS_OF_WEEK, spread_over_week
from analysis.grid import cell_centres
from geo_service.periods import Bucket, Period, latest_published, parse_period
from geo_service.services.basis import Basis, base_basis, full_basis
from geo_service.services.program import ProgramContext
from geo_service.services.releases import (
    Release,
    View,
    check_period,
    get_release,
    grace_days,
    levels_above_stored,
    release_rule,
)
from geo_service.settings import EventKind
from maps.words import period_words

DEMAND_KINDS = (EventKind.NEEDLE_REPORT, EventKind.OVERDOSE)
MANAGER_WINDOW_DAYS = 365
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ReleasedCells = dict[tuple[int, int], int]


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    label: str
    period: Period | None  # the publication period for peers and planners, else None
    k: int | None  # the threshold behind what is shown; None for full views
    now: float = 0.0
    cell_m: int | None = None  # squares the demand is summed into (None: the stored size)


def resolve_window(
    ctx: ProgramContext,
    period_text: str | None,
    *,
    long_view: bool = False,
    cell_m: int | None = None,
) -> Window:
    """The events a role's answer is computed on. ``long_view`` (siting, a decision for
    years) defaults peers and planners to the latest finished quarter, since a month of a
    small town leaves most counts below k. ``cell_m`` sums them into larger squares (for
    peers and planners, the release's cells summed), so answers rest on more reports."""
    now = ctx.now
    if ctx.full_view and period_text is None:
        start = int(now) - MANAGER_WINDOW_DAYS * 86_400
        label = f"the last {MANAGER_WINDOW_DAYS} days"
        return Window(start, int(now), label, None, None, cell_m=cell_m)
    choice = ctx.store.publication(ctx.program_id)
    bucket = Bucket.QUARTER if long_view else choice.bucket
    label = period_text or latest_published(
        bucket, now=now, grace_days=grace_days(choice), tz=ctx.deployment.tz
    )
    period = parse_period(label, ctx.deployment)
    check_period(period, choice, now=now, full_view=ctx.full_view)
    k = None if ctx.full_view else release_rule(ctx.settings, choice, 0).k
    return Window(period.start, period.end, period.label, period, k, now, cell_m)


@dataclass(frozen=True)
class Demand:
    kind: EventKind
    cell_m: int
    ix: IntArray
    iy: IntArray
    x: FloatArray
    y: FloatArray
    by_hour: FloatArray  # (cells, 168)
    day_only: float = 0.0  # events with a date only, left out of by_hour (no hour to give)

    @property
    def xy(self) -> tuple[FloatArray, FloatArray]:
        return self.x, self.y


def _no_demand(kind: EventKind, cell_m: int) -> Demand:
    empty = np.zeros(0, dtype=np.int64)
    return Demand(
        kind, cell_m, empty, empty, np.zeros(0), np.zeros(0), np.zeros((0, HOURS_OF_WEEK))
    )


def read_demand(ctx: ProgramContext, kind: EventKind, window: Window) -> Demand:
    """Events of ``kind`` per cell (the window's size, else the stored one) and local hour of
    the week."""
    deployment = ctx.deployment
    up = levels_above_stored(deployment, kind, window.cell_m)
    base_m = deployment.cell_m(kind) << up
    parts = ctx.store.event_buckets(ctx.program_id, kind.value, start=window.start, end=window.end)
    ix_all, iy_all, start_all, hours_all, count_all, day_all = [], [], [], [], [], []
    for part in parts:
        levels = deployment.grid.levels_between(part.cell_m, base_m) if part.cell_m < base_m else 0
        ix_all.append(part.ix >> levels)
        iy_all.append(part.iy >> levels)
        start_all.append(part.bucket_start)
        hours_all.append(part.bucket_hours)
        count_all.append(part.count)
        day_all.append(np.zeros(len(part.ix), bool) if part.day_only is None else part.day_only)
    if not ix_all:
        return _no_demand(kind, base_m)
    ix, iy = np.concatenate(ix_all), np.concatenate(iy_all)
    cells, cell_of = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    local = pd.to_datetime(np.concatenate(start_all), unit="s", utc=True).tz_convert(deployment.tz)
    hour_of_week = (local.day_of_week * 24 + local.hour).to_numpy().astype(np.int64)
    count = np.concatenate(count_all).astype(np.float64)
    day = np.concatenate(day_all)
    # A date only has no hour of the week: it weighs nothing in the hour tables (and so in
    # the open-hours shares), and the answer says how many were left out.
    by_hour = spread_over_week(
        cell_of.ravel(),
        hour_of_week,
        np.concatenate(hours_all),
        np.where(day, 0.0, count),
        len(cells),
    )
    cx, cy = cell_centres(cells[:, 0], cells[:, 1], grid=deployment.grid, cell_m=base_m)
    day_only = float(count[day].sum())
    return Demand(kind, base_m, cells[:, 0], cells[:, 1], cx, cy, by_hour, day_only)


def demand_seen(
    ctx: ProgramContext, kind: EventKind, window: Window
) -> tuple[Demand, ReleasedCells | None, Basis]:
    """The demand a role's answer may rest on, the released cells (None: every cell), and
    what share of the window's reports that demand is.

    Peers and planners get only the released base cells, each weighing its released count,
    spread over the week as the whole release's reports were: every number computed from them
    is then a function of published numbers, so no choice of threshold, candidate, hours or
    weight can subtract its way to a hidden small count, and no cell's own hours are shown.
    Reports released only in coarser cells have no place precise enough to walk to; in
    larger squares (``window.cell_m``) more of them do.
    """
    words = period_words(window.label)
    if window.k is None or window.period is None:
        demand = read_demand(ctx, kind, window)
        # Events with a date only weigh nothing in the hour tables every share is taken on.
        placed = float(demand.by_hour.sum())
        return demand, None, full_basis(placed, placed + demand.day_only, words)
    release = get_release(
        ctx.store,
        ctx.deployment,
        ctx.settings,
        program_id=ctx.program_id,
        kind=kind,
        period=window.period,
        now=window.now,
        view=View(cell_m=window.cell_m),
    )
    return release_demand(release, ctx), release.base_cells(), base_basis(release, words)


def release_demand(release: Release, ctx: ProgramContext) -> Demand:
    released = release.base_cells()
    cells = np.array(sorted(released), dtype=np.int64).reshape(-1, 2)
    counts = np.array([released[(int(x), int(y))] for x, y in cells], dtype=np.float64)
    profile = np.asarray(release.by_hour, dtype=np.float64)
    profile = profile / profile.sum() if profile.sum() > 0 else np.full(HOURS_OF_WEEK, 1 / 168)
    grid = ctx.deployment.grid
    cx, cy = cell_centres(cells[:, 0], cells[:, 1], grid=grid, cell_m=release.cell_m)
    by_hour = counts[:, None] * profile[None, :]
    return Demand(
        release.kind, release.cell_m, cells[:, 0], cells[:, 1], cx, cy, by_hour, release.day_only
    )
