"""From a steward's invite to a signed-in phone, in Chromium at 360x740 with the network cut
off: the steward runs ``geo-service keys invite``, the phone opens the QR code's link, taps
Join once and lands on the report page as a peer. Typing the code by hand works too."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser

browser = maps_browser.browser
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")
PHONE = {"width": 360, "height": 740}
FIELD = """() => {
  const e = document.querySelector('#code'), b = document.querySelector('.join-go');
  return [e.getBoundingClientRect().height, parseFloat(getComputedStyle(e).fontSize),
          b.getBoundingClientRect().height, e.getAttribute('autocapitalize')]; }"""


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from geo_service.cli import main; main()", *args]
    return subprocess.run(command, check=True, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from geo_service.main import create_app
    from geo_service.settings import Settings

    tmp = tmp_path_factory.mktemp("invite")
    port = maps_browser.free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GEO_SERVICE_DATABASE_URL": f"sqlite:///{tmp}/invite.sqlite3",
        "GEO_SERVICE_PUBLIC_URL": base,
        "PYTHONPATH": str(maps_browser.ROOT),
    }
    cli(env, "keys", "create", "--role", "steward", "--program", "town")
    settings = Settings(
        database_url=env["GEO_SERVICE_DATABASE_URL"], public_url=base, map_tiles="none"
    )
    with maps_browser.running(create_app(settings), port):
        yield {"base": base, "env": env, "tmp": tmp}


def phone(browser: Any, base: str) -> tuple[Any, list[str], list[str]]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    outside: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, outside, errors


def invite(server: dict[str, Any], png: Path | None = None) -> str:
    extra = ["--png", str(png)] if png else []
    made = cli(server["env"], "keys", "invite", "--role", "peer", "--program", "town", *extra)
    return made.stdout.splitlines()[0]


def test_a_scanned_invite_is_one_tap_to_the_report_page(
    browser: Any, server: dict[str, Any]
) -> None:
    png = server["tmp"] / "invite.png"
    code = invite(server, png)
    assert png.read_bytes().startswith(b"\x89PNG")
    page, outside, errors = phone(browser, server["base"])
    page.goto(f"{server['base']}/join?code={code}")  # what the camera opens from the QR code
    assert page.input_value("#code") == code
    height, font_px, button, caps = page.evaluate(FIELD)
    assert height >= 44 and button >= 44 and font_px >= 16 and caps == "characters"
    maps_browser.SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(maps_browser.SHOTS / "join-360x740.png"))
    taps = 0
    page.tap(".join-go")
    taps += 1
    page.wait_for_url("**/report")  # a peer lands on the report page
    assert taps == 1
    page.wait_for_selector("#screen[data-step='choose']")
    page.goto(f"{server['base']}/maps")
    assert page.locator("h1").inner_text() == "Maps for town"
    assert page.locator("a[href='/maps/siting']").count() == 0  # a peer's index
    assert page.locator("form[action='/signout'] button").is_visible()
    page.screenshot(path=str(maps_browser.SHOTS / "join-signed-in-360x740.png"))
    # The same link again (a second phone, or a reload): refused, plainly.
    again, _, _ = phone(browser, server["base"])
    again.goto(f"{server['base']}/join?code={code}")
    with again.expect_navigation():  # read the answer's heading, not the join page's
        again.tap(".join-go")
    assert again.locator("h1").inner_text() == "That code did not work"
    assert errors == [] and outside == [], (errors, outside)
    page.context.close()
    again.context.close()


def test_a_code_typed_in_lower_case_with_a_space_works(
    browser: Any, server: dict[str, Any]
) -> None:
    code = invite(server)
    page, outside, errors = phone(browser, server["base"])
    page.goto(f"{server['base']}/join")
    page.tap("#code")
    page.keyboard.type(code.replace("-", " ").lower())
    page.tap(".join-go")  # three taps and eight letters: field, (keyboard), Join
    page.wait_for_url("**/report")
    page.goto(f"{server['base']}/maps")
    assert page.locator("h1").inner_text() == "Maps for town"
    assert errors == [] and outside == [], (errors, outside)
    page.context.close()
