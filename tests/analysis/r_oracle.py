"""R's ``surveillance::earsC`` as the EARS oracle, run through ``Rscript`` on temp CSV files.

earsC exposes only ``upperbound = mean + qnorm(1 - alpha) * max(sd, minSigma)``. Run at
``alpha = 0.5`` (``qnorm(0.5)`` is exactly 0) it gives the baseline mean; the difference to a
second run at ``alpha = 0.001``, divided by R's own ``qnorm(0.999)``, gives the floored sd.
R writes both with 17 significant digits, so nothing is lost on the way back.

Without Rscript or the package the tests skip, unless ``GEO_SERVICE_REQUIRE_R`` is set (as
``.ci/run`` does): then a missing R is an error, not a silent skip.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from analysis.ears import FloatArray

MISSING = (
    "no Rscript with the surveillance package: install Debian's r-cran-surveillance "
    "(apt-get install r-cran-surveillance) to run the EARS oracle; .ci/run does"
)
SECOND_ALPHA = 0.001

EARS_SCRIPT = r"""
args <- commandArgs(TRUE)
suppressPackageStartupMessages(library(surveillance))
m <- as.matrix(read.csv(args[1], header = FALSE))
dimnames(m) <- NULL
s <- sts(observed = m)
alpha <- as.numeric(args[2])
z <- qnorm(1 - alpha)
for (spec in args[-(1:3)]) {
  parts <- strsplit(spec, ":")[[1]]
  control <- list(method = parts[1], minSigma = as.numeric(parts[2]))
  zero <- upperbound(earsC(s, control = c(control, alpha = 0.5)))
  other <- upperbound(earsC(s, control = c(control, alpha = alpha)))
  out <- rbind(zero, (other - zero) / z)
  write.table(matrix(sprintf("%.17g", out), nrow = nrow(out)),
              file.path(args[3], paste0(parts[1], "_", parts[2], ".csv")),
              sep = ",", row.names = FALSE, col.names = FALSE, quote = FALSE)
}
"""

TIMING_SCRIPT = r"""
args <- commandArgs(TRUE)
suppressPackageStartupMessages(library(surveillance))
m <- as.matrix(read.csv(args[1], header = FALSE))
dimnames(m) <- NULL
s <- sts(observed = m)
for (method in c("C1", "C2", "C3")) {
  elapsed <- system.time(earsC(s, control = list(method = method, minSigma = 0.5)))
  cat(method, sprintf("%.6f", elapsed[["elapsed"]]), "\n")
}
"""


@functools.cache
def r_surveillance_available() -> bool:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return False
    probe = subprocess.run(
        [rscript, "-e", "suppressPackageStartupMessages(library(surveillance))"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def require_r() -> None:
    """Skip without R, unless CI asked for R (``GEO_SERVICE_REQUIRE_R``): then fail."""
    if r_surveillance_available():
        return
    if os.environ.get("GEO_SERVICE_REQUIRE_R"):
        raise RuntimeError(MISSING)  # a skip would hide the oracle
    pytest.skip(MISSING)


@dataclass(frozen=True)
class REars:
    """R's baseline mean and floored sd, NaN-padded to areas x days like ours."""

    expected: FloatArray
    sigma: FloatArray


def _run_r(script: str, matrix_days_by_areas: FloatArray, args: list[str]) -> str:
    rscript = shutil.which("Rscript")
    assert rscript is not None
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "counts.csv"
        np.savetxt(data, matrix_days_by_areas, delimiter=",", fmt="%.17g")
        code = Path(folder) / "script.R"
        code.write_text(script)
        done = subprocess.run(
            [rscript, str(code), str(data), *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"Rscript failed: {done.stderr[-2000:]}")
        return done.stdout


def r_ears(counts: FloatArray, specs: list[tuple[str, float]]) -> dict[tuple[str, float], REars]:
    """earsC's mean and floored sd for each (method, minSigma) on areas x days ``counts``."""
    days = counts.shape[1]
    first = {"C1": 7, "C2": 9}
    answers: dict[tuple[str, float], REars] = {}
    with tempfile.TemporaryDirectory() as out:
        spec_args = [f"{method}:{min_sigma!r}" for method, min_sigma in specs]
        _run_r(EARS_SCRIPT, counts.T, [repr(SECOND_ALPHA), out, *spec_args])
        for method, min_sigma in specs:
            table = np.loadtxt(Path(out) / f"{method}_{min_sigma!r}.csv", delimiter=",", ndmin=2)
            rows = days - first[method]
            expected = np.full(counts.shape, np.nan)
            sigma = np.full(counts.shape, np.nan)
            expected[:, first[method] :] = table[:rows].T
            sigma[:, first[method] :] = table[rows:].T
            answers[method, min_sigma] = REars(expected, sigma)
    return answers


def r_ears_seconds(counts: FloatArray) -> dict[str, float]:
    """earsC's own time (R's ``system.time``, reading the data excluded) per method."""
    lines = _run_r(TIMING_SCRIPT, counts.T, []).split("\n")
    return {name: float(value) for name, value in (ln.split() for ln in lines if ln.strip())}
