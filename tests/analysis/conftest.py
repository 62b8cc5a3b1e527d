"""Real data for the analysis tests: Boston's 2015 needle pick-ups on a 125 m grid."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from analysis.grid import CellCounts, Grid, IntArray, count_in_grid, snap_to_cells
from analysis.projection import to_metres, utm_crs_for
from tests.conftest import SHARED_DATA

GRID = Grid(origin_x_m=0.0, origin_y_m=0.0, base_cell_m=125)


@dataclass(frozen=True)
class Snapped:
    """Each pick-up's cell and neighbourhood, and the counts per cell."""

    ix: IntArray
    iy: IntArray
    neighbourhood: pd.Series
    cells: CellCounts


@pytest.fixture(scope="session")
def boston() -> Snapped:
    frame = pd.read_csv(SHARED_DATA / "boston_needle_pickups_2015.csv")
    lon, lat = frame["longitude"].to_numpy(), frame["latitude"].to_numpy()
    x, y = to_metres(lon, lat, crs=utm_crs_for(float(lon.mean()), float(lat.mean())))
    ix, iy = snap_to_cells(x, y, grid=GRID, cell_m=125)
    cells = count_in_grid(ix, iy, np.ones(len(ix), dtype=np.int64), cell_m=125)
    return Snapped(ix, iy, frame["neighborhood"], cells)


def full_rectangle(cells: CellCounts) -> tuple[IntArray, IntArray, IntArray]:
    """Every cell of the bounding rectangle of ``cells`` (empty ones too) and its count."""
    xs = np.arange(cells.ix.min(), cells.ix.max() + 1)
    ys = np.arange(cells.iy.min(), cells.iy.max() + 1)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    count = np.zeros(len(gx), dtype=np.int64)
    where = (cells.iy - ys[0]) * len(xs) + (cells.ix - xs[0])
    count[where] = cells.count
    return gx, gy, count
