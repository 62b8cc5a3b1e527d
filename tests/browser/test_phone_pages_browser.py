"""The remaining phone-first pages in a real browser, at 360x740 and 1280x800: the trends
slider names its month and total, sits above the legend and steps with 44 px buttons; the
hour table's cells are 44 px targets with 14 px text; coverage and siting open fitted to
their data; rolled-up squares are hatched outlines; clean-up stops speak plain words."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser
from tests.browser.test_phone_first_browser import SMALL_TEXT, role

server, browser, open_map = maps_browser.server, maps_browser.browser, maps_browser.open_map
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")

SIZES = pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
TRENDS = "/maps/trends?kind=needle_report&year=2025"
COVERAGE = "/maps/coverage?service=naloxone&kind=overdose&minutes=10"
MONTH_WORDS = re.compile(r"[A-Z][a-z]+ 2025 — \d+ reports?")
BOX = "e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"
UNCOVERED = """e => { const r = e.getBoundingClientRect();
  const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
  return !!top && e.contains(top); }"""
# The view against the data the page names in its fit island: [view zoom, the zoom that fits
# the data (Leaflet's own rule, with the page's padding), does the view hold the data,
# the zoom that fits the whole area].
FITTED = """() => {
  const spec = JSON.parse(document.getElementById('map-fit').textContent);
  const map = window[spec.map];
  const data = L.latLngBounds([]);
  spec.layers.forEach(name => window[name].eachLayer(part => {
    if (part.getBounds) { data.extend(part.getBounds()); } else { data.extend(part.getLatLng()); }
  }));
  const outline = Object.values(window).find(v => v instanceof L.GeoJSON && v.getLayers().length
    && v.getLayers()[0].feature
    && !Object.keys(v.getLayers()[0].feature.properties || {}).length);
  const fit = Math.min(16, map.getBoundsZoom(data, false, L.point(8, 8)));
  return [map.getZoom(), fit, map.getBounds().pad(0.001).contains(data),
          map.getBoundsZoom(outline.getBounds()), data.isValid()];
}"""


def _check_fitted(page: Any) -> tuple[float, float]:
    zoom, fit, holds, area_zoom, valid = page.evaluate(FITTED)
    assert valid and holds  # all the data is in view...
    assert zoom >= fit - 0.5  # ...as close in as fits it (zoom snaps to halves)
    return zoom, area_zoom


# -- trends ----------------------------------------------------------------------------------


@SIZES
@pytest.mark.parametrize("role_name", ["peer", "manager"])
def test_the_month_slider_names_its_month_and_total_and_steps_with_buttons(
    browser: Any, server: dict[str, Any], role_name: str, size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, role(role_name), TRENDS, size)
    page.wait_for_selector("path.leaflet-interactive")
    label = page.locator("#month-label")
    latest = label.inner_text()
    assert MONTH_WORDS.fullmatch(latest), latest
    for control in ("#month", "#month-previous", "#month-next"):
        box = page.locator(control).bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, control
        assert page.eval_on_selector(control, UNCOVERED), f"{control} is covered"
    assert page.evaluate(SMALL_TEXT) == []
    shown = """() => {
      const spec = JSON.parse(document.getElementById('trend-months').textContent);
      const map = window[spec.map];
      return spec.months.map((m, i) => map.hasLayer(window[m.layer]) ? i : -1)
        .filter(i => i >= 0); }"""
    assert page.evaluate(shown) == [11]  # the latest month, alone
    page.fill("#month", "0")
    page.dispatch_event("#month", "input")
    first = label.inner_text()
    assert first.startswith("January 2025 — ") and MONTH_WORDS.fullmatch(first)
    assert page.locator("#month").get_attribute("aria-valuetext") == first
    assert page.locator("#month-previous").is_disabled()
    assert page.evaluate(shown) == [0]
    page.locator("#month-next").click()
    assert label.inner_text().startswith("February 2025 — ")
    assert page.locator("#month").input_value() == "1" and page.evaluate(shown) == [1]
    page.locator("#month-previous").click()
    assert label.inner_text() == first and page.evaluate(shown) == [0]
    assert errors == [] and outside == []
    page.context.close()


@SIZES
def test_the_slider_sits_above_the_legend_and_nothing_covers_it(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    page, _, errors = open_map(browser, server, role("peer"), TRENDS, size)
    page.wait_for_selector("path.leaflet-interactive")
    toggle = page.locator(".legend-toggle")
    for _ in range(2):  # the legend folded, then open (or the other way round)
        slider = page.eval_on_selector(".trend-controls", BOX)
        legend = page.eval_on_selector(".map-legend", BOX)
        if size[0] < 481:
            assert slider[3] <= legend[1], (slider, legend)  # wholly above it
        else:  # side by side at the map's foot: they do not overlap
            assert slider[2] <= legend[0] or slider[3] <= legend[1], (slider, legend)
        assert page.eval_on_selector("#month", UNCOVERED)
        toggle.click()
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / f"trends-slider-peer-{size[0]}x{size[1]}.png"))
    assert errors == []
    page.context.close()


# -- the hour table, coverage and siting -----------------------------------------------------


@SIZES
def test_hour_cells_are_44px_targets_with_14px_text_and_coverage_opens_on_its_gaps(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, role("manager"), COVERAGE, size)
    page.wait_for_selector(".hour-table table")
    cells = page.eval_on_selector_all(
        ".hour-table td a",
        """links => links.map(a => { const r = a.getBoundingClientRect();
            return [r.width, r.height, parseFloat(getComputedStyle(a).fontSize)]; })""",
    )
    assert len(cells) == 168
    assert min(w for w, _, _ in cells) >= 44 and min(h for _, h, _ in cells) >= 44
    fonts = page.eval_on_selector_all(
        ".hour-table th, .hour-table td a, .hour-table h2, .hour-table p",
        "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))",
    )
    assert min(fonts) >= 14 and min(f for _, _, f in cells) >= 14
    if size[0] < 481:  # the whole week fits the phone: nothing to scroll sideways
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
    zoom, area_zoom = _check_fitted(page)
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(maps_browser.SHOTS / f"coverage-hours-{size[0]}x{size[1]}.png"), full_page=True
    )
    print(f"coverage {size}: zoom {zoom} (whole area {area_zoom})")
    assert errors == [] and outside == []
    page.context.close()


@SIZES
def test_the_siting_map_opens_on_its_candidates(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, role("planner"), "/maps/siting?p=3", size)
    page.wait_for_selector(".leaflet-marker-icon .stop-number")
    zoom, area_zoom = _check_fitted(page)
    print(f"siting {size}: zoom {zoom} (whole area {area_zoom})")
    markers = page.eval_on_selector_all(
        ".leaflet-marker-icon, path.leaflet-interactive",
        "els => els.filter(e => e.getBoundingClientRect().width > 0).length",
    )
    assert markers >= 3
    assert errors == [] and outside == []
    page.context.close()


# -- rolled-up squares -----------------------------------------------------------------------

HATCHED = """() => [...document.querySelectorAll('path.leaflet-interactive')].map(p => [
  p.classList.contains('rolled-up'), getComputedStyle(p).fill,
  parseFloat(p.getAttribute('fill-opacity') || '1'), p.getAttribute('stroke-dasharray')])"""
INK = """() => { const p = document.getElementById('rolled-up-hatch');
  const line = p.querySelector('line');
  return [p.querySelectorAll('rect').length,
          parseFloat(line.getAttribute('stroke-width')) / parseFloat(p.getAttribute('width'))
          * parseFloat(line.getAttribute('stroke-opacity'))]; }"""


@SIZES
def test_rolled_up_squares_are_hatched_outlines(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    path = "/maps/hotspots?kind=needle_report&period=2025-Q2"
    page, _, errors = open_map(browser, server, role("peer"), path, size)
    page.wait_for_selector("path.leaflet-interactive")
    paths = page.evaluate(HATCHED)
    rolled = [p for p in paths if p[0]]
    assert rolled, "the demo quarter has rolled-up squares for peers"
    for _, fill, opacity, dashes in rolled:
        assert "rolled-up-hatch" in fill and opacity <= 0.1 and dashes
    backgrounds, ink = page.evaluate(INK)
    assert backgrounds == 0 and ink <= 0.2  # thin lines on a clear ground
    legend = page.locator(".map-legend").text_content()  # folded on a phone
    assert "Reports somewhere in this larger square" in legend
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / f"rolled-up-peer-{size[0]}x{size[1]}.png"))
    assert errors == []
    page.context.close()


# -- clean-up stops --------------------------------------------------------------------------


def test_cleanup_stops_read_in_plain_words_on_a_phone(browser: Any, server: dict[str, Any]) -> None:
    page, _, errors = open_map(browser, server, role("peer"), "/maps/cleanup?budget=90", (360, 740))
    page.wait_for_selector(".route-list li")
    said = re.compile(
        r"about \d+ needles expected here \(\d+ reported in [A-Z][a-z]+(–[A-Z][a-z]+)? \d{4}\)"
    )
    items = page.locator(".route-list li").all_inner_texts()
    assert items and all(said.search(item) for item in items), items[:2]
    legend = page.locator(".map-legend").inner_text()
    assert re.search(r"About \d+ needles expected at \d+ stops? \(from reports in ", legend)
    assert errors == []
    page.context.close()
