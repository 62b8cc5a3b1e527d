"""The emerging hot-spot map in a real browser (offline), at phone and desktop sizes: the
squares draw, the legend names the patterns in plain words and folds behind a 44 px button,
a square's popup names its pattern, and nothing loads from another host."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser

server, browser, open_map = maps_browser.server, maps_browser.browser, maps_browser.open_map
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")

PATH = "/maps/emerging?kind=needle_report&lang=en"


@pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
@pytest.mark.parametrize("role_name", ["peer", "manager"])
def test_the_emerging_map_draws_names_and_opens_a_popup(
    browser: Any, server: dict[str, Any], role_name: str, size: tuple[int, int]
) -> None:
    from analysis.emerging import PEER_NAMES
    from geo_service.auth import Role

    page, outside, errors = open_map(browser, server, Role(role_name), PATH, size)
    page.wait_for_selector("path.leaflet-interactive")
    assert page.locator("path.leaflet-interactive").count() >= 2
    toggle = page.locator(".legend-toggle")
    box = toggle.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44
    if not page.locator(".map-legend ul").is_visible():  # folded on a phone: unfold it
        toggle.click()
    assert "newly busy" in page.locator(".map-legend").inner_text()
    toggle.click()  # and fold it away again, off the squares
    # Tap a coloured square (not the area's outline): its popup names its pattern.
    page.locator('path.leaflet-interactive[fill-opacity="0.75"]').first.click(force=True)
    page.wait_for_selector(".leaflet-popup-content")
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert any(name in popup for name in PEER_NAMES.values()), popup
    assert ("trend z" in popup) == (role_name == "manager")
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / f"emerging-{role_name}-{size[0]}x{size[1]}.png"))
    assert errors == [], errors
    assert outside == [], f"requests left the machine: {outside}"
    page.context.close()
