"""Does the default Gi* band localise? Before (the old rule) and after (ArcGIS's rule, bounded).

    .venv/bin/python bench/bench_band.py

On three datasets, for the default band of each rule: the band and the rule's reason, the
cells classed hot at 95 % or more (Gi_Bin >= 2, FDR-adjusted as the service does), the share
of those with no events in the window (target: at most 10 %), and whether each planted hot
spot's centre lies in or next to a hot cell.

(a) the demo town (``geo_service.demo``), manager view of the last finished quarter:
    needle reports (125 m cells) and overdoses (250 m cells), every event of the window;
(b) Boston's 2015 needle pick-ups (shared/data), 125 m cells over their bounding rectangle;
(c) a synthetic city: 100,000 events, 70 % in 12 planted hot spots and 30 % a uniform
    background, on 125 m cells of a 24 × 18 km area (a third of the cells empty).

"Gi_Bin>=2" is Gi* alone at the band (what the old service drew as hot); "hot>=95%" is what
the service now draws: Gi_Bin >= 2 in cells that hold events (analysis.hotspots.
hot_spots_hold_events). "before" is the old rule with the old drawing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.grid import IntArray  # noqa: E402
from tests.analysis.band_acceptance import (  # noqa: E402
    BandCheck,
    check_band,
    old_rule_band,
    synthetic_city,
)


@dataclass(frozen=True)
class Dataset:
    name: str
    ix: IntArray
    iy: IntArray
    count: IntArray
    cell_m: int
    shorter_side_m: float
    planted: list[tuple[int, int]]


def demo_town() -> list[Dataset]:
    from analysis.grid import count_in_grid, snap_to_cells
    from analysis.projection import to_metres
    from geo_service.demo import CENTRE, HOT_SPOTS, demo_events
    from geo_service.deployment import Deployment
    from geo_service.periods import Bucket, latest_published, parse_period
    from geo_service.services.hotspots.compute import study_area
    from geo_service.services.releases.model import DEFAULT_GRACE_DAYS
    from geo_service.settings import EventKind, Settings

    deployment = Deployment(Settings(database_url="sqlite://"))
    now = pd.Timestamp.now(tz="UTC").floor("h")
    rows = demo_events(deployment, end=now).rows
    label = latest_published(
        Bucket.QUARTER, now=now.timestamp(), grace_days=DEFAULT_GRACE_DAYS, tz=deployment.tz
    )
    period = parse_period(label, deployment)
    kinds = np.array(rows.kind)
    out = []
    for kind in (EventKind.NEEDLE_REPORT, EventKind.OVERDOSE):
        cell_m = deployment.cell_m(kind)
        keep = (
            (kinds == kind.value)
            & (rows.bucket_start >= period.start)
            & (rows.bucket_start < period.end)
        )
        cells = count_in_grid(
            rows.cell_ix[keep], rows.cell_iy[keep], rows.count[keep], cell_m=cell_m
        )
        ix, iy, count = study_area(deployment, cells)
        lon0, lat0 = CENTRE
        east = np.array([h.east_m for h in HOT_SPOTS])
        north = np.array([h.north_m for h in HOT_SPOTS])
        lon = lon0 + east / (111_320.0 * np.cos(np.radians(lat0)))
        lat = lat0 + north / 111_320.0
        x, y = to_metres(lon, lat, crs=deployment.crs)
        px, py = snap_to_cells(x, y, grid=deployment.grid, cell_m=cell_m)
        name = f"demo town {kind.value}, {label} ({int(cells.total)} in window)"
        out.append(
            Dataset(
                name,
                ix,
                iy,
                count,
                cell_m,
                deployment.shorter_side_m,
                list(zip(px.tolist(), py.tolist(), strict=True)),
            )
        )
    return out


def boston() -> Dataset:
    from analysis.grid import Grid, count_in_grid, snap_to_cells
    from analysis.projection import to_metres, utm_crs_for
    from tests.conftest import SHARED_DATA

    frame = pd.read_csv(SHARED_DATA / "boston_needle_pickups_2015.csv")
    lon, lat = frame["longitude"].to_numpy(), frame["latitude"].to_numpy()
    x, y = to_metres(lon, lat, crs=utm_crs_for(float(lon.mean()), float(lat.mean())))
    grid = Grid(origin_x_m=0.0, origin_y_m=0.0, base_cell_m=125)
    ix, iy = snap_to_cells(x, y, grid=grid, cell_m=125)
    cells = count_in_grid(ix, iy, np.ones(len(ix), dtype=np.int64), cell_m=125)
    xs = np.arange(cells.ix.min(), cells.ix.max() + 1)
    ys = np.arange(cells.iy.min(), cells.iy.max() + 1)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    count = np.zeros(len(gx), dtype=np.int64)
    count[(cells.iy - ys[0]) * len(xs) + (cells.ix - xs[0])] = cells.count
    side = 125.0 * min(len(xs), len(ys))
    return Dataset(f"Boston 2015 needle pick-ups ({len(frame)})", gx, gy, count, 125, side, [])


def city() -> Dataset:
    made = synthetic_city(events=100_000, seed=17)
    name = f"synthetic city ({int(made.count.sum()):,} events, {len(made.planted)} planted)"
    return Dataset(
        name, made.ix, made.iy, made.count, made.cell_m, made.shorter_side_m, made.planted
    )


def show(name: str, check: BandCheck, *, before: bool = False) -> None:
    """Before: what the old service drew (every Gi_Bin >= 2); after: Gi_Bin alone, then the
    service's hot cells (a hot spot holds events)."""
    found_count = check.gi_bin_planted_found if before else check.planted_found
    found = f"{found_count}/{check.planted}" if check.planted else "-"
    line = (
        f"  {name:<6} band {check.distance_m:5.0f} m | Gi_Bin>=2 {check.gi_bin_hot:5d}, "
        f"empty {100 * check.gi_bin_empty_share:5.1f} %"
    )
    if not before:
        line += f" | hot>=95% {check.hot:5d}, empty {100 * check.empty_share:4.1f} %"
    print(f"{line} | planted found {found}")
    print(f"         rule: {check.rule}")


def main() -> None:
    datasets = [*demo_town(), boston(), city()]
    for data in datasets:
        print(data.name)
        started = time.perf_counter()
        before = check_band(
            data.ix,
            data.iy,
            data.count,
            cell_m=data.cell_m,
            planted=data.planted,
            band=old_rule_band(
                data.ix, data.iy, data.count, cell_m=data.cell_m, study_extent_m=data.shorter_side_m
            ),
        )
        after = check_band(
            data.ix,
            data.iy,
            data.count,
            cell_m=data.cell_m,
            planted=data.planted,
            study_extent_m=data.shorter_side_m,
        )
        show("before", before, before=True)
        show("after", after)
        print(f"         ({len(data.ix):,} study cells, {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
