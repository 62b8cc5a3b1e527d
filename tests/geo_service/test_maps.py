"""Map pages without a browser: sign-in, self-hosting, CSP, and that pages leak nothing."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from analysis.projection import to_metres
from geo_service.auth import Role, create_key
from geo_service.main import create_app
from geo_service.routes.maps import _safe_next
from maps.base import OFF_HOST, MapError, Tiles, base_map, inline_script_hashes, render
from tests.conftest import bearer, collection, make_settings
from tests.geo_service.test_hotspots_api import town_events

PERIOD = "2025-Q2"
PAIR = re.compile(r"\[\s*(-?\d{1,3}\.\d+)\s*,\s*(-?\d{1,3}\.\d+)\s*\]")


@pytest.fixture
def town(tmp_path: Path) -> Any:
    app = create_app(make_settings(tmp_path, map_tiles="none"))
    with TestClient(app) as client:
        store = app.state.store
        keys = {role: create_key(store, program="town", role=role)[1] for role in Role}
        rows = town_events()
        extra = create_key(store, program="town", role=Role.MANAGER)[1]
        for part, key in ((rows[::2], keys[Role.MANAGER]), (rows[1::2], extra)):
            assert (
                client.post("/v1/events", json=collection(*part), headers=bearer(key)).status_code
                == 201
            )
        site = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-101.8712, 54.7688]},
            "properties": {
                "name": "Hub",
                "site_type": "hr_supply",
                "services": ["needles"],
                "opening_hours": "Mo-Su 09:00-17:00",
            },
        }
        client.post("/v1/sites", json=collection(site), headers=bearer(keys[Role.MANAGER]))
        yield app, client, keys


ORIGIN = {"Origin": "http://testserver"}  # what a browser sends from this service's pages
FORM_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]*)"')


def form_token_in(page: str) -> str:
    found = FORM_TOKEN.search(page)
    assert found, "the page has no form token field"
    return found.group(1)


def sign_in(client: TestClient, key: str, target: str = "/maps") -> Any:
    """Sign in as a browser does: fetch the form (and its cookie), post it from this origin."""
    token = form_token_in(client.get("/signin").text)
    return client.post(
        "/signin",
        data={"key": key, "next": target, "csrf_token": token},
        headers=ORIGIN,
        follow_redirects=False,
    )


def sign_out(client: TestClient) -> Any:
    token = form_token_in(client.get("/maps").text)
    return client.post(
        "/signout", data={"csrf_token": token}, headers=ORIGIN, follow_redirects=False
    )


# -- signing in ----------------------------------------------------------------------------


def test_maps_send_a_browser_to_sign_in_and_back(
    town: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, client, keys = town
    caplog.set_level(logging.INFO)
    first = client.get(f"/maps/hotspots?kind=needle_report&period={PERIOD}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/signin?next=")
    form = client.get("/signin")
    assert 'type="password"' in form.text and 'method="post"' in form.text
    key = keys[Role.PEER]
    signed = sign_in(client, key, f"/maps/hotspots?kind=needle_report&period={PERIOD}")
    assert signed.status_code == 303 and signed.headers["location"].startswith("/maps/hotspots")
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert key not in cookie
    page = client.get(signed.headers["location"])
    assert page.status_code == 200 and "leaflet" in page.text
    assert key not in page.text and key[3:15] not in caplog.text
    assert sign_out(client).status_code == 303
    after = client.get("/maps", follow_redirects=False)
    assert after.status_code == 303


def test_a_wrong_key_is_refused_without_repeating_it(town: Any) -> None:
    _, client, _ = town
    refused = sign_in(client, "gs_not-a-real-key-at-all")
    assert refused.status_code == 401 and "not-a-real-key" not in refused.text
    assert "set-cookie" not in refused.headers


def test_sessions_expire_and_end_with_a_revoked_key(town: Any) -> None:
    app, client, keys = town
    sign_in(client, keys[Role.PLANNER])
    assert client.get("/maps", follow_redirects=False).status_code == 200
    with app.state.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE sessions SET expires_at = 0"))
    assert client.get("/maps", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("//evil.example/x", "/maps"),
        ("https://evil.example", "/maps"),
        ("/maps/trends?year=2025", "/maps/trends?year=2025"),
        (None, "/maps"),
    ],
)
def test_sign_in_only_returns_to_pages_of_this_service(target: str | None, expected: str) -> None:
    assert _safe_next(target) == expected


# -- self-hosted, CSP ----------------------------------------------------------------------


def test_a_page_that_would_load_from_another_host_is_refused() -> None:
    fmap = base_map((-101.9, 54.7, -101.8, 54.8), tiles=Tiles(None))
    fmap.default_js = [("leaflet", "https://cdn.example.org/leaflet.js")]
    with pytest.raises(MapError, match="other hosts"):
        render(fmap)


@pytest.mark.parametrize(
    "path",
    [
        f"/maps/hotspots?kind=needle_report&period={PERIOD}",
        "/maps/trends?kind=needle_report&year=2025",
        f"/maps/coverage?service=needles&kind=needle_report&period={PERIOD}",
    ],
)
def test_pages_load_only_own_assets_and_allow_only_their_own_scripts(town: Any, path: str) -> None:
    _, client, keys = town
    page = client.get(path, headers=bearer(keys[Role.PEER]))
    assert page.status_code == 200
    assert OFF_HOST.findall(page.text) == []
    for source in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(source).status_code == 200, source
    policy = page.headers["content-security-policy"]
    script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src
    assert all(h in script_src for h in inline_script_hashes(page.text))
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize(
    ("tiles", "origin"),
    [
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"),
        ("https://data.example.org/{z}/{x}/{y}.png", "https://data.example.org"),
    ],
)
def test_the_tile_origin_in_the_policy_is_the_configured_one(
    tmp_path: Path, tiles: str, origin: str
) -> None:
    app = create_app(make_settings(tmp_path, map_tiles=tiles))
    with TestClient(app) as client:
        key = create_key(app.state.store, program="t", role=Role.MANAGER)[1]
        page = client.get(f"/maps/hotspots?period={PERIOD}", headers=bearer(key))
        policy = page.headers["content-security-policy"]
        assert f"img-src 'self' data: {origin};" in policy


def test_online_tiles_are_allowed_by_origin_only(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        key = create_key(app.state.store, program="t", role=Role.MANAGER)[1]
        page = client.get(f"/maps/hotspots?period={PERIOD}", headers=bearer(key))
        img_src = next(
            p for p in page.headers["content-security-policy"].split(";") if "img-src" in p
        )
        assert "https://tile.openstreetmap.org" in img_src


# -- nothing leaks -------------------------------------------------------------------------


def lattice_or_known(
    pairs: list[tuple[float, float]], app: FastAPI, known: set[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Pairs that are neither a grid-cell corner nor a known public point (sites, outline)."""
    deployment = app.state.deployment
    odd = []
    west, south, east, north = deployment.service_area.bounds
    for a, b in pairs:
        lon, lat = (a, b) if a < 0 else (b, a)  # GeoJSON [lon, lat]; Leaflet [lat, lon]
        if not (west - 0.5 < lon < east + 0.5 and south - 0.5 < lat < north + 0.5):
            continue  # not a position (an offset, a size)
        if (round(lon, 4), round(lat, 4)) in known:
            continue
        x, y = to_metres(np.array([lon]), np.array([lat]), crs=deployment.crs)
        off = [abs(v / 125 - round(v / 125)) * 125 for v in (float(x[0]), float(y[0]))]
        if max(off) > 1.0:  # pages round to 5 decimals of a degree, about a metre
            odd.append((lon, lat))
    return odd


@pytest.mark.parametrize("role", [Role.PEER, Role.PLANNER])
def test_a_peer_page_holds_only_released_cells_counts_and_public_points(
    town: Any, role: Role
) -> None:
    app, client, keys = town
    headers = bearer(keys[role])
    page = client.get(f"/maps/hotspots?kind=needle_report&period={PERIOD}", headers=headers).text
    released = client.get(
        f"/v1/published?kind=needle_report&period={PERIOD}", headers=headers
    ).json()
    clusters = client.get(
        f"/v1/hotspots?kind=needle_report&method=dbscan&period={PERIOD}", headers=headers
    ).json()
    allowed_counts = {f["properties"]["count"] for f in released["features"]}
    allowed_counts |= {f["properties"]["count"] for f in clusters["features"]}
    counts = {int(n) for n in re.findall(r'"count":\s*(\d+)', page)}
    assert counts and counts <= allowed_counts
    known = {(-101.8712, 54.7688)}  # the service site, a public place
    # cluster centroids: weighted means of released cells by released counts
    known |= {
        (round(c["properties"]["centroid"][0], 4), round(c["properties"]["centroid"][1], 4))
        for c in clusters["features"]
    }
    area = app.state.deployment.service_area
    known |= {(round(x, 4), round(y, 4)) for x, y in area.exterior.coords}
    west, south, east, north = area.bounds
    known |= {(round(west, 4), round(south, 4)), (round(east, 4), round(north, 4))}
    pairs = [(float(a), float(b)) for a, b in PAIR.findall(page)]
    assert len(pairs) > 50
    assert lattice_or_known(pairs, app, known) == []
    # and no submitted position appears, at any precision the page uses
    for f in town_events():
        lon, lat = f["geometry"]["coordinates"]
        assert f"{lon:.6f}, {lat:.6f}" not in page and f"{lat:.6f}, {lon:.6f}" not in page


def test_trend_pages_for_peers_show_released_month_cells_only(town: Any) -> None:
    _, client, keys = town
    headers = bearer(keys[Role.PEER])
    page = client.get("/maps/trends?kind=needle_report&year=2025", headers=headers).text
    allowed = set()
    for month in ("2025-05", "2025-06"):
        body = client.get(
            f"/v1/published?kind=needle_report&period={month}", headers=headers
        ).json()
        allowed |= {f["properties"]["count"] for f in body["features"]}
    counts = {int(n) for n in re.findall(r'"count":\s*(\d+)', page)}
    assert counts <= allowed
    assert all(n >= 5 for n in counts)


def test_downloads_match_the_api_answer(town: Any) -> None:
    _, client, keys = town
    sign_in(client, keys[Role.PEER])
    geojson = client.get(f"/maps/hotspots.geojson?kind=needle_report&period={PERIOD}")
    api = client.get(
        f"/v1/hotspots?kind=needle_report&period={PERIOD}", headers=bearer(keys[Role.PEER])
    )
    assert geojson.json()["features"] == api.json()["features"]
    table = client.get(f"/maps/hotspots.csv?kind=needle_report&period={PERIOD}").text.splitlines()
    assert table[0].startswith("cell,") and len(table) == len(api.json()["features"]) + 1
    assert "attachment" in geojson.headers["content-disposition"]


def test_the_print_stylesheet_keeps_title_and_legend() -> None:
    css = (Path(__file__).resolve().parents[2] / "geo_service/static/maps.css").read_text()
    block = css[css.index("@media print") :]
    assert ".map-legend" in block and "display: none" in block


def test_a_peer_coverage_map_shows_released_gap_cells_only(town: Any) -> None:
    _, client, keys = town
    headers = bearer(keys[Role.PEER])
    query = f"service=needles&kind=needle_report&minutes=5&period={PERIOD}"
    page = client.get(f"/maps/coverage?{query}", headers=headers).text
    api = client.get(f"/v1/coverage?{query}&top=300", headers=headers).json()
    (result,) = api["results"]
    allowed = {f["properties"]["events"] for f in result["uncovered"]["features"]}
    shown = {int(n) for n in re.findall(r'"events":\s*(\d+)', page)}
    assert shown and shown <= allowed and min(shown) >= 5
    assert "hour-table" in page and page.count("<tr>") >= 8
    # The 9-to-5 hub is open at 10 a.m. on Monday but not at 2 a.m.: its catchment is drawn
    # as open (green) only in the first.
    open_at_10 = client.get(f"/maps/coverage?{query}&hour=10", headers=headers).text
    closed_at_2 = client.get(f"/maps/coverage?{query}&hour=2", headers=headers).text
    assert "Hub: open" in open_at_10 and "Hub: closed" in closed_at_2


def test_siting_maps_are_for_planners_and_managers(town: Any) -> None:
    _, client, keys = town
    path = f"/maps/siting?p=2&period={PERIOD}"
    refused = client.get(path, headers=bearer(keys[Role.PEER])).text
    assert "This map cannot be shown" in refused and "planners and managers" in refused
    assert "leaflet" not in refused.lower()
    page = client.get(path, headers=bearer(keys[Role.PLANNER]))
    assert page.status_code == 200 and "Chosen locker sites (2)" in page.text
    assert OFF_HOST.findall(page.text) == []
