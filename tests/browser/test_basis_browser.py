"""The share warning in a real browser, at 360x740 and 1280x800: it stands above the legend,
readable (>= 14 px) and in view without opening the legend, on the demo town's maps.

A peer's month always carries a warning (a month rolls nothing up, so it may leave out most
reports), which makes these pages a fixed case whatever the demo draws."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser

server, browser, open_map = maps_browser.server, maps_browser.browser, maps_browser.open_map
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")

SIZES = pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
OVER_THE_MAP = {
    "hotspots": "/maps/hotspots?kind=needle_report&period=2025-05",
    "trends": "/maps/trends?kind=needle_report&year=2025",
}
BESIDE_THE_MAP = {  # pages with a side panel: the legend sits beside (or below) the map
    "coverage": "/maps/coverage?service=needles&kind=needle_report",
    "cleanup": "/maps/cleanup?budget=60",
}
PLACE = """() => {
  const box = e => e.getBoundingClientRect();
  const warning = document.querySelector('.basis-warning');
  const legend = document.querySelector('.map-legend');
  return {warning: box(warning).toJSON(), legend: box(legend).toJSON(),
          px: parseFloat(getComputedStyle(warning).fontSize),
          view: [window.innerWidth, window.innerHeight]};
}"""


def peer() -> Any:
    from geo_service.auth import Role

    return Role.PEER


def _check_above_the_legend(page: Any) -> dict[str, Any]:
    warning = page.locator(".basis-warning")
    assert warning.is_visible()
    assert "may leave out most reports" in warning.inner_text()
    place: dict[str, Any] = page.evaluate(PLACE)
    assert place["px"] >= 14
    assert place["warning"]["bottom"] <= place["legend"]["top"] + 0.5  # above, not over it
    assert place["warning"]["width"] > 0 and place["warning"]["height"] > 0
    return place


@SIZES
@pytest.mark.parametrize("name", sorted(OVER_THE_MAP))
def test_the_warning_is_in_view_above_the_folded_legend(
    browser: Any, server: dict[str, Any], name: str, size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, peer(), OVER_THE_MAP[name], size)
    narrow = size[0] < 481
    # On a phone the legend is folded and stays folded: the warning needs no tap.
    assert page.locator(".map-legend ul").is_visible() is not narrow
    place = _check_above_the_legend(page)
    width, height = place["view"]
    box = place["warning"]
    assert box["left"] >= 0 and box["right"] <= width and box["top"] >= 0
    assert box["bottom"] <= height
    # Nothing else is drawn over it: the element at its centre is the warning itself.
    centre = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('.basis-warning') !== null",
        [box["left"] + box["width"] / 2, box["top"] + box["height"] / 2],
    )
    assert centre
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / f"basis-{name}-{size[0]}x{size[1]}.png"))
    assert errors == [] and outside == []
    page.context.close()


@SIZES
@pytest.mark.parametrize("name", sorted(BESIDE_THE_MAP))
def test_beside_the_map_the_warning_heads_the_legend_column(
    browser: Any, server: dict[str, Any], name: str, size: tuple[int, int]
) -> None:
    page, outside, errors = open_map(browser, server, peer(), BESIDE_THE_MAP[name], size)
    page.locator(".basis-warning").scroll_into_view_if_needed()
    _check_above_the_legend(page)
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / f"basis-{name}-{size[0]}x{size[1]}.png"))
    assert errors == [] and outside == []
    page.context.close()
