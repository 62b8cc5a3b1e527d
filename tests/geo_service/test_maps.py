"""Map pages without a browser: sign-in, self-hosting, CSP, and that pages leak nothing."""

from __future__ import annotations

import copy
import dataclasses
import html
import json
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
from geo_service.services.hotspots import HotspotCache
from geo_service.web.session import safe_next
from maps.base import (
    INLINE_SCRIPT,
    OFF_HOST,
    MapError,
    Tiles,
    base_map,
    inline_script_hashes,
    json_for_html,
    render,
)
from maps.cleanup import CleanupPage, cleanup_map
from maps.packing import unpacked_layers
from maps.records import Site
from tests.conftest import bearer, collection, demo_town, make_settings
from tests.geo_service.test_hotspots_api import town_events
from tests.maps.routes import route_record

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
    assert safe_next(target) == expected


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


def drawn(page: str, name: str) -> set[int]:
    """Every value of property ``name`` the page holds: spelt out, or in a packed layer."""
    spelt = {int(n) for n in re.findall(rf'"{name}":\s*(\d+)', page)}
    packed = {
        int(f["properties"][name])
        for layer in unpacked_layers(page).values()
        for f in layer
        if name in f["properties"]
    }
    return spelt | packed


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
    counts = drawn(page, "count")
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
    counts = drawn(page, "count")
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
    shown = drawn(page, "events")
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


# -- user text is data, never code -----------------------------------------------------------

PAYLOADS = (
    "${alert(1)}",
    "${window.__pwned=1}",
    "`",
    "</script><script>window.__pwned=1</script>",
    "\"'",
    "\u2028",
    "<img src=x onerror=window.__pwned=1>",
    "${'\"}",  # a quote inside ${: a syntax error that once blanked every map
)
HOSTILE = " ".join(PAYLOADS)
MAP_PAGES = {
    "hotspots": "/maps/hotspots?kind=needle_report",
    "trends": "/maps/trends?kind=needle_report",
    "cleanup": "/maps/cleanup?budget=90&teams=2",
    "coverage": "/maps/coverage?service=naloxone&kind=overdose&minutes=10",
    "siting": "/maps/siting?p=3",
}
LABELS = re.compile(r'<script type="application/json" id="map-labels">(.*?)</script>', re.S)


def test_json_for_a_data_island_cannot_end_it_or_break_a_line() -> None:
    text = json_for_html([HOSTILE, "&\u2029"])
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == [HOSTILE, "&\u2029"]


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    with demo_town(tmp_path) as loaded:
        yield loaded


def rename_all_user_text(app: FastAPI, text: str) -> None:
    """Give every site, candidate and exclusion a new name (and every site's hours a
    comment), as a key holder could, leaving places and hours as they were."""
    comment = text.replace('"', "'")  # an opening_hours comment cannot hold a double quote
    with app.state.store.engine.begin() as conn:
        for site_id, hours in conn.execute(sa.text("SELECT id, opening_hours FROM sites")).all():
            conn.execute(
                sa.text("UPDATE sites SET name = :name, opening_hours = :hours WHERE id = :id"),
                {
                    "name": f"{text} {site_id}",
                    "hours": f'{hours} "{comment}"' if hours else None,
                    "id": site_id,
                },
            )
        conn.execute(sa.text("UPDATE context_features SET name = :name || ' ' || id"),
                     {"name": text})  # fmt: skip
    # Cached pages were built with the old names.
    app.state.hotspot_cache = HotspotCache(100)
    app.state.services = dataclasses.replace(app.state.services, hotspots=app.state.hotspot_cache)


def test_user_text_never_changes_a_page_script_or_its_policy(demo: Any) -> None:
    app, client = demo["app"], demo["client"]
    manager = demo["keys"][Role.MANAGER]
    plain = {name: client.get(path, headers=manager) for name, path in MAP_PAGES.items()}
    rename_all_user_text(app, HOSTILE)
    for name, path in MAP_PAGES.items():
        hostile = client.get(path, headers=manager)
        assert plain[name].status_code == hostile.status_code == 200, name
        assert "leaflet" in hostile.text and "cannot be shown" not in hostile.text, name
        scripts = INLINE_SCRIPT.findall(hostile.text)
        if name != "cleanup":  # the route solver has a time limit: its paths may differ
            assert scripts and scripts == INLINE_SCRIPT.findall(plain[name].text), name
            policy = hostile.headers["content-security-policy"]
            assert policy == plain[name].headers["content-security-policy"], name
        assert not any("pwned" in s or "alert(" in s for s in scripts), name
        # The names did change: as escaped HTML inside JSON data, never as markup.
        labels = json.loads(LABELS.search(hostile.text).group(1))  # type: ignore[union-attr]
        shown = " ".join(e.get("tooltip", "") + e.get("popup", "") for e in labels)
        assert html.escape(HOSTILE) in shown, name
        assert LABELS.search(plain[name].text).group(1) != LABELS.search(hostile.text).group(1)  # type: ignore[union-attr]
        assert "<img src=x" not in hostile.text and "<script>window" not in hostile.text, name
    # Opening-hours comments reach the coverage map's site tooltips, as data too.
    coverage = client.get(MAP_PAGES["coverage"], headers=manager).text
    labels = json.loads(LABELS.search(coverage).group(1))  # type: ignore[union-attr]
    comment = html.escape(HOSTILE.replace('"', "'"))
    assert any(comment in e.get("tooltip", "") for e in labels)


def test_a_route_page_script_does_not_change_with_site_names(demo: Any) -> None:
    client, manager = demo["client"], demo["keys"][Role.MANAGER]
    route = client.get("/maps/cleanup.geojson?budget=90&teams=2", headers=manager).json()
    assert len(route["features"]) > 4

    def page(name: str) -> str:
        named = copy.deepcopy(route)
        for f in named["features"]:
            if "name" in f["properties"]:
                f["properties"]["name"] = name
        site = Site(name=name, services=["needles"], lon=-101.87, lat=54.77, today=name)
        area = route["features"][0]["geometry"]
        bounds = (-101.9, 54.75, -101.85, 54.78)
        built = CleanupPage("Route", bounds, area, route=route_record(named), sites=[site])
        return cleanup_map(built, tiles=Tiles(None))

    plain, hostile = page("Drop-in"), page(HOSTILE)
    assert INLINE_SCRIPT.findall(plain) == INLINE_SCRIPT.findall(hostile)
    assert html.escape(HOSTILE) in json.loads(LABELS.search(hostile).group(1))[-1]["tooltip"]  # type: ignore[union-attr]


# -- browser changes: same origin and the session's form token -----------------------------

CROSS_ORIGIN = [
    {"Origin": "http://127.0.0.1:9999"},  # another port of the same host
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {},  # neither header: a cookie request must say where it comes from
]


def signed_in_browser(demo: Any, role: Role) -> TestClient:
    browser = TestClient(demo["app"])  # a cookie jar of its own
    key = demo["keys"][role]["Authorization"].removeprefix("Bearer ")
    assert sign_in(browser, key).status_code == 303
    return browser


def needles_logged(demo: Any) -> int:
    with demo["store"].engine.begin() as conn:
        total = conn.execute(
            sa.text("SELECT COALESCE(SUM(count), 0) FROM events WHERE kind = 'cleanup'")
        ).scalar_one()
    return int(total)


def cleanup_form(browser: TestClient) -> dict[str, Any]:
    page = browser.get("/maps/cleanup?budget=90&teams=1").text
    stops = re.findall(r'name="stop" value="([^"]+)"', page)
    assert stops, "the route has no stops to log"
    return {"stop": stops[:1], "needles": ["777"], "csrf_token": form_token_in(page),
            "budget": "90", "teams": "1"}  # fmt: skip


def test_a_cleanup_log_from_another_origin_is_refused_and_stores_nothing(demo: Any) -> None:
    browser = signed_in_browser(demo, Role.PEER)
    form = cleanup_form(browser)
    before = needles_logged(demo)
    for headers in CROSS_ORIGIN:
        refused = browser.post("/maps/cleanup/log", data=form, headers=headers,
                               follow_redirects=False)  # fmt: skip
        assert refused.status_code == 403, headers
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "777" not in refused.text and form["csrf_token"] not in refused.text
    assert needles_logged(demo) == before
    same_origin = [ORIGIN, {"Sec-Fetch-Site": "same-origin"},
                   {"Origin": "null", "Sec-Fetch-Site": "same-origin"}]  # fmt: skip
    for headers in same_origin:
        logged = browser.post("/maps/cleanup/log", data=form, headers=headers,
                              follow_redirects=False)  # fmt: skip
        assert logged.status_code == 303 and "logged=1" in logged.headers["location"]
    assert needles_logged(demo) == before + 3 * 777


def test_a_cleanup_log_without_this_sessions_token_is_refused(demo: Any) -> None:
    browser = signed_in_browser(demo, Role.PEER)
    other = signed_in_browser(demo, Role.PEER)  # the same role, another sign-in
    form = cleanup_form(browser)
    before = needles_logged(demo)
    for token in (None, "", "0" * 64, form_token_in(other.get("/maps").text)):
        sent = {k: v for k, v in form.items() if k != "csrf_token"}
        if token is not None:
            sent["csrf_token"] = token
        refused = browser.post("/maps/cleanup/log", data=sent, headers=ORIGIN,
                               follow_redirects=False)  # fmt: skip
        assert refused.status_code == 403 and "out of date" in refused.text
        assert "777" not in refused.text
    assert needles_logged(demo) == before


def test_a_bearer_key_is_not_asked_for_an_origin_or_a_token(demo: Any) -> None:
    browser = signed_in_browser(demo, Role.PEER)
    form = {k: v for k, v in cleanup_form(browser).items() if k != "csrf_token"}
    before = needles_logged(demo)
    api = TestClient(demo["app"])
    logged = api.post("/maps/cleanup/log", data=form, headers=demo["keys"][Role.PEER],
                      follow_redirects=False)  # fmt: skip
    assert logged.status_code == 303 and needles_logged(demo) == before + 777


def test_sign_in_needs_this_origin_and_its_own_forms_token(demo: Any) -> None:
    key = demo["keys"][Role.PEER]["Authorization"].removeprefix("Bearer ")
    browser = TestClient(demo["app"])
    token = form_token_in(browser.get("/signin").text)
    attacker = TestClient(demo["app"])
    their_token = form_token_in(attacker.get("/signin").text)
    attempts = [({"Origin": "http://127.0.0.1:9999"}, token), ({}, token), (ORIGIN, None),
                (ORIGIN, "0" * 64), (ORIGIN, their_token)]  # fmt: skip
    for headers, sent in attempts:
        data = {"key": key, "next": "/maps"} | ({"csrf_token": sent} if sent is not None else {})
        refused = browser.post("/signin", data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403, (headers, sent)
        assert "gs_session" not in refused.headers.get("set-cookie", "")
        assert key not in refused.text
    assert browser.get("/maps", follow_redirects=False).status_code == 303
    signed = browser.post("/signin", data={"key": key, "next": "/maps", "csrf_token": token},
                          headers=ORIGIN, follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303
    assert browser.get("/maps", follow_redirects=False).status_code == 200


def test_sign_out_needs_the_sessions_token(demo: Any) -> None:
    browser = signed_in_browser(demo, Role.PLANNER)
    refused = browser.post("/signout", headers=ORIGIN, follow_redirects=False)
    assert refused.status_code == 403
    token = form_token_in(browser.get("/maps").text)
    elsewhere = {"Origin": "http://127.0.0.1:9999"}
    cross = browser.post("/signout", data={"csrf_token": token}, headers=elsewhere,
                         follow_redirects=False)  # fmt: skip
    assert cross.status_code == 403
    assert browser.get("/maps", follow_redirects=False).status_code == 200
    assert sign_out(browser).status_code == 303
    assert browser.get("/maps", follow_redirects=False).status_code == 303


def test_pages_hold_an_empty_token_slot_until_served(demo: Any) -> None:
    # A cached page is shared by viewers of one role: it must carry nobody's token.
    first, second = signed_in_browser(demo, Role.PEER), signed_in_browser(demo, Role.PEER)
    path = MAP_PAGES["hotspots"]
    mine, theirs = first.get(path).text, second.get(path).text
    assert form_token_in(mine) != form_token_in(theirs) and form_token_in(mine)
    assert form_token_in(mine) not in theirs


DOWNLOADS = ["/maps/hotspots.csv", "/maps/hotspots.geojson", "/maps/cleanup.gpx?budget=60"]


@pytest.mark.parametrize("path", [*MAP_PAGES.values(), "/maps", *DOWNLOADS])
def test_cookie_served_pages_and_downloads_are_never_stored(demo: Any, path: str) -> None:
    browser = signed_in_browser(demo, Role.MANAGER)
    answer = browser.get(path)
    assert answer.status_code == 200, path
    assert answer.headers["cache-control"] == "no-store"


def test_the_sign_in_form_and_its_refusals_are_never_stored(demo: Any) -> None:
    browser = TestClient(demo["app"])
    form = browser.get("/signin")
    assert "gs_signin=" in form.headers["set-cookie"]
    assert form.headers["cache-control"] == "no-store"
    refused = browser.post("/signin", data={"key": "x"}, headers=ORIGIN)
    assert refused.status_code == 403 and refused.headers["cache-control"] == "no-store"
    # Shared static files stay cacheable even when the browser sends its cookies.
    script = browser.get("/static/map-labels.js")
    assert script.status_code == 200 and script.headers.get("cache-control") != "no-store"
