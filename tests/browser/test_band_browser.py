"""The manager's band control and autocorrelation chart in a real browser, at 360x740 and
1280x800: both show, the control is a 44 px target, choosing a band redraws the map at it,
and the page stays within its Content-Security-Policy (no errors, no outside request)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser

server, browser, open_map = maps_browser.server, maps_browser.browser, maps_browser.open_map
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")

SIZES = pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
HOTSPOTS = "/maps/hotspots?kind=needle_report"  # the latest finished quarter
CHART_TEXT = """() => [...document.querySelectorAll('svg.band-chart text')]
  .map(t => parseFloat(getComputedStyle(t).fontSize))"""


def role(name: str) -> Any:
    from geo_service.auth import Role

    return Role(name)


@SIZES
def test_the_band_control_and_chart_show_and_choose_the_band(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, role("manager"), HOTSPOTS, size)
    page.wait_for_selector("path.leaflet-interactive")
    control = page.locator(".map-header select[name=distance_m]")
    chart = page.locator(".map-header svg.band-chart")
    assert control.is_visible() and chart.is_visible()
    assert control.bounding_box()["height"] >= 44
    box = chart.bounding_box()
    assert box["width"] >= 200 and box["x"] >= 0 and box["x"] + box["width"] <= size[0]
    assert page.locator("svg.band-chart line.band-chosen").count() == 1
    sizes = page.evaluate(CHART_TEXT)
    assert sizes and min(sizes) >= 14
    assert control.input_value() == "auto"
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / f"band-control-{size[0]}.png"))

    widest = control.locator("option").last.get_attribute("value")
    assert widest and widest != "auto"
    control.select_option(widest)
    with page.expect_navigation():
        page.locator(".map-header form[method=get] button[type=submit]").click()
    page.wait_for_selector("path.leaflet-interactive")
    assert f"distance_m={widest}" in page.url
    assert page.locator("select[name=distance_m]").input_value() == widest
    assert page.locator("svg.band-chart").get_attribute("data-chosen-m") == widest
    assert errors == [] and outside == []
    page.context.close()


@SIZES
def test_peers_have_no_band_control(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, role("peer"), HOTSPOTS, size)
    page.wait_for_selector(".map-header")
    assert page.locator("select[name=distance_m]").count() == 0
    assert page.locator("svg.band-chart").count() == 0
    assert errors == [] and outside == []
    page.context.close()
