"""The offline base map in a real browser, with every request not to the test server cut.

A hot-spot map and a clean-up map at 360x740 and 1280x800 draw the program's streets under
the squares, inside the viewport, with the area's outline; with tiles configured but
unreachable, the streets still appear; with tiles that load, the streets are never fetched.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser import test_maps_browser as maps_browser

server, browser = maps_browser.server, maps_browser.browser
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")

SIZES = pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
HOTSPOTS = "/maps/hotspots?kind=needle_report"
CLEANUP = "/maps/cleanup?budget=90&teams=2"
UNREACHABLE_TILES = "https://tiles.example.invalid/{z}/{x}/{y}.png"
# A 1x1 grey PNG: a tile that loads.
TILE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)
# The street layer's path: subpaths ("M") Leaflet kept after clipping to the view, and
# whether its box meets the viewport; the outline (grey, unfilled) likewise.
DRAWN = """() => {
  const seen = (e) => {
    if (!e) { return null; }
    const r = e.getBoundingClientRect();
    const meets = r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight;
    return { parts: (e.getAttribute('d') || '').split('M').length - 1, meets: meets,
             shown: getComputedStyle(e).visibility !== 'hidden'
                    && getComputedStyle(e.closest('.leaflet-pane')).display !== 'none' };
  };
  return {
    streets: seen(document.querySelector('.leaflet-streets-pane path.street-base')),
    outline: seen(document.querySelector('.leaflet-overlay-pane path[stroke="#444444"]')),
    offline: document.querySelector('.leaflet-container').classList.contains('offline-base'),
  };
}"""

# Pairs of shown site names whose boxes overlap.
OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll('.leaflet-tooltip.site-name')]
    .filter(e => getComputedStyle(e).visibility !== 'hidden')
    .map(e => e.getBoundingClientRect());
  let n = 0;
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) { n += 1; }
  }));
  return n;
}"""


@pytest.fixture(scope="module")
def tiles_server(server: dict[str, Any]) -> Iterator[str]:
    """The same program and keys, served by an app whose tiles point at a tile host."""
    from geo_service.main import create_app
    from geo_service.settings import Settings

    url = server["store"].engine.url.render_as_string(hide_password=False)
    settings = Settings(database_url=url, map_tiles=UNREACHABLE_TILES, rate_limit_per_key=0,
                        map_tiles_attribution="test tiles")  # fmt: skip
    with maps_browser.running(create_app(settings)) as base:
        yield base


def open_map(
    browser: Any, base: str, key: str, path: str, size: tuple[int, int], *, tiles_load: bool
) -> tuple[Any, list[str], list[str], list[str]]:
    """The page signed in with ``key``; other hosts' requests are cut (``tiles_load``: tile
    requests get a tile instead). Returns the page, outside requests, errors, and the
    requests made for the streets."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    outside: list[str] = []
    errors: list[str] = []
    streets: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(base):
            if "/maps/streets.json" in url:
                streets.append(url)
            route.continue_()
        elif tiles_load and url.startswith("https://tiles.example.invalid/"):
            route.fulfill(status=200, content_type="image/png", body=TILE_PNG)
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/signin?next={quote(path)}")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}*")
    page.wait_for_selector(".leaflet-container")
    return page, outside, errors, streets


def assert_streets_drawn(page: Any) -> None:
    page.wait_for_selector(".leaflet-streets-pane path.street-base", state="attached")
    drawn = page.evaluate(DRAWN)
    assert drawn["offline"]
    streets, outline = drawn["streets"], drawn["outline"]
    assert streets["meets"] and streets["shown"]
    assert streets["parts"] >= 20, f"only {streets['parts']} streets in view"
    assert outline is not None and outline["meets"] and outline["shown"] and outline["parts"] >= 1


@SIZES
@pytest.mark.parametrize("path", [HOTSPOTS, CLEANUP], ids=["hotspots", "cleanup"])
def test_with_no_tiles_the_streets_outline_and_site_names_are_drawn(
    browser: Any, server: dict[str, Any], path: str, size: tuple[int, int]
) -> None:
    from geo_service.auth import Role

    key = server["keys"][Role.PEER]
    page, outside, errors, fetched = open_map(browser, server["base"], key, path, size,
                                              tiles_load=False)  # fmt: skip
    assert_streets_drawn(page)
    # The squares (or the route) still draw on top, and nothing left the machine.
    assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() >= 2
    assert len(fetched) == 1 and "?v=" in fetched[0]
    if path == HOTSPOTS:  # its service sites are shown: each named beside its circle
        names = page.locator(".leaflet-tooltip.site-name")
        assert names.count() >= 1
        font = names.first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert font >= 14
        page.wait_for_timeout(100)
        assert page.evaluate(OVERLAPS) == 0, "site names cover each other"
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    name = f"streets-{path.split('?')[0].rsplit('/', 1)[1]}-{size[0]}x{size[1]}.png"
    page.screenshot(path=str(maps_browser.SHOTS / name))
    assert errors == [], errors
    assert outside == [], f"requests left the machine: {outside}"
    page.context.close()


@SIZES
@pytest.mark.parametrize("path", [HOTSPOTS, CLEANUP], ids=["hotspots", "cleanup"])
def test_tiles_that_fail_fall_back_to_the_streets(
    browser: Any,
    server: dict[str, Any],
    tiles_server: str,
    path: str,
    size: tuple[int, int],
) -> None:
    from geo_service.auth import Role

    key = server["keys"][Role.PEER]
    page, outside, errors, fetched = open_map(browser, tiles_server, key, path, size,
                                              tiles_load=False)  # fmt: skip
    assert_streets_drawn(page)
    assert outside and all(u.startswith("https://tiles.example.invalid/") for u in outside)
    assert len(fetched) == 1
    # The only errors are the cut tiles' own.
    assert all("ERR_FAILED" in e or "Failed to load resource" in e for e in errors), errors
    page.context.close()


def test_tiles_that_load_need_no_streets(
    browser: Any, server: dict[str, Any], tiles_server: str
) -> None:
    from geo_service.auth import Role

    key = server["keys"][Role.PEER]
    page, outside, errors, fetched = open_map(browser, tiles_server, key, HOTSPOTS,
                                              (360, 740), tiles_load=True)  # fmt: skip
    page.wait_for_selector(".leaflet-tile-loaded")
    page.wait_for_timeout(5000)  # past the script's wait for a first tile
    assert fetched == [] and page.locator("path.street-base").count() == 0
    assert not page.evaluate(DRAWN)["offline"]
    assert outside == [] and errors == [], (outside, errors)
    page.context.close()
