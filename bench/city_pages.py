"""Map pages at a city's scale: every manager page and a peer's, in bytes and seconds.

    .venv/bin/python bench/bench_maps.py --city 1000000 [--sizes ""] [--naive ""]

A synthetic city of about 15 x 12 km (11,500 cells of 125 m) gets N events over the last
year (80 % needle reports, 10 % overdoses, 10 % clean-ups; 60 % of them around 40 hot spots,
the rest anywhere), validated and blurred like real ones, and 40 service sites. No walking
network is loaded, so walks are straight lines x 1.3 (the pages' size does not depend on it).
Each page is asked for once through the app (first: analysis and render) and once more
(warm), and its size printed raw and gzip-compressed. The goal is <= 1.5 MB raw for each.
"""

from __future__ import annotations

import gzip
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CENTRE = (-97.14, 49.89)  # a prairie city in the default time zone (America/Winnipeg)
HALF_EAST_M, HALF_NORTH_M = 7_500.0, 6_000.0
M_PER_DEG_LAT = 111_320.0
GOAL_BYTES = 1_500_000


@dataclass(frozen=True)
class PageSize:
    path: str
    role: str
    status: int
    raw: int
    gzipped: int
    first_s: float
    warm_s: float


def city_bbox() -> tuple[float, float, float, float]:
    lon0, lat0 = CENTRE
    d_lon = HALF_EAST_M / (M_PER_DEG_LAT * math.cos(math.radians(lat0)))
    d_lat = HALF_NORTH_M / M_PER_DEG_LAT
    return (lon0 - d_lon, lat0 - d_lat, lon0 + d_lon, lat0 + d_lat)


def city_points(n: int, seed: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points: 60 % around 40 hot spots (spread 150-500 m), the rest uniform."""
    rng = np.random.default_rng(seed)
    spots = rng.uniform([-HALF_EAST_M, -HALF_NORTH_M], [HALF_EAST_M, HALF_NORTH_M], (40, 2))
    hot = rng.random(n) < 0.6
    which = rng.integers(0, len(spots), n)
    spread = rng.uniform(150, 500, len(spots))[which]
    east = np.where(hot, spots[which, 0] + rng.normal(0, 1, n) * spread, 0.0)
    north = np.where(hot, spots[which, 1] + rng.normal(0, 1, n) * spread, 0.0)
    east[~hot] = rng.uniform(-HALF_EAST_M, HALF_EAST_M, (~hot).sum())
    north[~hot] = rng.uniform(-HALF_NORTH_M, HALF_NORTH_M, (~hot).sum())
    east = east.clip(-HALF_EAST_M + 1, HALF_EAST_M - 1)
    north = north.clip(-HALF_NORTH_M + 1, HALF_NORTH_M - 1)
    lat = CENTRE[1] + north / M_PER_DEG_LAT
    lon = CENTRE[0] + east / (M_PER_DEG_LAT * math.cos(math.radians(CENTRE[1])))
    return lon, lat


def city_events(n: int, deployment: object, end: pd.Timestamp) -> object:
    from geo_service.deployment import Deployment
    from geo_service.ingest.event_input import RawEvents
    from geo_service.ingest.events import validate_events

    assert isinstance(deployment, Deployment)
    rng = np.random.default_rng(18)
    lon, lat = city_points(n)
    kind = rng.choice(["needle_report", "overdose", "cleanup"], n, p=[0.8, 0.1, 0.1])
    seconds = rng.integers(0, 364 * 86_400, n)
    observed = pd.DatetimeIndex(end - pd.to_timedelta(seconds, unit="s"))
    is_od = kind == "overdose"
    raw = RawEvents(
        lon=lon,
        lat=lat,
        kind=kind.tolist(),
        observed_at=[None] * n,
        count=np.where(kind == "cleanup", rng.integers(1, 31, n), rng.integers(1, 6, n)).tolist(),
        source=np.where(is_od, "ems", "peer").tolist(),
        fatal=[False if od else None for od in is_od],
        naloxone_doses=[1 if od else None for od in is_od],
        place_type=[None] * n,
        text_values=False,
        observed_utc=observed,
    )
    return validate_events(raw, deployment, now=end)


def city_sites(count: int = 40) -> list[object]:
    from geo_service.storage import SiteRecord

    rng = np.random.default_rng(19)
    west, south, east, north = city_bbox()
    kinds = [
        ("hr_supply", ("needles", "naloxone", "disposal"), "Mo-Fr 09:00-17:00"),
        ("pharmacy", ("naloxone", "needles"), "Mo-Sa 09:00-21:00"),
        ("er", ("naloxone",), "24/7"),
        ("disposal_box", ("disposal",), "24/7"),
    ]
    out: list[object] = []
    for number in range(count):
        site_type, services, hours = kinds[number % len(kinds)]
        out.append(
            SiteRecord(
                name=f"Site {number} (synthetic)",
                site_type=site_type,
                services=services,
                opening_hours=hours,
                address=None,
                lon=round(float(rng.uniform(west, east)), 6),
                lat=round(float(rng.uniform(south, north)), 6),
            )
        )
    return out


def _timed_get(client: object, path: str, key: str) -> tuple[int, bytes, float]:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    start = time.perf_counter()
    answer = client.get(path, headers={"Authorization": f"Bearer {key}"})
    return answer.status_code, answer.content, time.perf_counter() - start


def measure(n: int, save: Path | None = None) -> list[PageSize]:
    """Load the city with ``n`` events and measure each page (written to ``save`` if given)."""
    from fastapi.testclient import TestClient

    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from geo_service.periods import Bucket, latest_published
    from geo_service.services.releases import DEFAULT_GRACE_DAYS
    from geo_service.settings import Settings
    from geo_service.storage import BatchRecord

    sizes: list[PageSize] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/city.sqlite3",
            service_area_bbox=city_bbox(),
            map_tiles="none",
            rate_limit_per_key=0,
            rate_limit_per_address=0,
            analysis_seconds=600,
        )
        app = create_app(settings)
        with TestClient(app) as client:
            store, deployment = app.state.store, app.state.deployment
            keys = {r: create_key(store, program="city", role=r)[1] for r in Role}
            program_id = store.program_id("city")
            start = time.perf_counter()
            batch = city_events(n, deployment, pd.Timestamp.now(tz="UTC").floor("h"))
            record = BatchRecord("bench", program_id, None, "events", None, "x", "2026-01-01")
            store.store_events(record, batch.rows)  # type: ignore[attr-defined]
            sites_record = BatchRecord("sites", program_id, None, "sites", None, "y", "2026-01-01")
            store.store_sites(sites_record, city_sites())
            print(f"city: {n:,} events loaded in {time.perf_counter() - start:.0f} s")
            quarter = latest_published(
                Bucket.QUARTER, now=time.time(), grace_days=DEFAULT_GRACE_DAYS, tz=deployment.tz
            )
            pages = [
                (Role.MANAGER, f"/maps/hotspots?kind=needle_report&period={quarter}"),
                (Role.MANAGER, "/maps/trends?kind=needle_report"),
                (Role.MANAGER, "/maps/coverage"),
                (Role.MANAGER, "/maps/siting"),
                (Role.MANAGER, "/maps/cleanup"),
                (Role.PEER, f"/maps/hotspots?kind=needle_report&period={quarter}"),
                (Role.PEER, "/maps/trends?kind=needle_report"),
                (Role.PEER, "/maps/cleanup"),
            ]
            for role, path in pages:
                status, body, first = _timed_get(client, path, keys[role])
                _, _, warm = _timed_get(client, path, keys[role])
                size = PageSize(
                    path.split("?")[0], role.value, status, len(body),
                    len(gzip.compress(body)), first, warm,
                )  # fmt: skip
                sizes.append(size)
                if save is not None:
                    name = f"{role.value}-{path.split('?')[0].strip('/').replace('/', '-')}.html"
                    (save / name).write_bytes(body)
                print(
                    f"{size.role:7s} {size.path:14s} {size.status} {size.raw / 1e6:6.2f} MB raw "
                    f"{size.gzipped / 1e6:5.2f} MB gzip; first {size.first_s:5.1f} s, "
                    f"warm {size.warm_s:5.2f} s{'' if size.raw <= GOAL_BYTES else '  OVER 1.5 MB'}",
                    flush=True,
                )
    return sizes
