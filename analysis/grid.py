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


def round_to_mm(v_m: npt.ArrayLike) -> FloatArray:
    """Projected metres rounded to the millimetre, half up: ``floor(v * 1000 + 0.5) / 1000``.

    Each step is one IEEE double operation, the same ones the phone's ``grid.js`` runs, so
    both give the same bits for the same input.

    Examples
    --------
    >>> round_to_mm([124.9995, 124.99949, -0.0005]).tolist()
    [125.0, 124.999, 0.0]
    """
    v = np.asarray(v_m, dtype=np.float64)
    rounded: FloatArray = np.floor(v * 1000.0 + 0.5) / 1000.0
    return rounded


def snap_positions_to_cells(
    x_m: npt.ArrayLike, y_m: npt.ArrayLike, *, grid: Grid, cell_m: int
) -> tuple[IntArray, IntArray]:
    """Return the cell of each projected *position* (an event's place, not a cell's corner).

    A position is taken to the millimetre first, so the phone and the server agree at a
    border: a last-bit difference between two projection codes cannot move a point across
    a cell edge, because the edges (whole metres from the origin) lie half a millimetre from
    any rounding step. Then :func:`snap_to_cells`, exactly.

    Examples
    --------
    >>> grid = Grid(origin_x_m=0.0, origin_y_m=0.0, base_cell_m=125)
    >>> ix, iy = snap_positions_to_cells([124.9996, 124.9994], [0.0, 0.0], grid=grid, cell_m=125)
    >>> ix.tolist()
    [1, 0]
    """
    return snap_to_cells(round_to_mm(x_m), round_to_mm(y_m), grid=grid, cell_m=cell_m)


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


@dataclass(frozen=True)
class CellCounts:
    """Events summed per cell of one size: one row per non-empty cell, sorted by ``(iy, ix)``.

    ``first_start`` and ``last_end`` bound, in UTC epoch seconds, the time buckets of the
    events counted in each cell.
    """

    cell_m: int
    ix: IntArray
    iy: IntArray
    count: IntArray
    first_start: IntArray
    last_end: IntArray

    def __len__(self) -> int:
        return len(self.ix)

    @property
    def total(self) -> int:
        return int(self.count.sum())


def count_in_grid(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    count: npt.ArrayLike,
    *,
    cell_m: int,
    levels: int = 0,
    first_start: npt.ArrayLike | None = None,
    last_end: npt.ArrayLike | None = None,
) -> CellCounts:
    """Sum events (or already-summed cells) into cells ``levels`` doublings coarser.

    The input cells are of size ``cell_m / 2**levels``; ``cell_m`` is the size of the result.
    Rows may repeat a cell; empty counts are dropped.

    Examples
    --------
    >>> cells = count_in_grid([0, 1, 1, 5], [0, 0, 0, 0], [1, 2, 3, 0], cell_m=250, levels=1)
    >>> cells.ix.tolist(), cells.iy.tolist(), cells.count.tolist()
    ([0], [0], [6])
    """
    px, py = roll_up(ix, iy, levels=levels)
    weight = np.asarray(count, dtype=np.int64)
    if not (len(px) == len(py) == len(weight)):
        raise GridError("ix, iy and count must have the same length")
    if np.any(weight < 0):
        raise GridError("counts must not be negative")
    n = len(px)
    starts = np.zeros(n, np.int64) if first_start is None else np.asarray(first_start, np.int64)
    ends = np.zeros(n, np.int64) if last_end is None else np.asarray(last_end, np.int64)
    keep = weight > 0
    px, py, weight, starts, ends = px[keep], py[keep], weight[keep], starts[keep], ends[keep]
    if len(px) == 0:
        empty = np.zeros(0, np.int64)
        return CellCounts(cell_m, empty, empty, empty, empty, empty)
    order = np.lexsort((px, py))
    px, py, weight, starts, ends = px[order], py[order], weight[order], starts[order], ends[order]
    new_cell = np.ones(len(px), dtype=bool)
    new_cell[1:] = (px[1:] != px[:-1]) | (py[1:] != py[:-1])
    first = np.flatnonzero(new_cell)
    return CellCounts(
        cell_m=cell_m,
        ix=px[first],
        iy=py[first],
        count=np.add.reduceat(weight, first),
        first_start=np.minimum.reduceat(starts, first),
        last_end=np.maximum.reduceat(ends, first),
    )


@dataclass(frozen=True)
class Raster:
    """A rectangle of cells holding a set of cells, for neighbourhood sums by array shifts."""

    ix0: int
    iy0: int
    nx: int
    ny: int

    @classmethod
    def around(cls, ix: IntArray, iy: IntArray) -> Raster:
        if len(ix) == 0:
            raise GridError("a raster needs at least one cell")
        ix0, iy0 = int(ix.min()), int(iy.min())
        return cls(ix0, iy0, int(ix.max()) - ix0 + 1, int(iy.max()) - iy0 + 1)

    def paint(self, ix: IntArray, iy: IntArray, values: npt.ArrayLike) -> FloatArray:
        """A ``(ny, nx)`` array, zero except ``values`` at the given cells."""
        out = np.zeros((self.ny, self.nx), dtype=np.float64)
        out[iy - self.iy0, ix - self.ix0] = values
        return out

    def read(self, array: FloatArray, ix: IntArray, iy: IntArray) -> FloatArray:
        return array[iy - self.iy0, ix - self.ix0]


def disk_offsets(distance_m: float, cell_m: int) -> list[tuple[int, int]]:
    """Rows of the disk of cells whose centres lie within ``distance_m`` of a cell's centre.

    Each row is ``(dy, half_width)``: offsets ``-half_width..half_width`` in x are inside.

    Examples
    --------
    >>> disk_offsets(250.0, 125)
    [(-2, 0), (-1, 1), (0, 2), (1, 1), (2, 0)]
    """
    reach = int(distance_m // cell_m)
    limit = distance_m * distance_m
    rows = []
    for dy in range(-reach, reach + 1):
        half = reach
        while half > 0 and (half * half + dy * dy) * cell_m * cell_m > limit:
            half -= 1
        if (half * half + dy * dy) * cell_m * cell_m <= limit:
            rows.append((dy, half))
    return rows


def disk_sum(values: FloatArray, offsets: list[tuple[int, int]]) -> FloatArray:
    """Sum of ``values`` over each cell's disk (from :func:`disk_offsets`), zero outside.

    Runs one shifted difference of row-wise cumulative sums per disk row, so the cost is
    ``cells × disk rows`` whatever the disk's area; integer-valued input sums exactly.

    Examples
    --------
    >>> disk_sum(np.eye(3), disk_offsets(125.0, 125)).tolist()
    [[1.0, 2.0, 0.0], [2.0, 1.0, 2.0], [0.0, 2.0, 1.0]]
    """
    ny, nx = values.shape
    reach = max(abs(dy) for dy, _ in offsets)
    widest = max(half for _, half in offsets)
    padded = np.zeros((ny + 2 * reach, nx + 2 * widest + 1), dtype=np.float64)
    padded[reach : reach + ny, widest + 1 : widest + 1 + nx] = values
    running = np.cumsum(padded, axis=1)
    out = np.zeros((ny, nx), dtype=np.float64)
    for dy, half in offsets:
        band = running[reach + dy : reach + dy + ny]
        out += band[:, widest + 1 + half : widest + 1 + half + nx]
        out -= band[:, widest - half : widest - half + nx]
    return out
