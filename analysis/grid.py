"""The deployment grid: square cells of ``base × 2**k`` metres on one projected CRS.

Every cell size shares one origin, so a cell of size ``s`` lies wholly inside exactly one
cell of size ``2s``: counts roll up exactly (DESIGN.md §4.1). Cells are named by integer
column/row indices ``(ix, iy)`` counted from the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class GridError(ValueError):
    """A grid parameter is invalid (cell size not base × 2**k, non-positive base)."""


@dataclass(frozen=True)
class Grid:
    """Origin and base cell size of the deployment grid, in projected metres.

    Examples
    --------
    >>> grid = Grid(origin_x_m=0.0, origin_y_m=0.0, base_cell_m=125)
    >>> grid.check_cell_size(500)
    >>> grid.levels_between(125, 500)
    2
    """

    origin_x_m: float
    origin_y_m: float
    base_cell_m: int

    def __post_init__(self) -> None:
        if self.base_cell_m <= 0:
            raise GridError("the base cell size must be a positive number of metres")

    def check_cell_size(self, cell_m: int) -> None:
        """Raise :class:`GridError` unless ``cell_m`` is ``base × 2**k`` for some k ≥ 0."""
        ratio, rest = divmod(cell_m, self.base_cell_m)
        if cell_m <= 0 or rest != 0 or ratio & (ratio - 1) != 0:
            raise GridError(
                f"cell size {cell_m} m is not the base size {self.base_cell_m} m times a power "
                "of two; cells of other sizes would not roll up exactly"
            )

    def levels_between(self, fine_m: int, coarse_m: int) -> int:
        """How many doublings lead from ``fine_m`` to ``coarse_m``."""
        self.check_cell_size(fine_m)
        self.check_cell_size(coarse_m)
        if coarse_m < fine_m:
            raise GridError("the coarse cell must not be smaller than the fine cell")
        return (coarse_m // fine_m).bit_length() - 1


def snap_to_cells(
    x_m: npt.ArrayLike, y_m: npt.ArrayLike, *, grid: Grid, cell_m: int
) -> tuple[IntArray, IntArray]:
    """Return the ``(ix, iy)`` of the cell of size ``cell_m`` holding each point.

    A point on a cell's lower or left edge belongs to that cell (half-open cells), so every
    point has exactly one cell.

    Examples
    --------
    >>> grid = Grid(origin_x_m=0.0, origin_y_m=0.0, base_cell_m=125)
    >>> ix, iy = snap_to_cells([10.0, 130.0], [-1.0, 250.0], grid=grid, cell_m=125)
    >>> ix.tolist(), iy.tolist()
    ([0, 1], [-1, 2])
    """
    grid.check_cell_size(cell_m)
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    return _cell_index(x, grid.origin_x_m, cell_m), _cell_index(y, grid.origin_y_m, cell_m)


def _cell_index(v: FloatArray, origin: float, cell_m: int) -> IntArray:
    # The division can round across a cell edge (or underflow a tiny negative offset to
    # -0.0), so nudge the index until the point lies inside the bounds ``cell_bounds`` gives.
    i = np.floor((v - origin) / cell_m).astype(np.int64)
    i -= v < origin + i.astype(np.float64) * cell_m
    i += v >= origin + (i + 1).astype(np.float64) * cell_m
    return i


def cell_bounds(
    ix: npt.ArrayLike, iy: npt.ArrayLike, *, grid: Grid, cell_m: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return ``(xmin, ymin, xmax, ymax)`` arrays of the given cells in projected metres."""
    xmin = grid.origin_x_m + np.asarray(ix, dtype=np.float64) * cell_m
    ymin = grid.origin_y_m + np.asarray(iy, dtype=np.float64) * cell_m
    return xmin, ymin, xmin + cell_m, ymin + cell_m


def cell_centres(
    ix: npt.ArrayLike, iy: npt.ArrayLike, *, grid: Grid, cell_m: int
) -> tuple[FloatArray, FloatArray]:
    """Return the centre ``(x, y)`` of the given cells in projected metres."""
    xmin, ymin, _, _ = cell_bounds(ix, iy, grid=grid, cell_m=cell_m)
    half = cell_m / 2.0
    return xmin + half, ymin + half


def roll_up(ix: npt.ArrayLike, iy: npt.ArrayLike, *, levels: int) -> tuple[IntArray, IntArray]:
    """Return the indices of the parent cells ``levels`` doublings coarser.

    Floor division keeps negative indices right: cell -1 at 125 m lies in cell -1 at 250 m.

    Examples
    --------
    >>> ix, iy = roll_up([0, 1, 2, -1], [3, 3, 3, -2], levels=1)
    >>> ix.tolist(), iy.tolist()
    ([0, 0, 1, -1], [1, 1, 1, -1])
    """
    if levels < 0:
        raise GridError("levels must be zero or more")
    factor = 1 << levels
    return (
        np.floor_divide(np.asarray(ix, dtype=np.int64), factor),
        np.floor_divide(np.asarray(iy, dtype=np.int64), factor),
    )
