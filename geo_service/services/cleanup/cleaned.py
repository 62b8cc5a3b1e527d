"""Finished clean-ups: logging one, and when each stop was last cleaned (the next plan's
clock)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import shapely

from analysis.grid import cell_centres
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter, Unprocessable
from geo_service.ingest.batches import Checked, Sender, run_batch
from geo_service.ingest.privacy import coarsen_times
from geo_service.services.alerts.evaluate import after_batch
from geo_service.services.alerts.series import program_tally
from geo_service.services.releases import grace_days, late_rows
from geo_service.settings import EventKind
from geo_service.storage import EventRows

if TYPE_CHECKING:
    from geo_service.services.program import ProgramContext

CLEANUP_LOOKBACK_DAYS = 365
DAY_S = 86_400


def last_cleaned(
    ctx: ProgramContext, ix: np.ndarray, iy: np.ndarray, base_m: int
) -> list[float | None]:
    """Whole days since each stop cell was last cleaned (None: not in the past year)."""
    store, deployment, program_id, now = ctx.store, ctx.deployment, ctx.program_id, ctx.now
    since = int(now) - CLEANUP_LOOKBACK_DAYS * DAY_S
    last: dict[tuple[int, int, int], int] = {}  # (size, ix, iy) -> end of the latest clean-up
    for group in store.event_cells(
        program_id, EventKind.CLEANUP.value, start=since, end=int(now) + DAY_S
    ):
        size, gx, gy = group.cell_m, group.ix, group.iy
        if size < base_m:  # finer clean-up cells count for the stop cell holding them
            levels = deployment.grid.levels_between(size, base_m)
            size, gx, gy = base_m, gx >> levels, gy >> levels
        for x, y, end in zip(gx.tolist(), gy.tolist(), group.last_end.tolist(), strict=True):
            last[(size, x, y)] = max(last.get((size, x, y), 0), end)
    sizes = {key[0] for key in last}
    # Whole local days, date to date: the documented exception is the day a square was last
    # cleaned. Fractional days (shown through a stop's value) gave the hour a crew member
    # logged it, and, to someone polling, the moment the log arrived.
    today = dt.datetime.fromtimestamp(now, deployment.tz).date()
    out: list[float | None] = []
    for x, y in zip(ix.tolist(), iy.tolist(), strict=True):
        ends = []
        for size in sizes:  # a coarser clean-up cell counts for every stop inside it
            levels = deployment.grid.levels_between(base_m, size)
            ends.append(last.get((size, x >> levels, y >> levels), 0))
        end = max(ends, default=0)
        if end == 0:
            out.append(None)
            continue
        cleaned_on = dt.datetime.fromtimestamp(end - 1, deployment.tz).date()
        out.append(float(max(0, (today - cleaned_on).days)))
    return out


def stop_cells(
    deployment: Deployment, stop_ids: list[str]
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Stop ids ("cell_m:ix:iy") as clean-up cells; a reason for each id that is not one."""
    target_m = deployment.cell_m(EventKind.CLEANUP)
    ix = np.zeros(len(stop_ids), dtype=np.int64)
    iy = np.zeros(len(stop_ids), dtype=np.int64)
    problems: list[str | None] = []
    for n, text in enumerate(stop_ids):
        try:
            size, x, y = (int(p) for p in text.split(":"))
            deployment.grid.check_cell_size(size)
        except ValueError:
            problems.append("stop must be a stop id from a plan, such as 125:-402:7301")
            continue
        cx, cy = cell_centres([x], [y], grid=deployment.grid, cell_m=size)
        if not shapely.intersects_xy(deployment.service_area_m, cx, cy)[0]:
            problems.append("that stop is outside the service area")
            continue
        ix[n] = int(np.floor((cx[0] - deployment.grid.origin_x_m) / target_m))
        iy[n] = int(np.floor((cy[0] - deployment.grid.origin_y_m) / target_m))
        problems.append(None)
    return ix, iy, problems


def log_cleanup(
    ctx: ProgramContext,
    stops: list[tuple[str, int]],
    finished: dt.datetime,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a finished clean-up as ``cleanup`` events on the stops' cells, all or nothing:
    half a clean-up would mislead the next plan."""
    store, deployment, principal = ctx.store, ctx.deployment, ctx.principal
    ix, iy, problems = stop_cells(deployment, [s for s, _ in stops])
    rejected = [
        {"index": n, "code": "invalid_stop", "detail": why} for n, why in enumerate(problems) if why
    ]
    if rejected:
        raise Unprocessable(
            "some stops are not stops from a plan; nothing was stored. See 'rejected'",
            code="batch_rejected",
            rejected=rejected,
        )
    check_finished_at(ctx, finished)
    n = len(stops)
    moments = pd.DatetimeIndex([pd.Timestamp(finished).tz_convert("UTC")] * n)
    bucket_start, bucket_hours = coarsen_times(moments, [EventKind.CLEANUP.value] * n, deployment)
    rows = EventRows(
        kind=[EventKind.CLEANUP.value] * n,
        cell_m=np.full(n, deployment.cell_m(EventKind.CLEANUP), dtype=np.int64),
        cell_ix=ix,
        cell_iy=iy,
        bucket_start=bucket_start,
        bucket_hours=bucket_hours,
        count=np.array([needles for _, needles in stops], dtype=np.int64),
        source=["peer"] * n,
        fatal=[None] * n,
        naloxone_doses=[None] * n,
        place_type=[None] * n,
    )
    # Like POST /v1/events: a clean-up in a period already released is kept for managers and
    # enters no release (a quarter made later included), so none can be slipped in afterwards.
    late = late_rows(store, deployment, principal.program_id, rows)
    held_back = []
    if late.any():
        rows = dataclasses.replace(rows, late=late)
        held_back = [
            {
                "index": int(i),
                "code": "period_already_published",
                "detail": "stored for managers; its month was already published, so it will "
                "not appear in what peers, planners or the public see",
            }
            for i in np.flatnonzero(late).tolist()
        ]
    fingerprint = hashlib.sha256(
        orjson.dumps([ix.tolist(), iy.tolist(), rows.count.tolist(), bucket_start.tolist()])
    ).hexdigest()
    tally = program_tally(store, deployment, principal.program_id)
    answer, replayed = run_batch(
        store,
        Sender(principal.program_id, principal.key_id, idempotency_key, all_or_nothing=True),
        Checked("cleanups", fingerprint, n, held_back=held_back),
        lambda record: store.store_events(record, rows, tally),
    )
    if not replayed:  # no rule watches clean-ups today; the hook says so cheaply
        after_batch(store, deployment, principal.program_id, set(rows.kind))
    return answer, replayed


def check_finished_at(ctx: ProgramContext, finished: dt.datetime) -> None:
    """The bounds POST /v1/events puts on ``observed_at``: peers log clean-ups from the
    program's grace window only (so none lands in a period that is, or is about to be,
    published), and no one logs one older than the retention period."""
    now = dt.datetime.now(dt.UTC)
    if not ctx.full_view:
        days = grace_days(ctx.store.publication(ctx.program_id))
        if finished < now - dt.timedelta(days=days):
            raise InvalidParameter(
                f"this key logs clean-ups from the last {days} days; older ones are imported "
                "by a manager or steward"
            )
    months = ctx.deployment.settings.retention_months
    retained = (pd.Timestamp(now) - pd.DateOffset(months=months)).to_pydatetime()
    if finished < retained:
        raise InvalidParameter(
            f"finished_at is older than the {months}-month retention period; such clean-ups "
            "are not kept"
        )
