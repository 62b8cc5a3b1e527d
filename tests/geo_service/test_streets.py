"""The program's streets for the offline base map, served and named by every map page.

The streets are exactly the imported network's nodes, simplified (2 m) and rounded (1e-5
degrees); they carry nothing from events (reports change neither their bytes nor their
tag); they live apart from the pages, whose coordinates stay grid corners and public points;
and they are cached once per network version while every other signed-in answer stays
``no-store``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from analysis.projection import to_metres
from geo_service.auth import Role, create_key
from geo_service.demo import demo_streets
from geo_service.main import create_app
from geo_service.services.streets import TOLERANCE_M
from geo_service.storage import NetworkRows
from maps.streets import SCALE, decode_streets
from tests.conftest import bearer, collection, demo_town, feature, make_settings
from tests.geo_service.test_maps import PAIR, lattice_or_known

ISLAND = re.compile(r'id="map-streets">(.*?)</script>')
KEPT = "private, max-age=31536000, immutable"
# Every map page a role can open, with the roles that open it.
PAGES = [
    ("/maps/hotspots?kind=needle_report", (Role.PEER, Role.PLANNER, Role.MANAGER)),
    ("/maps/trends?kind=needle_report", (Role.PEER, Role.MANAGER)),
    ("/maps/coverage?service=needles&kind=needle_report&minutes=10", (Role.PEER,)),
    ("/maps/siting?p=2", (Role.PLANNER, Role.MANAGER)),
    ("/maps/cleanup?budget=90&teams=2", (Role.PEER,)),
]


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_town(tmp_path_factory.mktemp("streets")) as loaded:
        yield loaded


def streets_url(page: str) -> str | None:
    found = ISLAND.search(page)
    assert found, "the page has no streets island"
    url = re.search(r'"streets":(null|"([^"]+)")', found.group(1))
    assert url
    return url.group(2)


def network_of(town: dict[str, Any]) -> NetworkRows:
    loaded = town["store"].load_network(town["program_id"])
    assert loaded is not None
    return loaded[1]  # type: ignore[no-any-return]


def fetch(town: dict[str, Any], url: str, **headers: str) -> Any:
    return town["client"].get(url, headers={**town["keys"][Role.PEER], **headers})


@pytest.mark.parametrize(("path", "roles"), PAGES, ids=[p[0].split("?")[0] for p in PAGES])
def test_every_map_page_names_the_same_tagged_streets(
    town: dict[str, Any], path: str, roles: tuple[Role, ...]
) -> None:
    info = town["store"].network_info(town["program_id"])
    for role in roles:
        answer = town["client"].get(path, headers=town["keys"][role])
        assert answer.status_code == 200, (path, role, answer.text[:300])
        url = streets_url(answer.text)
        assert url is not None and url.startswith(f"/maps/streets.json?v={info.version}-")
        assert answer.headers["cache-control"] == "no-store"  # the page itself is personal


def test_the_streets_are_the_networks_own_nodes_and_draw_every_edge(
    town: dict[str, Any],
) -> None:
    page = town["client"].get("/maps/hotspots", headers=town["keys"][Role.PEER]).text
    url = streets_url(page)
    assert url
    lines = decode_streets(fetch(town, url).content)
    rows = network_of(town)
    nodes = set(zip(np.round(rows.lon * SCALE).astype(int).tolist(),
                    np.round(rows.lat * SCALE).astype(int).tolist(), strict=True))  # fmt: skip
    drawn = [(round(lon * SCALE), round(lat * SCALE)) for line in lines for lon, lat in line]
    assert drawn and set(drawn) <= nodes  # no point that is not an imported node
    assert len(drawn) < len(rows.u) * 2  # and fewer than the edges' ends: simplified
    # Every edge of the network lies on the drawn streets, within the simplification's
    # tolerance plus the rounding (half of 1e-5 degrees, under a metre here).
    crs = town["deployment"].crs
    drawn_m = shapely.MultiLineString(
        [np.column_stack(to_metres(*np.array(line).T, crs=crs)) for line in lines]
    )
    x, y = to_metres(rows.lon, rows.lat, crs=crs)
    for px, py in ((x[rows.u], y[rows.u]), (x[rows.v], y[rows.v]),
                   ((x[rows.u] + x[rows.v]) / 2, (y[rows.u] + y[rows.v]) / 2)):  # fmt: skip
        assert shapely.distance(shapely.points(px, py), drawn_m).max() <= TOLERANCE_M + 1.0


def test_reports_change_neither_the_streets_nor_their_tag(town: dict[str, Any]) -> None:
    client, keys = town["client"], town["keys"]
    before_page = client.get("/maps/hotspots", headers=keys[Role.PEER]).text
    url = streets_url(before_page)
    assert url
    before = fetch(town, url, **{"Accept-Encoding": "identity"})
    version = town["store"].data_version(town["program_id"])
    reports = [feature(-101.87 + 0.001 * i, 54.77, count=1) for i in range(30)]
    sent = client.post("/v1/events", json=collection(*reports), headers=keys[Role.MANAGER])
    assert sent.status_code == 201, sent.text
    assert town["store"].data_version(town["program_id"]) > version  # the data did change
    for role in (Role.PEER, Role.MANAGER):
        page = client.get("/maps/hotspots", headers=keys[role]).text
        assert streets_url(page) == url
    after = fetch(town, url, **{"Accept-Encoding": "identity"})
    assert after.content == before.content and after.headers["etag"] == before.headers["etag"]
    # One set of streets for every audience: nothing to compare between roles.
    for role in (Role.PLANNER, Role.MANAGER, Role.STEWARD):
        theirs = client.get(url, headers={**keys[role], "Accept-Encoding": "identity"})
        assert theirs.content == before.content and theirs.headers["etag"] == before.headers["etag"]


def test_pages_hold_no_street_and_their_coordinates_stay_grid_corners(
    town: dict[str, Any],
) -> None:
    client, keys = town["client"], town["keys"]
    page = client.get("/maps/hotspots", headers=keys[Role.PEER]).text
    (island,) = ISLAND.findall(page)
    assert not re.search(r"\d+\.\d+", island)  # names and an address: no coordinates
    chosen = re.search(r'<option value="([^"]+)" selected', page)
    assert chosen, "the page names no period"
    query = f"kind=needle_report&method=dbscan&period={chosen.group(1)}"
    clusters = client.get(f"/v1/hotspots?{query}", headers=keys[Role.PEER]).json()
    known = {
        (round(s.lon, 4), round(s.lat, 4)) for s in town["store"].list_sites(town["program_id"])
    }
    known |= {(round(c["properties"]["centroid"][0], 4), round(c["properties"]["centroid"][1], 4))
              for c in clusters["features"]}  # fmt: skip
    area = town["deployment"].service_area
    known |= {(round(x, 4), round(y, 4)) for x, y in area.exterior.coords}
    west, south, east, north = area.bounds
    known |= {(round(west, 4), round(south, 4)), (round(east, 4), round(north, 4))}
    pairs = [(float(a), float(b)) for a, b in PAIR.findall(page)]
    assert len(pairs) > 50
    assert lattice_or_known(pairs, town["app"], known) == []
    rows = network_of(town)
    street_points = {(round(a, 5), round(b, 5)) for a, b in zip(rows.lon, rows.lat, strict=True)}
    shown = {(round(a, 5), round(b, 5)) for a, b in pairs}
    shown |= {(lon, lat) for lat, lon in shown}  # Leaflet's [lat, lon] too
    assert not (shown & street_points)


def test_streets_are_kept_by_the_browser_once_per_network(town: dict[str, Any]) -> None:
    url = streets_url(town["client"].get("/maps/hotspots", headers=town["keys"][Role.PEER]).text)
    assert url
    plain = fetch(town, url, **{"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["cache-control"] == KEPT
    assert "content-encoding" not in plain.headers
    tag = plain.headers["etag"].strip('"')
    zipped = fetch(town, url, **{"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == plain.content
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
    assert zipped.headers["etag"] == f'"{tag}.gz"' and zipped.headers["vary"] == "Accept-Encoding"
    for held in (f'"{tag}"', f'W/"{tag}.gz"'):
        again = fetch(town, url, **{"If-None-Match": held})
        assert again.status_code == 304 and again.content == b""
    # Without the current tag (an old page, a typed address): served, but to revalidate.
    for address in ("/maps/streets.json", "/maps/streets.json?v=0-old",
                    "/maps/streets.json?v=%3C/script%3E%60%24%7B%7D"):  # fmt: skip
        answer = fetch(town, address)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "private, no-cache"
        assert answer.content == plain.content and "</script>" not in str(answer.headers)
    too_long = fetch(town, "/maps/streets.json?v=" + "x" * 100)
    assert too_long.status_code == 422 and "xxxx" not in too_long.text
    assert too_long.headers["content-type"] == "application/problem+json"
    # Signed out: no streets (the sign-in page instead).
    anonymous = town["client"].get(url, follow_redirects=False)
    assert anonymous.status_code in (303, 307, 401) and b"lines" not in anonymous.content


def test_a_new_network_gets_a_new_tag_and_old_pages_revalidate(town: dict[str, Any]) -> None:
    store, program_id = town["store"], town["program_id"]
    old_url = streets_url(town["client"].get("/maps/trends", headers=town["keys"][Role.PEER]).text)
    assert old_url
    old = fetch(town, old_url).content
    rows = demo_streets(town["deployment"])
    half = NetworkRows(rows.lon, rows.lat, rows.u[::2], rows.v[::2], rows.length_m[::2])
    store.replace_network(program_id, source="half the streets", rows=half, area_share=1.0)
    new_url = streets_url(town["client"].get("/maps/trends", headers=town["keys"][Role.PEER]).text)
    assert new_url and new_url != old_url
    stale = fetch(town, old_url)
    assert stale.headers["cache-control"] == "private, no-cache" and stale.content != old
    assert stale.content == fetch(town, new_url).content
    assert len(decode_streets(stale.content)) < len(decode_streets(old))


def test_without_a_network_pages_name_no_streets_and_the_address_says_why(
    tmp_path: Path,
) -> None:
    app = create_app(make_settings(tmp_path, map_tiles="none"))
    with TestClient(app) as client:
        key = bearer(create_key(app.state.store, program="bare", role=Role.PEER)[1])
        page = client.get("/maps/hotspots", headers=key)
        assert page.status_code == 200 and streets_url(page.text) is None
        missing = client.get("/maps/streets.json", headers=key)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert "network import" in missing.json()["detail"]
