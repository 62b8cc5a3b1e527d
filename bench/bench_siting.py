"""Locker siting: ours (HiGHS via scipy.optimize.milp, reduced program) against spopt's
MCLP.from_cost_matrix with PuLP's CBC, side by side in one run.

Instances: demand cells on a 100 m grid with clustered event counts, candidates scattered at
random, a 10-minute walk (750 m) as the radius, p = 10:
  2,000 demand cells x 500 candidates, and 10,000 x 1,000.
Target: the 10,000 x 1,000 instance answered in <= 10 s with a reported gap <= 1 %.

Run: .venv/bin/python bench/bench_siting.py [--spopt-seconds S]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.sparse import csr_matrix

from analysis.siting import covered_by, greedy_covering, maximal_covering

RADIUS_M = 750.0  # 10 minutes at 4.5 km/h


def instance(seed: int, demand: int, candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """(cost matrix demand x candidates in metres, weights)."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(demand)))
    gx, gy = np.meshgrid(np.arange(side) * 100.0, np.arange(side) * 100.0)
    d = np.column_stack([gx.ravel(), gy.ravel()])[:demand]
    extent = side * 100.0
    centres = rng.uniform(0, extent, (12, 2))
    pull = sum(
        rng.uniform(5, 40) * np.exp(-((d - c) ** 2).sum(axis=1) / (2 * rng.uniform(300, 900) ** 2))
        for c in centres
    )
    weights = rng.poisson(0.2 + pull).astype(np.float64)
    c = rng.uniform(0, extent, (candidates, 2))
    cost = np.hypot(d[:, None, 0] - c[None, :, 0], d[:, None, 1] - c[None, :, 1])
    return cost, weights


def spopt_run(
    cost: np.ndarray, weights: np.ndarray, p: int, seconds: float
) -> tuple[float, float, str]:
    import pulp
    from spopt.locate import MCLP

    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MCLP.from_cost_matrix(cost, weights, service_radius=RADIUS_M, p_facilities=p)
        model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=seconds))
    value = pulp.value(model.problem.objective) or 0.0
    spent = time.perf_counter() - began
    # PuLP reports CBC's best incumbent as "Optimal" even when the time limit stopped it.
    status = "time limit" if spent >= seconds else pulp.LpStatus[model.problem.status]
    return float(value), spent, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spopt-seconds", type=float, default=300.0,
                        help="CBC's time limit inside spopt")  # fmt: skip
    args = parser.parse_args()
    p = 10
    print("demand x candidates | ours covered | ours s | gap | status | greedy covered "
          "| spopt covered | spopt s | spopt status | ours/spopt value | time ratio")  # fmt: skip
    for demand, candidates in ((2_000, 500), (10_000, 1_000)):
        cost, weights = instance(7, demand, candidates)
        began = time.perf_counter()
        cover = csr_matrix(cost <= RADIUS_M)
        ours = maximal_covering(cover, weights, p, seconds=10.0, gap=0.005)
        ours_s = time.perf_counter() - began
        greedy = covered_by(cover, weights, greedy_covering(cover, weights, p))
        value, spopt_s, status = spopt_run(cost, weights, p, args.spopt_seconds)
        print(f"{demand:>6,} x {candidates:>5,} | {ours.covered:12.0f} | {ours_s:6.2f} | "
              f"{100 * ours.gap:4.2f}% | {ours.status} | {greedy:14.0f} | {value:13.0f} | "
              f"{spopt_s:7.1f} | {status} | {ours.covered / max(value, 1e-9):.4f} | "
              f"{spopt_s / ours_s:.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
