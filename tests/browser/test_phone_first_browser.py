"""Phone-first map pages in a real browser, at 360x740 and 1280x800: the legend folds behind
a button, touch targets and text are measured, the map opens on its data, peers are not
offered pages that refuse them, and peers read plain words while managers get details."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser

# The demo server and Chromium of the map tests; this module gets its own server.
server, browser, open_map = maps_browser.server, maps_browser.browser, maps_browser.open_map
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")

SIZES = pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
HOTSPOTS = "/maps/hotspots?kind=needle_report&period=2025-Q2"
TRENDS = "/maps/trends?kind=needle_report&year=2025"
SHORT_TARGETS = """() => [...document.querySelectorAll(
    '.map-header button, .map-header select, .map-header input, .map-header a, .legend-toggle')]
  .filter(e => e.offsetParent !== null)
  .map(e => [e.tagName + ':' + e.textContent.trim().slice(0, 20), e.getBoundingClientRect().height])
  .filter(([, h]) => h < 44)"""
SMALL_TEXT = """() => [...document.querySelectorAll(
    '.map-header *, .map-legend *, .trend-controls *')]
  .filter(e => e.offsetParent !== null && [...e.childNodes].some(
    n => n.nodeType === 3 && n.textContent.trim()))
  .map(e => [e.tagName + ':' + e.textContent.trim().slice(0, 20),
             parseFloat(getComputedStyle(e).fontSize)])
  .filter(([, px]) => px < 14)"""
ZOOMS = """() => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const props = v => v.getLayers()[0].feature.properties || {};
  const outline = Object.values(window).find(v => v instanceof L.GeoJSON
    && v.getLayers().length && !('count' in props(v)) && !('level' in props(v)));
  return [map.getZoom(), map.getBoundsZoom(outline.getBounds())];
}"""


def role(name: str) -> Any:
    from geo_service.auth import Role

    return Role(name)


@SIZES
def test_the_legend_folds_behind_a_44px_button(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, role("peer"), HOTSPOTS, size)
    page.wait_for_selector("path.leaflet-interactive")
    items = page.locator(".map-legend ul")
    button = page.locator(".map-legend summary.legend-toggle")
    assert button.inner_text().strip() == "Legend"
    assert button.bounding_box()["height"] >= 44
    narrow = size[0] < 481
    assert items.is_visible() is not narrow  # folded on a phone, open on a desktop
    button.click()
    assert items.is_visible() is narrow
    button.click()
    assert items.is_visible() is not narrow
    assert errors == [] and outside == []
    page.context.close()


@SIZES
@pytest.mark.parametrize("path", [HOTSPOTS, TRENDS], ids=["hotspots", "trends"])
@pytest.mark.parametrize("role_name", ["peer", "manager"])
def test_targets_are_44px_and_text_14px(
    browser: Any, server: dict[str, Any], role_name: str, path: str, size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, role(role_name), path, size)
    page.wait_for_selector("path.leaflet-interactive")
    if not page.locator(".map-legend ul").is_visible():
        page.locator(".legend-toggle").click()  # measure the legend's text too
    assert page.locator(".map-header select").count() >= 1
    assert page.evaluate(SHORT_TARGETS) == []
    assert page.evaluate(SMALL_TEXT) == []
    # The map opens on the data's squares: closer in than the whole area would be.
    zoom, area_zoom = page.evaluate(ZOOMS)
    assert zoom > area_zoom
    assert errors == [] and outside == []
    page.context.close()


def test_a_peers_index_offers_no_siting(browser: Any, server: dict[str, Any]) -> None:
    for name, offered in (("peer", False), ("planner", True), ("manager", True)):
        context = browser.new_context(viewport={"width": 360, "height": 740})
        page = context.new_page()
        page.goto(f"{server['base']}/signin?next=/maps")
        page.fill("#key", server["keys"][role(name)])
        page.click("button[type=submit]")
        page.wait_for_url("**/maps")
        assert (page.locator("a[href='/maps/siting']").count() == 1) is offered, name
        assert page.locator("a[href='/maps/coverage']").count() == 1
        context.close()


def test_peers_read_plain_words_and_managers_get_details(
    browser: Any, server: dict[str, Any]
) -> None:
    peer, _, errors = open_map(browser, server, role("peer"), HOTSPOTS, (1280, 800))
    legend = peer.locator(".map-legend").inner_text()
    assert "Busier than the streets around it — very sure" in legend
    assert "Quieter than around it" in legend
    assert "confidence" not in legend and "Gi*" not in legend
    assert "April–June 2025" in peer.locator(".map-header h1").inner_text()
    chosen = peer.locator(".map-header select[name=period] option:checked")
    assert chosen.inner_text() == "April–June 2025" and chosen.get_attribute("value") == "2025-Q2"
    assert peer.locator(".legend-details").count() == 0
    assert errors == []
    peer.context.close()
    manager, _, errors = open_map(browser, server, role("manager"), HOTSPOTS, (1280, 800))
    details = manager.locator(".legend-details").inner_text()
    assert "Gi*" in details and "99 % confidence" in details
    assert "Busier than the streets around it" in manager.locator(".map-legend").inner_text()
    assert errors == []
    manager.context.close()
