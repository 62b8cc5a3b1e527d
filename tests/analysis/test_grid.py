from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.grid import (
    Grid,
    GridError,
    cell_bounds,
    cell_centres,
    count_in_grid,
    disk_offsets,
    disk_sum,
    roll_up,
    snap_to_cells,
)

GRID = Grid(origin_x_m=0.0, origin_y_m=0.0, base_cell_m=125)
coords = st.floats(min_value=-1e7, max_value=1e7, allow_nan=False, allow_infinity=False)
levels = st.integers(min_value=0, max_value=6)


def test_known_cells_including_edges_and_negatives() -> None:
    ix, iy = snap_to_cells(
        [0.0, 124.999, 125.0, -0.001, 250.0], [0.0, 0.0, 0.0, -125.0, 249.9], grid=GRID, cell_m=125
    )
    assert ix.tolist() == [0, 0, 1, -1, 2]
    assert iy.tolist() == [0, 0, 0, -1, 1]


def test_offset_origin_shifts_cells() -> None:
    grid = Grid(origin_x_m=100.0, origin_y_m=-50.0, base_cell_m=125)
    ix, iy = snap_to_cells([100.0, 99.0], [-50.0, 75.0], grid=grid, cell_m=125)
    assert ix.tolist() == [0, -1]
    assert iy.tolist() == [0, 1]


@pytest.mark.parametrize("size", [0, 100, 375, 62, -125])
def test_cell_sizes_must_be_base_times_power_of_two(size: int) -> None:
    with pytest.raises(GridError):
        GRID.check_cell_size(size)


def test_levels_between() -> None:
    assert GRID.levels_between(125, 1000) == 3
    with pytest.raises(GridError):
        GRID.levels_between(250, 125)


@given(coords, coords, levels)
def test_snapping_keeps_the_point_inside_its_cell(x: float, y: float, k: int) -> None:
    size = 125 * 2**k
    ix, iy = snap_to_cells([x], [y], grid=GRID, cell_m=size)
    xmin, ymin, xmax, ymax = cell_bounds(ix, iy, grid=GRID, cell_m=size)
    assert xmin[0] <= x < xmax[0]
    assert ymin[0] <= y < ymax[0]


@given(coords, coords, levels)
def test_snapping_is_deterministic_and_idempotent(x: float, y: float, k: int) -> None:
    size = 125 * 2**k
    first = snap_to_cells([x], [y], grid=GRID, cell_m=size)
    again = snap_to_cells([x], [y], grid=GRID, cell_m=size)
    cx, cy = cell_centres(*first, grid=GRID, cell_m=size)
    blurred_again = snap_to_cells(cx, cy, grid=GRID, cell_m=size)
    assert [a.tolist() for a in first] == [a.tolist() for a in again]
    assert [a.tolist() for a in first] == [a.tolist() for a in blurred_again]


@given(coords, coords, levels, st.integers(min_value=0, max_value=4))
def test_fine_cells_roll_up_exactly_into_coarse_cells(x: float, y: float, k: int, up: int) -> None:
    fine = 125 * 2**k
    coarse = fine * 2**up
    fine_ix, fine_iy = snap_to_cells([x], [y], grid=GRID, cell_m=fine)
    direct = snap_to_cells([x], [y], grid=GRID, cell_m=coarse)
    rolled = roll_up(fine_ix, fine_iy, levels=up)
    assert [a.tolist() for a in rolled] == [a.tolist() for a in direct]


@given(
    st.lists(st.tuples(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6)), max_size=50),
    st.integers(1, 5),
)
def test_roll_up_preserves_counts(cells: list[tuple[int, int]], up: int) -> None:
    ix = np.array([c[0] for c in cells], dtype=np.int64)
    iy = np.array([c[1] for c in cells], dtype=np.int64)
    px, py = roll_up(ix, iy, levels=up)
    parents: dict[tuple[int, int], int] = {}
    for key in zip(px.tolist(), py.tolist(), strict=True):
        parents[key] = parents.get(key, 0) + 1
    assert sum(parents.values()) == len(cells)


@pytest.mark.parametrize("x", [-5e-324, -1e-300, np.nextafter(125.0, 0.0), np.nextafter(0.0, -1.0)])
def test_points_a_hair_from_an_edge_still_land_in_their_cell(x: float) -> None:
    ix, _ = snap_to_cells([x], [0.0], grid=GRID, cell_m=125)
    xmin, _, xmax, _ = cell_bounds(ix, [0], grid=GRID, cell_m=125)
    assert xmin[0] <= x < xmax[0]


events = st.lists(
    st.tuples(st.integers(-500, 500), st.integers(-500, 500), st.integers(0, 20)),
    min_size=0,
    max_size=80,
)


@given(events, st.integers(0, 4), st.randoms(use_true_random=False))
def test_grid_counts_sum_to_the_events_whatever_their_order(
    rows: list[tuple[int, int, int]], up: int, shuffler: random.Random
) -> None:
    ix, iy, count = (np.array([r[i] for r in rows], dtype=np.int64) for i in range(3))
    cells = count_in_grid(ix, iy, count, cell_m=125 * 2**up, levels=up)
    assert cells.total == int(count.sum())
    assert (cells.count > 0).all()
    assert len(set(zip(cells.ix.tolist(), cells.iy.tolist(), strict=True))) == len(cells)
    shuffled = rows[:]
    shuffler.shuffle(shuffled)
    sx, sy, sc = (np.array([r[i] for r in shuffled], dtype=np.int64) for i in range(3))
    again = count_in_grid(sx, sy, sc, cell_m=125 * 2**up, levels=up)
    assert again.ix.tolist() == cells.ix.tolist() and again.count.tolist() == cells.count.tolist()


def test_grid_counts_keep_the_time_span_of_each_cell() -> None:
    cells = count_in_grid(
        [0, 1, 4],
        [0, 0, 0],
        [1, 2, 3],
        cell_m=250,
        levels=1,
        first_start=[100, 50, 7],
        last_end=[200, 90, 9],
    )
    assert cells.ix.tolist() == [0, 2]
    assert cells.first_start.tolist() == [50, 7] and cells.last_end.tolist() == [200, 9]


@pytest.mark.parametrize("distance_m", [100.0, 125.0, 180.0, 250.0, 400.0, 1000.0])
def test_disk_sums_equal_a_brute_force_neighbourhood_sum(distance_m: float) -> None:
    rng = np.random.default_rng(2)
    values = rng.integers(0, 5, (17, 23)).astype(float)
    got = disk_sum(values, disk_offsets(distance_m, 125))
    yy, xx = np.mgrid[0:17, 0:23]
    want = np.zeros_like(values)
    for y in range(17):
        for x in range(23):
            near = np.hypot(xx - x, yy - y) * 125 <= distance_m
            want[y, x] = values[near].sum()
    assert got.tolist() == want.tolist()
