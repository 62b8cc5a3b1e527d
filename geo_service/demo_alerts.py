"""The demo town's spike: seven overdoses in one neighbourhood in the last 24 hours, far above
its usual (a bad batch), a named area for that neighbourhood, and the three rules a program
starts with. Every event here is invented, seeded, and validated like real data.

The spike is its own batch, generated from its own seed: the two years of ``demo_events``
(and the rail yard's emerging hot spot in them) stay exactly as they were.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from shapely.geometry import mapping

from analysis.projection import to_lonlat, to_metres
from geo_service.deployment import Deployment
from geo_service.ingest.event_input import RawEvents
from geo_service.ingest.events import ValidatedBatch, validate_events
from geo_service.services.alerts.areas import check_named_area
from geo_service.storage import Store
from geo_service.storage.alert_records import NewAlertRule

SPIKE_SEED = 20_240_503
SPIKE_AREA = "Lakeview"
SPIKE_OVERDOSES = 7
# The neighbourhood, from Main Street (east, north in metres), and half its side: 0.81 km².
SPIKE_CENTRE_M = (-1400.0, -900.0)
SPIKE_HALF_SIDE_M = 450.0
_SPIKE_SPREAD_M = 120.0
_SPIKE_REACH_M = 300.0  # a cell's centre stays inside the area (cells are 250 m)


@dataclass(frozen=True)
class DemoRule:
    name: str
    method: str
    threshold: int


DEMO_RULES = (
    DemoRule("3 or more overdoses in 24 hours", "count", 3),
    DemoRule("EARS C2 overdoses", "ears_c2", 3),
    DemoRule("EWMA overdoses", "ewma", 3),
)


def _offsets_to_lonlat(
    deployment: Deployment, centre: tuple[float, float], east: np.ndarray, north: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x0, y0 = to_metres(np.array([centre[0]]), np.array([centre[1]]), crs=deployment.crs)
    return to_lonlat(x0[0] + east, y0[0] + north, crs=deployment.crs)


def spike_area(deployment: Deployment, centre: tuple[float, float]) -> dict[str, object]:
    """The neighbourhood's outline, a square in GeoJSON (WGS 84), checked like a steward's."""
    east0, north0 = SPIKE_CENTRE_M
    h = SPIKE_HALF_SIDE_M
    east = np.array([east0 - h, east0 + h, east0 + h, east0 - h, east0 - h])
    north = np.array([north0 - h, north0 - h, north0 + h, north0 + h, north0 - h])
    lon, lat = _offsets_to_lonlat(deployment, centre, east, north)
    ring = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(lon, lat, strict=True)]
    checked = check_named_area(deployment, {"type": "Polygon", "coordinates": [ring]})
    return dict(mapping(checked))


def spike_events(
    deployment: Deployment, *, centre: tuple[float, float], end: pd.Timestamp
) -> ValidatedBatch:
    """Seven overdoses around the neighbourhood's middle, spread over the local day so far
    (at most the last 23 hours), so both the 24-hour count and today's daily count see them."""
    rng = np.random.default_rng(SPIKE_SEED)
    n = SPIKE_OVERDOSES
    offsets = np.clip(rng.normal(0, _SPIKE_SPREAD_M, (2, n)), -_SPIKE_REACH_M, _SPIKE_REACH_M)
    lon, lat = _offsets_to_lonlat(
        deployment, centre, SPIKE_CENTRE_M[0] + offsets[0], SPIKE_CENTRE_M[1] + offsets[1]
    )
    last = end - pd.Timedelta(minutes=1)
    midnight = last.tz_convert(deployment.timezone).normalize().tz_convert("UTC")
    first = max(midnight, end - pd.Timedelta(hours=23))
    spread = np.sort(rng.uniform(0, 1, n)) * (last - first).total_seconds()
    observed = pd.DatetimeIndex(first + pd.to_timedelta(spread.round(), unit="s"))
    raw = RawEvents(
        lon=lon,
        lat=lat,
        kind=["overdose"] * n,
        observed_at=[None] * n,
        count=[1] * n,
        source=rng.choice(["ems", "er", "peer"], n).tolist(),
        fatal=[False] * n,
        naloxone_doses=rng.integers(1, 4, n).tolist(),
        place_type=[None] * n,
        text_values=False,
        observed_utc=observed,
    )
    return validate_events(raw, deployment, now=end)


def add_demo_alerting(
    store: Store, deployment: Deployment, program_id: int, centre: tuple[float, float]
) -> int:
    """The named neighbourhood and the default rules (none sends without review); returns
    the area's id. Done before any event is stored, so the series count it from the start."""
    now = int(time.time())
    area_id = store.add_alert_area(
        program_id, SPIKE_AREA, json.dumps(spike_area(deployment, centre)), now
    )
    for rule in DEMO_RULES:
        store.add_alert_rule(
            NewAlertRule(
                program_id=program_id,
                name=rule.name,
                kind="overdose",
                method=rule.method,
                window_hours=24,
                threshold=rule.threshold,
                areas="all",
                auto_send=False,
                options="{}",
                created_at=now,
            )
        )
    return area_id
