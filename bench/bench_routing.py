"""Clean-up routes: OR-Tools (ours) against an exact search and a greedy crew rule, one run.

1. <= 10 stops: the value our plan collects must equal the exact subset search's.
2. 50 and 200 candidate stops in the demo town, on its walking network: value collected and
   solve time, ours vs greedy nearest-valuable-stop. Targets: >= 10 % more value than greedy,
   <= 2 s for 200 stops.

Run: .venv/bin/python bench/bench_routing.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from analysis.grid import cell_centres, count_in_grid
from analysis.network import WalkingNetwork
from analysis.projection import to_metres
from analysis.routing import (
    RouteSettings,
    exact_best_value,
    greedy_plan,
    network_walks,
    plan_routes,
    straight_walks,
)
from geo_service.cleanup import Candidate
from geo_service.demo import demo_events, demo_sites, demo_streets
from geo_service.deployment import Deployment
from geo_service.settings import EventKind, Settings


def exact_rounds(rounds: int = 20) -> None:
    print("1. small instances: ours vs exact subset search")
    equal = 0
    for seed in range(rounds):
        rng = np.random.default_rng(seed)
        n = 10
        x = np.concatenate([[0.0, 0.0], rng.uniform(-1200, 1200, n)])
        y = np.concatenate([[0.0, 0.0], rng.uniform(-1200, 1200, n)])
        values = rng.integers(1, 20, n).astype(float)
        walks = straight_walks(x, y)
        teams = 1 + seed % 2
        settings = RouteSettings(budget_min=75, teams=teams, minutes_per_stop=5,
                                 search_seconds=1.0)  # fmt: skip
        ours = plan_routes(walks, values, settings).value
        best = exact_best_value(walks, values, settings)
        equal += abs(ours - best) < 1e-9
    print(f"   {equal}/{rounds} instances of 10 stops (1 and 2 teams): value equal to exact")


def demo_candidates() -> tuple[Deployment, WalkingNetwork, list[Candidate], tuple[float, float]]:
    deployment = Deployment(Settings(database_url="sqlite://"))
    end = pd.Timestamp.now(tz="UTC").floor("h")
    rows = demo_events(deployment, end=end).rows
    needles = np.array(rows.kind) == EventKind.NEEDLE_REPORT.value
    recent = needles & (rows.bucket_start >= int(end.timestamp()) - 90 * 86_400)
    cell_m = deployment.cell_m(EventKind.NEEDLE_REPORT)
    cells = count_in_grid(rows.cell_ix[recent], rows.cell_iy[recent], rows.count[recent],
                          cell_m=cell_m)  # fmt: skip
    cx, cy = cell_centres(cells.ix, cells.iy, grid=deployment.grid, cell_m=cell_m)
    rng = np.random.default_rng(5)
    days = rng.choice([5.0, 20.0, 60.0, 200.0], size=len(cells))  # a spread of last clean-ups
    candidates = [
        Candidate(cell_m, int(cells.ix[i]), int(cells.iy[i]), float(cx[i]), float(cy[i]),
                  int(cells.count[i]), 90.0, float(days[i]), None)
        for i in range(len(cells))
    ]  # fmt: skip
    streets = demo_streets(deployment)
    nx_, ny_ = to_metres(streets.lon, streets.lat, crs=deployment.crs)
    network = WalkingNetwork(nx_, ny_, streets.u, streets.v, streets.length_m)
    site = next(s for s in demo_sites() if "Drop-in" in s.name)
    sx, sy = to_metres(np.array([site.lon]), np.array([site.lat]), crs=deployment.crs)
    return deployment, network, candidates, (float(sx[0]), float(sy[0]))


def town_rounds() -> None:
    print("2. demo town, walking network, from the drop-in centre, 2 teams, 90 min")
    _, network, candidates, (sx, sy) = demo_candidates()
    # The busiest cells first: the candidates a planner would consider.
    candidates.sort(key=lambda c: -c.value)
    print(f"   {len(candidates)} needle-report cells in the last 90 days")
    print("   stops | ours value | greedy value | ours/greedy | ours s | greedy s | matrix s")
    for n in (50, 200):
        chosen = candidates[:n]
        x = np.array([sx, sx] + [c.x for c in chosen])
        y = np.array([sy, sy] + [c.y for c in chosen])
        began = time.perf_counter()
        walks = network_walks(network, x, y)
        matrix_s = time.perf_counter() - began
        values = [c.value for c in chosen]
        settings = RouteSettings(budget_min=90, teams=2, search_seconds=1.5 if n > 50 else 1.0)
        began = time.perf_counter()
        ours = plan_routes(walks, values, settings)
        ours_s = time.perf_counter() - began
        began = time.perf_counter()
        greedy = greedy_plan(walks, values, settings)
        greedy_s = time.perf_counter() - began
        ratio = ours.value / greedy.value if greedy.value else float("inf")
        print(f"   {n:5d} | {ours.value:10.1f} | {greedy.value:12.1f} | {ratio:10.2f}x | "
              f"{ours_s:6.2f} | {greedy_s:8.3f} | {matrix_s:8.3f}")  # fmt: skip


if __name__ == "__main__":
    exact_rounds()
    town_rounds()
