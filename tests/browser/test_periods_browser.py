"""The hot-spot map's period selector in a real browser, at 360x740 and 1280x800: the option
shown is the period the title names (however old), a half-year picked from the list becomes
the title, and a manager's datetime window is named in the title and the selector."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser import test_maps_browser as maps_browser

server, browser, open_map = maps_browser.server, maps_browser.browser, maps_browser.open_map
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")

SIZES = pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
SHOWN = """() => {
  const select = document.querySelector('.map-header select[name=period]');
  const option = select.options[select.selectedIndex];
  return [document.querySelector('.map-header h1').textContent, option.value, option.text,
          option.parentElement.tagName === 'OPTGROUP' ? option.parentElement.label : ''];
}"""


def _role(name: str) -> Any:
    from geo_service.auth import Role

    return Role(name)


def _quarters_back(count: int) -> str:
    from geo_service.periods import Bucket, latest_published

    tz = __import__("zoneinfo").ZoneInfo("America/Winnipeg")
    latest = latest_published(Bucket.QUARTER, now=time.time(), grace_days=7, tz=tz)
    index = int(latest[:4]) * 4 + int(latest[-1]) - 1 - count
    return f"{index // 4}-Q{index % 4 + 1}"


@SIZES
@pytest.mark.parametrize("role_name", ["peer", "manager"])
def test_the_selected_period_is_the_titles_and_a_half_year_can_be_picked(
    browser: Any, server: dict[str, Any], role_name: str, size: tuple[int, int]
) -> None:
    from maps.words import period_words

    old = _quarters_back(9)  # older than the eight quarters the list used to hold
    path = f"/maps/hotspots?kind=needle_report&period={old}"
    page, outside, errors = open_map(browser, server, _role(role_name), path, size)
    page.wait_for_selector(".map-header select[name=period]")
    title, value, text, group = page.evaluate(SHOWN)
    assert value == old and title.endswith(text) and text == period_words(old)
    assert group == "Quarters"
    if role_name == "peer":  # a peer is offered released periods: read a half-year first
        half = _quarters_back(2)[:4] + "-H" + ("1" if _quarters_back(2)[-1] in "12" else "2")
        page.goto(f"{server['base']}/maps/hotspots?kind=needle_report&period={half}")
        page.goto(f"{server['base']}{path}")
    half_years = page.locator(".map-header optgroup[label=Half-years] option")
    assert half_years.count() >= 1
    picked = half_years.first.get_attribute("value")
    page.locator(".map-header select[name=period]").select_option(picked)
    page.locator(".map-header form[method=get] button[type=submit]").click()
    page.wait_for_url(f"**period={picked}*")
    title, value, text, group = page.evaluate(SHOWN)
    assert value == picked and group == "Half-years" and title.endswith(period_words(picked))
    assert errors == [] and outside == []
    page.context.close()


@SIZES
def test_a_managers_datetime_window_is_named_in_title_and_selector(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    import datetime as dt

    today = dt.date.today()
    start = today - dt.timedelta(days=61)
    window = quote(f"{start.isoformat()}T00:00:00Z/..", safe="")
    path = f"/maps/hotspots?kind=needle_report&datetime={window}"
    page, outside, errors = open_map(browser, server, _role("manager"), path, size)
    page.wait_for_selector("path.leaflet-interactive")
    title, value, text, group = page.evaluate(SHOWN)
    assert value == "" and group == "" and text.startswith("from ") and title.endswith(text)
    assert str(start.year) in text and start.strftime("%B") in text
    assert errors == [] and outside == []
    page.context.close()
