from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.neighbors import KernelDensity

from analysis.density import DensityError, kernel_density
from analysis.grid import count_in_grid
from tests.analysis.conftest import Snapped, full_rectangle


@pytest.mark.parametrize("bandwidth_m", [60.0, 250.0, 800.0])
def test_density_equals_scikit_learn_kernel_density(boston: Snapped, bandwidth_m: float) -> None:
    cells = boston.cells
    out_ix, out_iy, _ = full_rectangle(cells)
    ours = kernel_density(cells, out_ix, out_iy, bandwidth_m=bandwidth_m)

    def centres(ix: npt.NDArray[np.int64], iy: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return np.column_stack([ix, iy]).astype(np.float64) * 125.0 + 62.5

    model = KernelDensity(bandwidth=bandwidth_m, kernel="gaussian")
    model.fit(centres(cells.ix, cells.iy), sample_weight=cells.count)
    theirs = np.exp(model.score_samples(centres(out_ix, out_iy))) * cells.total * 1e6
    busy = theirs > 1e-3 * theirs.max()  # in the far tails only absolute error means much
    assert np.max(np.abs(ours[busy] - theirs[busy]) / theirs[busy]) < 1e-9
    assert np.max(np.abs(ours - theirs)) < 1e-9 * theirs.max()


def test_density_keeps_the_number_of_events() -> None:
    cells = count_in_grid([0, 3, 3], [0, 1, 1], [4, 2, 5], cell_m=100)
    gx, gy = (a.ravel() for a in np.meshgrid(np.arange(-30, 34), np.arange(-30, 32)))
    per_km2 = kernel_density(cells, gx, gy, bandwidth_m=150.0)
    cell_km2 = (100 / 1000) ** 2
    assert per_km2.sum() * cell_km2 == pytest.approx(11, rel=1e-6)


def test_density_peaks_on_the_busy_cell_and_falls_off_with_distance() -> None:
    cells = count_in_grid([5], [5], [7], cell_m=125)
    d = kernel_density(cells, [5, 6, 7, 5], [5, 5, 5, 8], bandwidth_m=200.0)
    assert d[0] > d[1] > d[2] > d[3] > 0


@pytest.mark.parametrize("bandwidth_m", [0.0, -10.0, float("inf"), float("nan")])
def test_bad_bandwidth_is_refused(bandwidth_m: float) -> None:
    cells = count_in_grid([0], [0], [1], cell_m=125)
    with pytest.raises(DensityError, match="bandwidth"):
        kernel_density(cells, [0], [0], bandwidth_m=bandwidth_m)
