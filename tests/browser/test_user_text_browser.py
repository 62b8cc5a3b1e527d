"""Hostile user text in a real browser: every name, address, note and opening-hours comment a
key holder can store is shown as text on every map page, and never runs.

Payloads go in through the API (sites, candidates, exclusions); each map page is opened by
the roles that see it. A payload that ran would set ``window.__pwned``, open a dialog, raise
a page error or, through a broken script, leave the map undrawn.
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from tests.browser import test_maps_browser as maps_browser
from tests.geo_service.test_maps import PAYLOADS  # the same hostile names at both levels

if TYPE_CHECKING:
    from playwright.sync_api import Dialog

# The demo server and Chromium of the map tests; this module gets its own server.
server, browser, open_map = maps_browser.server, maps_browser.browser, maps_browser.open_map
CHROMIUM = maps_browser.CHROMIUM

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")

CENTRE = (-101.8779, 54.7682)
EVIL = "http://127.0.0.1:9999"  # another port of the same host: the same site for cookies

# Every label the page binds, opened on the map as a viewer would, and its text as shown.
SHOWN_LABELS = """() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const entries = JSON.parse(document.getElementById("map-labels").textContent);
  const shown = [];
  for (const entry of entries) {
    const layer = window[entry.layer];
    if (!layer._map) { map.addLayer(layer); }
    for (const kind of ["Tooltip", "Popup"]) {
      const bound = layer["get" + kind]();
      if (!bound) { continue; }
      layer["open" + kind]();
      shown.push(bound.getElement() ? bound.getElement().textContent : "");
      layer["close" + kind]();
    }
  }
  return shown;
}"""


def _post(server: dict[str, Any], role: Any, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        server["base"] + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {server['keys'][role]}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        result = json.load(answer)
    assert result["accepted"] == len(body["features"]), result


def _point(lon: float, lat: float, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": properties,
    }


@pytest.fixture(scope="module")
def hostile(server: dict[str, Any]) -> dict[str, list[str]]:
    """Sites, candidates and exclusions whose every text field holds a payload."""
    from geo_service.auth import Role

    lon0, lat0 = CENTRE
    names: dict[str, list[str]] = {"sites": [], "candidates": [], "exclusions": [], "hours": []}
    sites, candidates, exclusions = [], [], []
    for i, payload in enumerate(PAYLOADS):
        site, candidate = f"Site {i} {payload} end", f"Candidate {i} {payload} end"
        exclusion = f"Exclusion {i} {payload} end"
        comment = f"ring {i} {payload.replace(chr(34), chr(39))} end"  # no " in a comment
        names["sites"].append(site)
        names["candidates"].append(candidate)
        names["exclusions"].append(exclusion)
        names["hours"].append(comment)
        sites.append(
            _point(
                lon0 + 0.0012 * i,
                lat0 + 0.0015,
                name=site,
                site_type="pharmacy",
                services=["naloxone", "needles"],
                address=f"{i} {payload} Street",
                opening_hours=f'Mo-Su 08:00-20:00 "{comment}"',
            )
        )
        spot = (lon0 - 0.004 + 0.0015 * i, lat0 - 0.002)
        candidates.append(
            _point(*spot, name=candidate, candidate_type="any", notes=f"note {payload}")
        )
        # Every other exclusion sits on a candidate, so its name shows in the reason why.
        where = spot if i % 2 == 0 else (lon0 + 0.002 * i, lat0 + 0.004)
        exclusions.append(_point(*where, name=exclusion, exclusion_type="school", buffer_m=100))
    _post(server, Role.MANAGER, "/v1/sites", {"type": "FeatureCollection", "features": sites})
    for path, features in (("/v1/candidates", candidates), ("/v1/exclusions", exclusions)):
        _post(server, Role.PLANNER, path, {"type": "FeatureCollection", "features": features})
    return names


PAGES = [
    ("hotspots", "/maps/hotspots?kind=needle_report", ["peer", "planner", "manager"]),
    ("trends", "/maps/trends?kind=needle_report", ["peer", "manager"]),
    ("cleanup", "/maps/cleanup?budget=90&teams=2", ["peer", "manager"]),
    ("coverage", "/maps/coverage?service=naloxone&kind=overdose&minutes=10", ["peer", "manager"]),
    ("siting", "/maps/siting?p=3", ["planner", "manager"]),
]
CASES = [(name, path, role) for name, path, roles in PAGES for role in roles]


@pytest.mark.parametrize(
    ("name", "path", "role_name"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_hostile_text_shows_literally_and_never_runs(
    browser: Any,
    server: dict[str, Any],
    hostile: dict[str, list[str]],
    name: str,
    path: str,
    role_name: str,
) -> None:
    from geo_service.auth import Role

    page, outside, errors = open_map(browser, server, Role(role_name), path, (1280, 800))
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.wait_for_selector(".leaflet-pane path.leaflet-interactive")
    assert page.locator(".leaflet-map-pane").count() == 1
    assert page.locator(".map-legend").is_visible()
    shown = page.evaluate(SHOWN_LABELS)
    page.wait_for_timeout(300)  # an injected <img onerror> would have fired by now
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == [] and errors == [], (dialogs, errors)
    assert outside == [], f"requests left the machine: {outside}"
    expected = hostile["candidates"] + hostile["exclusions"] if name == "siting" else []
    expected += hostile["sites"] + hostile["hours"] if name == "coverage" else []
    expected += hostile["sites"] if name in ("hotspots", "trends", "cleanup") else []
    for text in expected:
        assert any(text in label for label in shown), f"{text!r} not shown on {name}"
    if name == "cleanup":
        options = page.eval_on_selector_all(
            "select[name=start_site] option", "os => os.map(o => o.textContent)"
        )
        assert set(hostile["sites"]) <= set(options)
    if name == "siting":
        listed = page.eval_on_selector(".ranking", "e => e.textContent")
        # Every candidate is ranked or left out, naming an exclusion it sits in.
        assert [t for t in hostile["candidates"] if t not in listed] == []
        assert sum(t in listed for t in hostile["exclusions"]) >= 2
    page.context.close()


def _needles_logged(server: dict[str, Any]) -> int:
    with server["store"].engine.begin() as conn:
        total = conn.execute(
            sa.text("SELECT COALESCE(SUM(count), 0) FROM events WHERE kind = 'cleanup'")
        ).scalar_one()
    return int(total)


def test_a_page_on_another_port_cannot_log_a_cleanup_or_sign_out(
    browser: Any, server: dict[str, Any]
) -> None:
    from geo_service.auth import Role

    page, _, errors = open_map(browser, server, Role.PEER, "/maps/cleanup?budget=90", (1280, 800))
    stop = page.eval_on_selector(".route-list input[name=stop]", "e => e.value")
    token = page.eval_on_selector("form.route-list input[name=csrf_token]", "e => e.value")
    before = _needles_logged(server)
    # The worst case: the other page even knows the form token; its origin still gives it away.
    forged = (
        f'<form id="f" method="post" action="{server["base"]}/maps/cleanup/log">'
        f'<input name="stop" value="{stop}"><input name="needles" value="777">'
        f'<input name="csrf_token" value="{token}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    page.context.route(f"{EVIL}/**", lambda r: r.fulfill(content_type="text/html", body=forged))
    with page.expect_response(lambda r: r.url.endswith("/maps/cleanup/log")) as posted:
        page.goto(f"{EVIL}/")
    assert posted.value.status == 403
    assert _needles_logged(server) == before
    # Sign-out from another port is refused too; the session still opens the maps.
    signout = f'<form id="f" method="post" action="{server["base"]}/signout"></form>' + (
        '<script>document.getElementById("f").submit()</script>'
    )
    page.context.unroute(f"{EVIL}/**")
    page.context.route(f"{EVIL}/**", lambda r: r.fulfill(content_type="text/html", body=signout))
    with page.expect_response(lambda r: r.url.endswith("/signout")) as posted:
        page.goto(f"{EVIL}/")
    assert posted.value.status == 403
    page.goto(f"{server['base']}/maps")
    assert page.url.endswith("/maps")
    # The service's own sign-out button works.
    page.click("form[action='/signout'] button")
    page.wait_for_url("**/signin")
    page.goto(f"{server['base']}/maps")
    assert "/signin" in page.url
    assert [e for e in errors if "403" not in e] == []
    page.context.close()
