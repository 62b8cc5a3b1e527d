"""Space-time permutation scan benchmark: 999 shuffles on a year of a demo-sized town.

    .venv/bin/python bench/bench_stscan.py [--events 5000] [--permutations 999]

The town is built here the way geo_service/demo.py builds its own (hot spots with a normal
spread around fixed places, one emerging in the last six months, the rest spread over a
6 × 5 km rectangle), on 100 m cells, with a 24-hour burst planted on the last day. The
scan runs with its defaults (windows of up to 7 days, circles of up to 500 m). The peer is
the plain-loop enumeration the tests use, timed with ours on a smaller input with the same
shuffles, and the ratio printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.stscan import ScanLimits, space_time_scan  # noqa: E402
from tests.analysis.test_stscan import brute_force_llrs  # noqa: E402

CELL_M = 100
DAYS = 365
# (east m, north m, spread m, weight, first day): the demo town's places
HOT_SPOTS = (
    (0, 0, 90, 1.0, 0),
    (-650, 420, 110, 0.7, 0),
    (300, 900, 120, 0.5, 0),
    (900, -500, 80, 1.2, DAYS - 180),
)


def town(events: int, seed: int = 20_240_501) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = np.array([spot[3] for spot in HOT_SPOTS] + [4.0])
    which = rng.choice(len(weights), size=events, p=weights / weights.sum())
    east = rng.uniform(-3000, 3000, events)
    north = rng.uniform(-2500, 2500, events)
    first = np.zeros(events, dtype=np.int64)
    for k, (x, y, spread, _, starts) in enumerate(HOT_SPOTS):
        mask = which == k
        east[mask] = x + rng.normal(0, spread, mask.sum())
        north[mask] = y + rng.normal(0, spread, mask.sum())
        first[mask] = starts
    day = first + rng.integers(0, DAYS - first)
    burst = 9  # overdoses near the rail yard on the last day
    east = np.r_[east, 1500 + rng.normal(0, 60, burst)]
    north = np.r_[north, -1200 + rng.normal(0, 60, burst)]
    day = np.r_[day, np.full(burst, DAYS - 1)]
    return np.floor(east / CELL_M).astype(int), np.floor(north / CELL_M).astype(int), day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--permutations", type=int, default=999)
    args = parser.parse_args()
    ix, iy, day = town(args.events)
    cells = len(set(zip(ix.tolist(), iy.tolist(), strict=True)))
    began, cpu = time.perf_counter(), time.process_time()
    found = space_time_scan(ix, iy, day, cell_m=CELL_M, permutations=args.permutations, seed=1)
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    print(f"scan, {len(ix):,} events over {cells:,} cells and {DAYS} days, "
          f"{args.permutations} shuffles: {took:.2f} s ({cpu:.2f} s of CPU)")  # fmt: skip
    for cluster in found.clusters[:3]:
        print(f"  {len(cluster.cells)} cells, r = {cluster.radius_m:.0f} m, last {cluster.days} "
              f"days: {cluster.observed} observed / {cluster.expected:.2f} expected, "
              f"LLR {cluster.llr:.2f}, p = {cluster.p:.3f}, "
              f"once in {cluster.recurrence_interval:.0f} days")  # fmt: skip

    # The peer: plain loops over every cylinder, for the data and each shuffle.
    small_x, small_y, small_day = (a[:: max(1, len(a) // 300)] for a in town(args.events, 7))
    limits, shuffles, last = ScanLimits(max_days=7, max_radius_m=300.0), 9, int(small_day.max())
    began = time.perf_counter()
    ours = space_time_scan(
        small_x, small_y, small_day, cell_m=CELL_M, limits=limits, permutations=shuffles, seed=2
    )
    ours_s = time.perf_counter() - began
    rng = np.random.default_rng(2)
    began = time.perf_counter()
    best = max(brute_force_llrs(small_x, small_y, small_day, limits, last).values())
    null = [
        max(brute_force_llrs(small_x, small_y, rng.permutation(small_day), limits, last).values())
        for _ in range(shuffles)
    ]
    loops_s = time.perf_counter() - began
    agree = abs(best - ours.clusters[0].llr) < 1e-9 and np.allclose(null, ours.null_max_llr)
    print(f"vs plain-loop enumeration, {len(small_x)} events, {shuffles} shuffles: "
          f"ours {ours_s:.3f} s, loops {loops_s:.2f} s: {loops_s / ours_s:.0f}x; "
          f"agree: {agree}")  # fmt: skip


if __name__ == "__main__":
    main()
