"""The phone's grid configuration (``services/phone_grid.py``, ``GET /report/grid.json``) and
the millimetre tie rule of the blur it relies on."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from geo_service.auth import Role, create_key, start_session
from geo_service.deployment import Deployment
from geo_service.ingest.privacy import blur_locations
from geo_service.ingest.reports import ReportRefused, read_report
from geo_service.services.phone_grid import phone_grid, phone_projection
from geo_service.settings import EventKind
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN, bearer, make_settings, problem

WGS84_F = 1 / 298.257223563
GRS80_F = 1 / 298.257222101
GRID_URL = "/report/grid.json"


def default_deployment(tmp_path: Path, **overrides: Any) -> Deployment:
    return Deployment(make_settings(tmp_path, **overrides))


def test_the_default_towns_config_has_its_known_values(tmp_path: Path) -> None:
    config = phone_grid(default_deployment(tmp_path))
    # Flin Flon (101.9 W) is in UTM zone 14, central meridian 99 W.
    assert config["projection"] == {
        "method": "tmerc",
        "a": 6378137.0,
        "f": WGS84_F,
        "lon_0": -99.0,
        "lat_0": 0.0,
        "k_0": 0.9996,
        "x_0": 500000.0,
        "y_0": 0.0,
    }
    assert config["origin"] == [0.0, 0.0]
    assert config["sizes"] == {
        "needles_here": 125,
        "cleanup_done": 125,
        "overdose_helped": 250,
        "supplies_needed": 125,
    }
    assert set(config["cells"]) == {"125", "250"}
    assert config["outline"]["type"] == "Polygon"
    lons = [p[0] for p in config["outline"]["coordinates"][0]]
    assert min(lons) == -101.93 and max(lons) == -101.83


@pytest.mark.parametrize(
    ("crs", "expected"),
    [
        ("EPSG:32614", {"lon_0": -99.0, "k_0": 0.9996, "x_0": 500000.0, "y_0": 0.0}),
        ("EPSG:32714", {"lon_0": -99.0, "k_0": 0.9996, "x_0": 500000.0, "y_0": 10000000.0}),
        ("EPSG:26914", {"lon_0": -99.0, "f": GRS80_F, "x_0": 500000.0}),  # NAD83 UTM, no shift
        ("EPSG:32188", {"lon_0": -73.5, "k_0": 0.9999, "x_0": 304800.0, "f": GRS80_F}),  # MTM 8
    ],
)
def test_transverse_mercator_crs_give_their_parameters(crs: str, expected: dict[str, Any]) -> None:
    projection = phone_projection(crs)
    assert projection is not None
    assert projection.items() >= expected.items()
    # Oracle: the parameters, as a PROJ string, project exactly as the CRS itself does.
    text = (
        "+proj=tmerc +lat_0={lat_0!r} +lon_0={lon_0!r} +k_0={k_0!r} +x_0={x_0!r} +y_0={y_0!r} "
        "+a={a!r} +rf={rf!r} +units=m +type=crs"
    ).format(rf=1 / projection["f"], **projection)
    rng = np.random.default_rng(7)
    lon = projection["lon_0"] + rng.uniform(-3, 3, 200)
    lat = rng.uniform(-80 if projection["y_0"] else 0, 0 if projection["y_0"] else 84, 200)
    want = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    got = Transformer.from_crs("EPSG:4326", text, always_xy=True).transform(lon, lat)
    assert np.abs(np.subtract(want, got)).max() < 1e-6


@pytest.mark.parametrize(
    "crs",
    [
        "EPSG:2957",  # NAD83(CSRS) UTM 13: pyproj runs a Helmert shift from WGS 84
        "EPSG:2951",  # NAD83(CSRS) MTM 8: the same shift
        "EPSG:3347",  # Statistics Canada Lambert: another projection
        "EPSG:2053",  # south-orientated tmerc (axis=wsu)
        "EPSG:2100",  # Greek grid: a datum shift in the pipeline
        "+proj=utm +zone=14 +approx +ellps=WGS84 +units=m +type=crs",  # the approximate series
        "+proj=tmerc +lon_0=-99 +ellps=clrk66 +units=m +type=crs",  # another ellipsoid
    ],
)
def test_anything_the_phone_cannot_repeat_exactly_is_null(crs: str) -> None:
    assert phone_projection(crs) is None


def test_a_null_projection_still_lists_the_squares_and_their_corners(tmp_path: Path) -> None:
    config = phone_grid(default_deployment(tmp_path, projected_crs="EPSG:3347"))
    assert config["projection"] is None
    iy, _, last = config["cells"]["125"][-1]
    lattice = config["corners"]["125"]
    # The far corner of the last listed square, against pyproj's own inverse.
    k = 2 * ((iy + 1 - lattice["iy0"]) * lattice["nx"] + last + 1 - lattice["ix0"])
    back = Transformer.from_crs("EPSG:3347", "EPSG:4326", always_xy=True)
    lon, lat = back.transform((last + 1) * 125.0, (iy + 1) * 125.0)
    assert lattice["lonlat"][k : k + 2] == [round(lon, 7), round(lat, 7)]
    assert "corners" not in phone_grid(default_deployment(tmp_path / "utm"))


def expand(runs: list[list[int]]) -> set[tuple[int, int]]:
    return {(ix, iy) for iy, first, last in runs for ix in range(first, last + 1)}


def refusal(deployment: Deployment, size: int, ix: int, iy: int) -> str | None:
    """Why ``read_report`` refuses a report naming this square (None: it takes it)."""
    kind = "overdose_helped" if size == deployment.cell_m(EventKind.OVERDOSE) else "needles_here"
    doc: dict[str, Any] = {"type": kind, "cell": f"{size}:{ix}:{iy}", "bucket": "2026-05-01"}
    doc |= {"count": "1"} if kind == "needles_here" else {"naloxone_doses": 1, "outcome": "ok"}
    try:
        read_report(doc, deployment)
    except ReportRefused as refused:
        return refused.code
    return None


@pytest.mark.parametrize("crs", [None, "EPSG:32188"])
def test_the_row_runs_are_the_squares_a_report_may_name(tmp_path: Path, crs: str | None) -> None:
    deployment = default_deployment(tmp_path, projected_crs=crs)
    config = phone_grid(deployment)
    picker = random.Random(18)
    for size in (125, 250):
        cells = expand(config["cells"][str(size)])
        assert len(cells) > 20
        # Each listed square is taken; each neighbour of one that is not listed is refused.
        ring = {(ix + dx, iy + dy) for ix, iy in cells for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
        outside = sorted(ring - cells)
        assert outside
        for ix, iy in picker.sample(sorted(cells), 40):
            assert refusal(deployment, size, ix, iy) is None
        for ix, iy in picker.sample(outside, min(40, len(outside))):
            assert refusal(deployment, size, ix, iy) == "cell_outside_area"


def test_row_runs_never_overlap_and_are_sorted(tmp_path: Path) -> None:
    runs = phone_grid(default_deployment(tmp_path))["cells"]["125"]
    assert runs == sorted(runs)
    assert all(first <= last for _, first, last in runs)
    assert sum(last - first + 1 for _, first, last in runs) == len(expand(runs))


# The blur's tie rule: a position is taken to the millimetre before it is snapped.


def lonlat_of(deployment: Deployment, x: float, y: float) -> tuple[float, float]:
    back = Transformer.from_crs(deployment.crs, "EPSG:4326", always_xy=True)
    lon, lat = back.transform(x, y)
    return float(lon), float(lat)


@pytest.mark.parametrize(
    ("below_mm", "cell_above"),
    [(0.0, True), (0.3, True), (0.49, True), (0.51, False), (0.7, False), (2.0, False)],
)
def test_a_position_within_half_a_millimetre_below_a_border_is_in_the_cell_above(
    tmp_path: Path, below_mm: float, cell_above: bool
) -> None:
    deployment = default_deployment(tmp_path)
    _, ix, iy = blur_locations([TOWN[0]], [TOWN[1]], ["needle_report"], deployment)
    border_x = (int(ix[0]) + 1) * 125.0
    lon, lat = lonlat_of(deployment, border_x - below_mm / 1000, (int(iy[0]) + 0.5) * 125)
    _, got, _ = blur_locations([lon], [lat], ["needle_report"], deployment)
    assert int(got[0]) == int(ix[0]) + (1 if cell_above else 0)


# GET /report/grid.json


def test_a_peer_gets_the_config_kept_an_hour_with_an_etag(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    answer = client.get(GRID_URL, headers=keys["peer"])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "private, max-age=3600"
    deployment = client.app.state.deployment  # type: ignore[attr-defined]
    assert answer.json() == json.loads(json.dumps(phone_grid(deployment)))
    etag = answer.headers["etag"]
    again = client.get(GRID_URL, headers={**keys["peer"], "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    stale = client.get(GRID_URL, headers={**keys["peer"], "If-None-Match": '"other"'})
    assert stale.status_code == 200


def test_without_a_key_or_session_it_is_401_and_for_a_planner_403(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    assert problem(client.get(GRID_URL), 401)["code"] == "unauthenticated"
    wrong = client.get(GRID_URL, headers=bearer("gs_not-a-key"))
    assert problem(wrong, 401)["code"] == "unauthenticated"
    assert problem(client.get(GRID_URL, headers=keys["planner"]), 403)["code"] == "forbidden"
    for role in ("manager", "steward"):
        assert client.get(GRID_URL, headers=keys[role]).status_code == 200


def test_a_signed_in_phone_gets_it_with_its_session_cookie(
    client: TestClient, store: SqlStore
) -> None:
    _, key = create_key(store, program="town", role=Role.PEER)
    token, _ = start_session(store, key, hours=1)
    client.cookies.set("gs_session", token)
    assert client.get(GRID_URL).status_code == 200
    client.cookies.set("gs_session", "forged")
    assert client.get(GRID_URL).status_code == 401


def test_the_config_does_not_change_when_reports_arrive(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    before = client.get(GRID_URL, headers=keys["peer"])
    cell = before.json()["cells"]["125"][0]
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    sent = client.post(
        "/v1/reports",
        json={
            "type": "needles_here",
            "cell": f"125:{cell[1]}:{cell[0]}",
            "bucket": (hour - dt.timedelta(hours=1)).isoformat(timespec="minutes"),
            "count": "1",
        },
        headers={**keys["peer"], "Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 201, sent.text
    after = client.get(GRID_URL, headers=keys["peer"])
    assert after.content == before.content and after.headers["etag"] == before.headers["etag"]


def test_each_program_gets_its_own_grid_never_anothers(
    client: TestClient, store: SqlStore, keys: dict[str, dict[str, str]]
) -> None:
    from shapely.geometry import box

    from geo_service.geography import Geography

    settings = client.app.state.settings  # type: ignore[attr-defined]
    far = Geography.from_settings(settings, area=box(-97.2, 49.85, -97.1, 49.92))  # Winnipeg
    _, key = create_key(store, program="far", role=Role.PEER, geography=far.stored())
    mine = client.get(GRID_URL, headers=bearer(key)).json()
    town = client.get(GRID_URL, headers=keys["peer"]).json()
    assert mine == json.loads(json.dumps(phone_grid(Deployment(settings, far))))
    assert mine["outline"] != town["outline"] and mine["cells"] != town["cells"]
