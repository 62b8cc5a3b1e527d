"""The phone's ``static/grid.js`` snaps every point to the square the server's own blur gives,
in Chromium with the network cut off: 10,000 snaps of random points, points on the area's
outline, on and a hair (1e-7 m) off cell borders, and at the edges of the UTM zone, for
every report size; then a second deployment on a Transverse Mercator that is not UTM."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from tests.browser import test_maps_browser as maps_browser
from tests.browser.test_invite_browser import phone
from tests.conftest import bearer, make_settings

browser = maps_browser.browser
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")
# Near the default town, with lat_0, k_0, x_0, y_0 and an origin unlike UTM's.
OTHER_TMERC = (
    "+proj=tmerc +lat_0=49 +lon_0=-101 +k=0.9999 +x_0=304800 +y_0=-100000 +ellps=WGS84 "
    "+units=m +no_defs +type=crs"
)
SNAP_ALL = """([config, points, sizes]) => {
  const grid = window.GeoGrid.make(config);
  const out = [];
  for (const size of sizes) for (const p of points) out.push(grid.snap(p[0], p[1], size));
  return out;
}"""
SHAPES = """([config, ids]) => {
  const grid = window.GeoGrid.make(config);
  return ids.map((id) => [grid.inside(id), grid.corners(id), grid.centre(id)]);
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:

    from geo_service.auth import Role, create_key
    from geo_service.main import create_app

    tmp = tmp_path_factory.mktemp("grid")
    port = maps_browser.free_port()
    app = create_app(make_settings(tmp, public_url=f"http://127.0.0.1:{port}", map_tiles="none"))
    with maps_browser.running(app, port) as base:
        _, key = create_key(app.state.store, program="town", role=Role.PEER)
        yield {"base": base, "app": app, "key": key}


def points_for(deployment: Any, config: dict[str, Any], seed: int, n: int) -> np.ndarray:
    """Random points in the area's box, on its outline, on and beside cell borders, and at
    the edges of the projection's zone (+-3 degrees, latitudes 0..84)."""
    from analysis.projection import to_lonlat

    rng = np.random.default_rng(seed)
    west, south, east, north = deployment.geography.area.bounds
    pad = 0.01
    box = np.c_[rng.uniform(west - pad, east + pad, n), rng.uniform(south - pad, north + pad, n)]
    ring = shapely.get_exterior_ring(deployment.geography.area)
    along = shapely.line_interpolate_point(ring, rng.uniform(0, 1, n // 2), normalized=True)
    outline = shapely.get_coordinates(along)
    # Borders, made in metres: x or y on a cell edge (or both: a corner), exactly or 1e-7 m off.
    ox, oy = config["origin"]
    size = np.array(list(config["sizes"].values()))[rng.integers(0, 4, n)]
    runs = config["cells"]["125"]
    pick = np.array(runs)[rng.integers(0, len(runs), n)]
    ix = (pick[:, 1] + rng.integers(-1, 3, n)) * 125 // size
    iy = (pick[:, 0] + rng.integers(-1, 3, n)) * 125 // size
    x = ox + ix.astype(np.float64) * size
    y = oy + iy.astype(np.float64) * size
    off = rng.choice([0.0, 1e-7, -1e-7], (n, 2))
    which = rng.integers(0, 3, n)  # 0: a vertical edge, 1: a horizontal one, 2: a corner
    x = np.where(which == 1, x + rng.uniform(0, 1, n) * size, x) + off[:, 0]
    y = np.where(which == 0, y + rng.uniform(0, 1, n) * size, y) + off[:, 1]
    lon, lat = to_lonlat(x, y, crs=deployment.crs)
    borders = np.c_[lon, lat]
    lon_0 = config["projection"]["lon_0"]
    k = n // 4
    edge_lon = lon_0 + np.r_[np.full(k, -3.0), np.full(k, 3.0), rng.uniform(-3, 3, k)]
    edge_lat = np.r_[rng.uniform(0, 84, 3 * k - 4), [0.0, 84.0, 0.0, 84.0]]
    edges = np.c_[edge_lon, edge_lat]
    edges[-2:, 0] = [lon_0 - 3.0, lon_0 + 3.0]
    return np.concatenate([box, outline, borders, edges])


def server_ids(deployment: Any, points: np.ndarray, sizes: list[int]) -> list[str]:
    """The server's own blur path on the same points."""
    from geo_service.ingest.privacy import blur_locations
    from geo_service.settings import EventKind

    kind_of = {deployment.cell_m(k): k.value for k in (EventKind.OVERDOSE, EventKind.CLEANUP)}
    out: list[str] = []
    for size in sizes:
        kinds = [kind_of[size]] * len(points)
        m, ix, iy = blur_locations(points[:, 0], points[:, 1], kinds, deployment)
        out += [
            f"{a}:{b}:{c}" for a, b, c in zip(m.tolist(), ix.tolist(), iy.tolist(), strict=True)
        ]
    return out


def open_page(browser: Any, server: dict[str, Any]) -> tuple[Any, list[str], list[str]]:
    page, outside, errors = phone(browser, server["base"])
    page.goto(server["base"] + "/signin")
    page.add_script_tag(url=server["base"] + "/static/grid.js")
    return page, outside, errors


def test_the_phone_snaps_every_point_as_the_server_does(
    browser: Any, server: dict[str, Any]
) -> None:
    deployment = server["app"].state.deployment
    fetched = urllib.request.urlopen(
        urllib.request.Request(server["base"] + "/report/grid.json", headers=bearer(server["key"]))
    )
    config = json.loads(fetched.read())
    sizes = sorted(set(config["sizes"].values()))
    points = points_for(deployment, config, seed=18, n=2000)
    assert len(points) * len(sizes) >= 10_000
    page, outside, errors = open_page(browser, server)
    phone_ids = page.evaluate(SNAP_ALL, [config, points.tolist(), sizes])
    want = server_ids(deployment, points, sizes)
    wrong = [i for i, (a, b) in enumerate(zip(phone_ids, want, strict=True)) if a != b]
    assert len(wrong) == 0, f"{len(wrong)} of {len(want)} disagreed, e.g. {wrong[:5]}"
    assert errors == [] and outside == [], (errors, outside)
    page.context.close()


def test_corners_and_centres_match_pyproj_and_inside_matches_the_list(
    browser: Any, server: dict[str, Any]
) -> None:
    from analysis.projection import to_metres
    from geo_service.services.phone_grid import phone_grid

    deployment = server["app"].state.deployment
    config = phone_grid(deployment)
    runs = config["cells"]["125"]
    listed = {(ix, iy) for iy, a, b in runs for ix in range(a, b + 1)}
    rng = np.random.default_rng(5)
    cells = [sorted(listed)[i] for i in rng.integers(0, len(listed), 150)]
    cells += [(a - 1, iy) for iy, a, _ in runs[:25]] + [(b + 1, iy) for iy, _, b in runs[:25]]
    ids = [f"125:{ix}:{iy}" for ix, iy in cells] + ["125:x:1", "250:1:2:3", "", "1e3:0:0"]
    page, outside, errors = open_page(browser, server)
    shapes = page.evaluate(SHAPES, [config, ids])
    for (ix, iy), (inside, corners, centre) in zip(cells, shapes, strict=False):
        assert inside == ((ix, iy) in listed)
        lat, lon = np.array(corners).T
        x, y = to_metres(lon, lat, crs=deployment.crs)  # the phone's corners, back in metres
        x0, y0 = ix * 125.0, iy * 125.0
        assert np.abs(x - [x0, x0 + 125, x0 + 125, x0]).max() < 1e-3
        assert np.abs(y - [y0, y0, y0 + 125, y0 + 125]).max() < 1e-3
        cx, cy = to_metres([centre[1]], [centre[0]], crs=deployment.crs)
        assert abs(cx[0] - x0 - 62.5) < 1e-3 and abs(cy[0] - y0 - 62.5) < 1e-3
    assert [s[0] for s in shapes[len(cells) :]] == [False] * 4
    assert [s[1] for s in shapes[len(cells) :]] == [None] * 4
    assert errors == [] and outside == [], (errors, outside)
    page.context.close()


def test_a_second_tmerc_deployment_agrees_and_a_null_projection_only_draws(
    browser: Any, server: dict[str, Any], tmp_path: Path
) -> None:
    from geo_service.deployment import Deployment
    from geo_service.services.phone_grid import phone_grid

    other = Deployment(
        make_settings(
            tmp_path, projected_crs=OTHER_TMERC, grid_origin_x_m=1000.25, grid_origin_y_m=-500.5
        )
    )
    config = phone_grid(other)
    assert config["projection"] is not None and config["projection"]["lat_0"] == 49.0
    sizes = sorted(set(config["sizes"].values()))
    points = points_for(other, config, seed=19, n=600)
    page, outside, errors = open_page(browser, server)
    phone_ids = page.evaluate(SNAP_ALL, [config, points.tolist(), sizes])
    want = server_ids(other, points, sizes)
    wrong = sum(a != b for a, b in zip(phone_ids, want, strict=True))
    assert wrong == 0, f"{wrong} of {len(want)} disagreed"
    lambert = phone_grid(Deployment(make_settings(tmp_path / "l", projected_crs="EPSG:3347")))
    assert lambert["projection"] is None
    nothing = page.evaluate(SNAP_ALL, [lambert, points[:20].tolist(), [125]])
    assert nothing == [None] * 20
    # Still squares to tap: their corners from the lattice, to a centimetre or so.
    from analysis.projection import to_metres

    iy, ix, _ = lambert["cells"]["125"][0]
    ids = [f"125:{ix}:{iy}", f"125:{ix - 1}:{iy}"]
    (_, shape, centre), (_, missing, _) = page.evaluate(SHAPES, [lambert, ids])
    assert missing is None
    lat, lon = np.array(shape).T
    x, y = to_metres(lon, lat, crs="EPSG:3347")
    x0, y0 = ix * 125.0, iy * 125.0
    assert np.abs(x - [x0, x0 + 125, x0 + 125, x0]).max() < 0.02
    assert np.abs(y - [y0, y0, y0 + 125, y0 + 125]).max() < 0.02
    cx, cy = to_metres([centre[1]], [centre[0]], crs="EPSG:3347")
    assert abs(cx[0] - x0 - 62.5) < 0.05 and abs(cy[0] - y0 - 62.5) < 0.05
    odd = page.evaluate(
        """(config) => { const g = window.GeoGrid.make(config);
          return [g.snap(NaN, 54, 125), g.snap(-101.9, Infinity, 125), g.snap(-101.9, 54, 0),
                  g.snap(-101.9, 54, 12.5), g.snap(-101.9, 95, 125)]; }""",
        config,
    )
    assert odd == [None] * 5
    assert errors == [] and outside == [], (errors, outside)
    page.context.close()
