"""Emerging hot spots benchmark: 10,000 cells × 52 weeks, and Mann-Kendall against pymannkendall.

    .venv/bin/python bench/bench_emerging.py [--side 100] [--weeks 52] [--reference-cells N]

Times the whole analysis (space-time Gi* with a 250 m band and one previous week, FDR per
week, Mann-Kendall of every cell's z series, the 17 patterns) on a synthetic town with two
steady hot spots, one that emerges in the last 12 weeks and one that fades; then times our
Mann-Kendall on every cell against pymannkendall's ``original_test`` in a loop over cells
(``--reference-cells`` of them, scaled to all when fewer), and checks they agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.emerging import Pattern, find_emerging_hot_spots, mann_kendall  # noqa: E402

CELL_M = 125
BAND_M = 250.0


def town(side: int, weeks: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekly counts for ``side`` × ``side`` cells: a background and four kinds of spot."""
    rng = np.random.default_rng(seed)
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(side), np.arange(side)))
    rate = np.full((len(ix), weeks), 0.3)
    week = np.arange(weeks)
    spots = [  # (x, y, radius in cells, rate per week over time)
        (0.25, 0.25, 3, np.full(weeks, 3.0)),
        (0.70, 0.30, 2, np.full(weeks, 2.0)),
        (0.60, 0.75, 2, np.where(week >= weeks - 12, 4.0, 0.3)),  # emerging
        (0.20, 0.70, 2, np.linspace(4.0, 0.3, weeks)),  # fading
    ]
    for fx, fy, radius, over_time in spots:
        near = (ix - fx * side) ** 2 + (iy - fy * side) ** 2 <= radius**2
        rate[near] = over_time
    return ix, iy, rng.poisson(rate).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=100, help="cells per side")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--reference-cells", type=int, default=1_000)
    args = parser.parse_args()
    ix, iy, counts = town(args.side, args.weeks)
    cells = len(ix)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        found = find_emerging_hot_spots(ix, iy, counts, cell_m=CELL_M, distance_m=BAND_M)
        best = min(best, time.perf_counter() - began)
    print(f"emerging hot spots, {cells:,} cells x {args.weeks} weeks: {best:.3f} s (best of 3)")
    names, tally = np.unique(found.pattern, return_counts=True)
    tallies = (f"{Pattern(int(n)).name} {c}" for n, c in zip(names, tally, strict=True))
    print("  patterns: " + ", ".join(tallies))

    import pymannkendall

    began = time.perf_counter()
    ours = mann_kendall(found.gi.z)
    ours_s = time.perf_counter() - began
    rows = min(args.reference_cells, cells)
    began = time.perf_counter()
    theirs = [pymannkendall.original_test(found.gi.z[row]) for row in range(rows)]
    theirs_s = (time.perf_counter() - began) * cells / rows
    worst = max(abs(t.z - ours.z[row]) + abs(t.p - ours.p[row]) for row, t in enumerate(theirs))
    scaled = "" if rows == cells else f" (timed on {rows:,} cells, scaled)"
    print(f"Mann-Kendall, {cells:,} series: ours {ours_s:.3f} s, pymannkendall loop "
          f"{theirs_s:.2f} s{scaled}: {theirs_s / ours_s:.0f}x; "
          f"largest |dz| + |dp| {worst:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
