"""Privacy invariants of ingest (DESIGN.md §4.1-4.3) as tests."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from analysis.grid import cell_centres
from analysis.projection import to_lonlat
from geo_service.deployment import Deployment
from geo_service.ingest.privacy import blur_locations, coarsen_times
from geo_service.settings import FLIN_FLON_BBOX, EventKind, Settings
from tests.conftest import collection, feature

DEPLOYMENT = Deployment(Settings())
west, south, east, north = FLIN_FLON_BBOX
lons = st.floats(min_value=west, max_value=east)
lats = st.floats(min_value=south, max_value=north)
kinds = st.sampled_from(["needle_report", "overdose", "cleanup"])


@given(lons, lats, kinds)
def test_blur_is_deterministic_idempotent_and_inside_the_cell(
    lon: float, lat: float, kind: str
) -> None:
    cell_m, ix, iy = blur_locations([lon], [lat], [kind], DEPLOYMENT)
    assert cell_m[0] == DEPLOYMENT.cell_m(EventKind(kind))
    again = blur_locations([lon], [lat], [kind], DEPLOYMENT)
    assert (cell_m[0], ix[0], iy[0]) == (again[0][0], again[1][0], again[2][0])
    # Already-blurred input (the published cell centre in lon/lat) keeps its blur.
    cx, cy = cell_centres(ix, iy, grid=DEPLOYMENT.grid, cell_m=int(cell_m[0]))
    clon, clat = to_lonlat(cx, cy, crs=DEPLOYMENT.crs)
    reblurred = blur_locations(clon, clat, [kind], DEPLOYMENT)
    assert (reblurred[1][0], reblurred[2][0]) == (ix[0], iy[0])


@given(lons, lats)
def test_a_needle_cell_centre_blurs_into_its_parent_overdose_cell(lon: float, lat: float) -> None:
    _, ix, iy = blur_locations([lon], [lat], ["needle_report"], DEPLOYMENT)
    cx, cy = cell_centres(ix, iy, grid=DEPLOYMENT.grid, cell_m=125)
    clon, clat = to_lonlat(cx, cy, crs=DEPLOYMENT.crs)
    _, px, py = blur_locations(clon, clat, ["overdose"], DEPLOYMENT)
    assert (px[0], py[0]) == (ix[0] // 2, iy[0] // 2)


@pytest.mark.parametrize(
    ("observed", "kind", "start"),
    [
        # Winnipeg is UTC-5 in May: 01:45 local is in the 00:00-06:00 local block.
        ("2025-05-01T06:45:00Z", "overdose", "2025-05-01T05:00:00Z"),
        ("2025-05-01T11:00:00Z", "overdose", "2025-05-01T11:00:00Z"),
        ("2025-05-01T13:59:59Z", "needle_report", "2025-05-01T13:00:00Z"),
        # UTC-6 in January: 23:30 local on 14 Jan is in the 18:00-24:00 block.
        ("2025-01-15T05:30:00Z", "overdose", "2025-01-15T00:00:00Z"),
    ],
)
def test_times_are_coarsened_to_local_buckets(observed: str, kind: str, start: str) -> None:
    got, hours = coarsen_times(pd.DatetimeIndex([pd.Timestamp(observed)]), [kind], DEPLOYMENT)
    assert got[0] == pd.Timestamp(start).timestamp()
    assert hours[0] == (6 if kind == "overdose" else 1)


@given(st.integers(min_value=1_500_000_000, max_value=1_900_000_000), kinds)
@hyp_settings(max_examples=200)
def test_bucket_contains_the_event_and_starts_on_a_local_boundary(epoch: int, kind: str) -> None:
    index = pd.DatetimeIndex([pd.Timestamp(epoch, unit="s", tz="UTC")])
    start, hours = coarsen_times(index, [kind], DEPLOYMENT)
    assert start[0] <= epoch < start[0] + hours[0] * 3600
    local = pd.Timestamp(int(start[0]), unit="s", tz="UTC").tz_convert(DEPLOYMENT.tz)
    assert local.minute == 0 and local.second == 0
    assert local.hour % hours[0] == 0 or local.hour % hours[0] == 1  # DST-shifted hour


def _needles(value: float) -> list[bytes]:
    """Forms a coordinate could take in a file: its decimal digits and its binary double."""
    digits = f"{abs(value):.7f}".rstrip("0").split(".")[1]
    return [
        digits.encode(),
        digits[:6].encode(),
        struct.pack("<d", value),
        struct.pack(">d", value),
    ]


def test_raw_coordinates_reach_neither_database_nor_logs(
    client: TestClient,
    keys: dict[str, dict[str, str]],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = np.random.default_rng(7)
    points = [
        (-101.8779 + rng.uniform(-0.02, 0.02), 54.7682 + rng.uniform(-0.01, 0.01))
        for _ in range(40)
    ]
    points = [(round(lon, 7), round(lat, 7)) for lon, lat in points]
    body = collection(
        *[
            feature(lon, lat, kind=k, observed_at="2025-05-01T13:45:00-05:00")
            for (lon, lat), k in zip(points, ["needle_report", "overdose"] * 20, strict=True)
        ],
        feature(999.1234567, 54.7654321),  # a rejected row must leave no trace either
    )
    with caplog.at_level(logging.DEBUG):
        response = client.post("/v1/events", json=body, headers=keys["manager"])
        listed = client.get("/v1/events", headers=keys["manager"])
    assert response.status_code == 201
    assert response.json()["accepted"] == 40
    db_path = Path(settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    logs = caplog.text.encode()
    answers = response.content + listed.content
    assert len(stored) > 0 and "events batch" in caplog.text
    for lon, lat in [*points, (999.1234567, 54.7654321)]:
        for needle in _needles(lon) + _needles(lat):
            assert needle not in stored, "a raw coordinate reached the database"
            assert needle not in logs, "a raw coordinate reached the logs"
        for value in (lon, lat):
            digits = _needles(value)[0]
            if len(digits) == 7:  # answers carry 6 decimals, so 7 digits can only be a leak
                assert digits not in answers, "a raw coordinate reached a response"
