"""Spike detection speed: EARS C1/C2/C3 against R's earsC, and ESSENCE's EWMA.

    .venv/bin/python bench/bench_ears.py [--areas 1000] [--days 730] [--repeat 5]

Data: ``--areas`` synthetic daily series of ``--days`` days (two years by default), Poisson
counts at rates from 0.05 to 8 a day with a planted three-day spike in every tenth area.

Printed: ours (best of ``--repeat``) and R's ``surveillance::earsC`` on the same data in the
same run (R's own ``system.time`` of the call, reading the data excluded), and the ratio;
EWMA (0.4 and 0.9) over the whole history; and what issue 19 asks of rules evaluated on
ingest (<= 50 ms per batch for a program with 2 years of data): the time to judge the last
day of every area, each method from the days it needs (``HISTORY_DAYS``,
``ewma_history_days()``: the same answer as from the whole history). The R column needs
Rscript with r-cran-surveillance; without it the column is skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.ears import HISTORY_DAYS, FloatArray, Method, detect_ears  # noqa: E402
from analysis.ewma import detect_ewma, ewma_history_days  # noqa: E402
from tests.analysis.r_oracle import r_ears_seconds, r_surveillance_available  # noqa: E402

METHODS: list[Method] = ["C1", "C2", "C3"]
INGEST_BUDGET_S = 0.050


def synthetic_counts(areas: int, days: int, seed: int = 19) -> FloatArray:
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.05, 8.0, size=areas)
    counts = rng.poisson(rates[:, np.newaxis], size=(areas, days)).astype(np.float64)
    for area in range(0, areas, 10):
        start = int(rng.integers(0, days - 3))
        counts[area, start : start + 3] += rng.poisson(3 * rates[area] + 4, size=3)
    return counts


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--areas", type=int, default=1000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    counts = synthetic_counts(options.areas, options.days)
    print(f"{options.areas} areas x {options.days} days, best of {options.repeat}")

    theirs = r_ears_seconds(counts) if r_surveillance_available() else {}
    print("\nwhole history      ours (s)    R earsC (s)   R / ours")
    for method in METHODS:
        ours = best_of(options.repeat, partial(detect_ears, counts, method=method))
        if method in theirs:
            ratio = theirs[method] / ours
            print(f"EARS {method}        {ours:9.4f}    {theirs[method]:11.3f}   {ratio:8.1f}x")
        else:
            print(f"EARS {method}        {ours:9.4f}    (no R)")
    ewma = best_of(options.repeat, partial(detect_ewma, counts))
    print(f"EWMA 0.4 + 0.9   {ewma:9.4f}")

    print(f"\nlast day of every area (budget {INGEST_BUDGET_S * 1000:.0f} ms per batch)")
    total = 0.0
    for method in METHODS:
        tail = counts[:, -HISTORY_DAYS[method] :]
        spent = best_of(options.repeat, partial(detect_ears, tail, method=method))
        total += spent
        print(f"EARS {method} from {HISTORY_DAYS[method]} days   {spent * 1000:8.2f} ms")
    history = counts[:, -ewma_history_days() :]
    spent = best_of(options.repeat, partial(detect_ewma, history, last_days=1))
    total += spent
    print(f"EWMA from {history.shape[1]} days    {spent * 1000:8.2f} ms")
    verdict = "within" if total <= INGEST_BUDGET_S else "OVER"
    print(f"all four rules      {total * 1000:8.2f} ms  ({verdict} the budget)")


if __name__ == "__main__":
    main()
