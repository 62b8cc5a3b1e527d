"""The blur's tie rule: a projected position is taken to the millimetre, then snapped."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.grid import Grid, cell_bounds, round_to_mm, snap_positions_to_cells, snap_to_cells

GRID = Grid(origin_x_m=10.25, origin_y_m=-3.5, base_cell_m=125)
metres = st.floats(min_value=-2e7, max_value=2e7, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(
    ("v", "want"),
    [(0.0, 0.0), (1.0004, 1.0), (1.0005, 1.001), (-1.0005, -1.0), (-1.0006, -1.001)],
)
def test_known_roundings_half_up(v: float, want: float) -> None:
    assert round_to_mm([v])[0] == want


@given(metres)
def test_rounding_moves_a_position_at_most_half_a_millimetre_and_is_idempotent(v: float) -> None:
    once = round_to_mm([v])
    assert abs(once[0] - v) <= 0.0005 + 1e-9
    assert round_to_mm(once)[0] == once[0]


@given(metres, metres, st.sampled_from([125, 250, 500]))
def test_a_position_snaps_as_its_millimetre_does(x: float, y: float, size: int) -> None:
    got = snap_positions_to_cells([x], [y], grid=GRID, cell_m=size)
    want = snap_to_cells(round_to_mm([x]), round_to_mm([y]), grid=GRID, cell_m=size)
    assert (got[0][0], got[1][0]) == (want[0][0], want[1][0])


@given(st.integers(-50_000, 50_000), st.integers(-50_000, 50_000))
def test_a_position_within_half_a_millimetre_of_an_edge_takes_the_cell_above(
    ix: int, iy: int
) -> None:
    xmin, ymin, _, _ = cell_bounds([ix], [iy], grid=GRID, cell_m=125)
    for gap in (0.0, 1e-7, 0.0004):
        got = snap_positions_to_cells(xmin - gap, ymin - gap, grid=GRID, cell_m=125)
        assert (int(got[0][0]), int(got[1][0])) == (ix, iy)
    lower = snap_positions_to_cells(xmin - 0.0006, ymin - 0.0006, grid=GRID, cell_m=125)
    assert (int(lower[0][0]), int(lower[1][0])) == (ix - 1, iy - 1)
    # Metre inputs to snap_to_cells stay exact: no rounding there.
    exact = snap_to_cells(xmin - 1e-7, ymin - 1e-7, grid=GRID, cell_m=125)
    assert (int(exact[0][0]), int(exact[1][0])) == (ix - 1, iy - 1)


def test_rounding_keeps_arrays_and_their_shape() -> None:
    out = round_to_mm(np.array([[1.23456, 2.0]]))
    assert out.shape == (1, 2) and out.tolist() == [[1.235, 2.0]]
