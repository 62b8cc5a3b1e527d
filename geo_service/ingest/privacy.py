"""Blur at ingest (DESIGN.md §4.1-4.2): snap to the kind's grid cell, coarsen time.

Only the outputs of these functions are ever stored; the raw floats and timestamps stay in
the request's memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.grid import snap_positions_to_cells
from analysis.projection import to_metres
from geo_service.deployment import Deployment
from geo_service.settings import EventKind

IntArray = npt.NDArray[np.int64]


def blur_locations(
    lon: npt.ArrayLike, lat: npt.ArrayLike, kinds: npt.ArrayLike, deployment: Deployment
) -> tuple[IntArray, IntArray, IntArray]:
    """Return ``(cell_m, cell_ix, cell_iy)``: each point's cell at its kind's cell size.

    Positions are taken to the millimetre before snapping (the phone's ``grid.js`` does the
    same), so a square chosen on the phone is the square this gives."""
    kind_arr = np.asarray(kinds, dtype=object)
    x, y = to_metres(lon, lat, crs=deployment.crs)
    cell_m = np.zeros(len(kind_arr), dtype=np.int64)
    ix = np.zeros(len(kind_arr), dtype=np.int64)
    iy = np.zeros(len(kind_arr), dtype=np.int64)
    for kind in EventKind:
        mask = kind_arr == kind.value
        if not mask.any():
            continue
        size = deployment.cell_m(kind)
        ix[mask], iy[mask] = snap_positions_to_cells(
            x[mask], y[mask], grid=deployment.grid, cell_m=size
        )
        cell_m[mask] = size
    return cell_m, ix, iy


def coarsen_times(
    observed_utc: pd.DatetimeIndex, kinds: npt.ArrayLike, deployment: Deployment
) -> tuple[IntArray, IntArray]:
    """Return ``(bucket_start, bucket_hours)``: each event's bucket start in UTC epoch seconds.

    Buckets are aligned to local wall-clock time (an overdose at 01:30 local falls in the
    00:00-06:00 block), because that is what opening hours and people's days follow.
    """
    kind_arr = np.asarray(kinds, dtype=object)
    utc_s = observed_utc.as_unit("s").asi8
    local = observed_utc.tz_convert(deployment.tz).tz_localize(None).as_unit("s").asi8
    offset_s = local - utc_s
    hours = np.zeros(len(kind_arr), dtype=np.int64)
    for kind in EventKind:
        hours[kind_arr == kind.value] = deployment.bucket_hours(kind)
    if (hours == 0).any():
        raise ValueError("every event needs a known kind before its time is coarsened")
    width = hours * 3600
    start = utc_s - np.mod(utc_s + offset_s, width)
    return start, hours
