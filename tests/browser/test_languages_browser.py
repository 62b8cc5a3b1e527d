"""Languages in Chromium at 360x740 with the network cut off: Cree syllabics render with the
self-hosted Noto Sans Canadian Aboriginal (loaded from this service, nothing from outside),
and the language switch is a 48 px target that turns the page French and stays French."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser
from tests.conftest import make_settings

browser = maps_browser.browser
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")
PHONE = {"width": 360, "height": 740}
MANAGER_KEY: list[str] = []  # made by the server fixture
CREE = "ᓀᐦᐃᔭᐍᐏᐣ"  # nêhiyawêwin: "the Cree language"
FONT = "Noto Sans Canadian Aboriginal"
# Puts the syllabics on the page, waits for the fonts, and says which of our faces loaded.
SHOW_SYLLABICS = """async ([text, family]) => {
  const p = document.createElement('p'); p.id = 'cree'; p.textContent = text;
  document.body.appendChild(p);
  await document.fonts.load(`16px "${family}"`, text);
  await document.fonts.ready;
  const faces = [...document.fonts].filter(f => f.family.replace(/"/g, '') === family);
  return {loaded: faces.filter(f => f.status === 'loaded').map(f => f.weight),
          check: document.fonts.check(`16px "${family}"`, text),
          width: p.getBoundingClientRect().width};
}"""
SWITCH_SIZES = """() => [...document.querySelectorAll('.lang-switch a')].map(a => {
  const r = a.getBoundingClientRect(); return [a.textContent, r.width, r.height]; })"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from geo_service.auth import Role, create_key
    from geo_service.main import create_app

    tmp: Path = tmp_path_factory.mktemp("languages")
    app = create_app(make_settings(tmp, map_tiles="none"))
    with maps_browser.running(app) as base:
        MANAGER_KEY.append(create_key(app.state.store, program="town", role=Role.MANAGER)[1])
        yield base


def phone(browser: Any, base: str, **options: Any) -> tuple[Any, list[str], list[str]]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, **options)
    outside: list[str] = []
    fetched: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(base):
            fetched.append(route.request.url[len(base) :])
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return context.new_page(), outside, fetched


def test_syllabics_render_with_the_self_hosted_font(browser: Any, server: str) -> None:
    page, outside, fetched = phone(browser, server)
    page.goto(f"{server}/signin")
    shown = page.evaluate(SHOW_SYLLABICS, [CREE, FONT])
    assert shown["loaded"] == ["400"] and shown["check"] is True
    assert shown["width"] > 0
    assert "/static/vendor/fonts/noto-sans-canadian-aboriginal-400.woff2" in fetched
    assert outside == []
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / "syllabics-360x740.png"))


def test_latin_text_does_not_fetch_the_syllabics_font(browser: Any, server: str) -> None:
    page, outside, fetched = phone(browser, server)
    page.goto(f"{server}/join")
    page.evaluate("document.fonts.ready")
    assert not [path for path in fetched if "/fonts/" in path] and outside == []


def test_the_switch_is_big_and_turns_the_pages_french(browser: Any, server: str) -> None:
    page, outside, _ = phone(browser, server)
    page.goto(f"{server}/signin")
    for name, width, height in page.evaluate(SWITCH_SIZES):
        assert width >= 48 and height >= 48, name
    page.tap(".lang-switch a[hreflang=fr]")
    page.wait_for_url("**/signin?lang=fr")
    assert page.inner_text("h1") == "Se connecter aux cartes"
    assert page.get_attribute("html", "lang") == "fr"
    page.goto(f"{server}/join")  # the choice is kept (the gs_lang cookie)
    assert page.inner_text("h1") == "Rejoindre avec un code"
    assert outside == []


def test_a_maps_switch_is_big_and_speaks_french(browser: Any, server: str) -> None:
    key = {"Authorization": f"Bearer {MANAGER_KEY[0]}"}
    page, outside, _ = phone(browser, server, extra_http_headers=key)
    page.goto(f"{server}/maps/hotspots?period=2025-Q2")
    sizes = page.evaluate(SWITCH_SIZES)
    assert [name for name, _, _ in sizes] == ["English", "Français"]
    for name, width, height in sizes:
        assert width >= 48 and height >= 48, name
    page.tap(".lang-switch a[hreflang=fr]")
    page.wait_for_url("**lang=fr")
    assert page.text_content(".map-legend h2") == "Ce que les couleurs veulent dire"
    assert outside == []
    page.screenshot(path=str(maps_browser.SHOTS / "hotspots-fr-360x740.png"))
