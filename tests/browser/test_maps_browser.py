"""The maps in a real browser: Debian's Chromium, headless, with the network cut off.

Every request to a host other than the test server is blocked and counted; each map must
draw its layers, show its legend, log no console errors, and make zero outside requests.
Screenshots at phone and desktop sizes are saved under var/screenshots/ for a person to look
at. Skipped (with the reason) when /usr/bin/chromium is missing; CI installs it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

MISSING = (
    "no /usr/bin/chromium: install Debian's chromium (apt-get install chromium) to run the "
    "browser tests; .ci/run does"
)
if not CHROMIUM.exists() and os.environ.get("GEO_SERVICE_REQUIRE_BROWSER"):
    raise RuntimeError(MISSING)  # CI asked for the browser tests: a skip would hide them
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port unless given) in a thread while the block
    runs, once it answers ``/healthz``; yield its base address."""
    import uvicorn

    port = free_port() if port is None else port
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from geo_service.settings import Settings

    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp}/maps.sqlite3"
    env = {**os.environ, "GEO_SERVICE_DATABASE_URL": url}
    subprocess.run(
        [str(Path(sys.executable).parent / "geo-service"), "demo"],
        check=True,
        env=env,
        capture_output=True,
    )
    settings = Settings(database_url=url, map_tiles="none", rate_limit_per_key=0)
    app = create_app(settings)
    with running(app) as base:  # the app's store opens when it starts serving
        store = app.state.store
        keys = {role: create_key(store, program="demo", role=role)[1] for role in Role}
        yield {"base": base, "keys": keys, "store": store}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def open_map(
    browser: Any, server: dict[str, Any], role: Any, path: str, size: tuple[int, int]
) -> tuple[Any, list[str], list[str]]:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    outside: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(server["base"]):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server['base']}/signin?next={quote(path)}")
    page.fill("#key", server["keys"][role])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}*")
    page.wait_for_selector(".leaflet-container")
    return page, outside, errors


MAPS = [
    ("hotspots", "/maps/hotspots?kind=needle_report&period=2025-Q2"),
    ("trends", "/maps/trends?kind=needle_report&year=2025"),
]


@pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
@pytest.mark.parametrize(("name", "path"), MAPS, ids=[m[0] for m in MAPS])
@pytest.mark.parametrize("role_name", ["peer", "manager"])
def test_each_map_draws_offline_with_its_legend(
    browser: Any,
    server: dict[str, Any],
    role_name: str,
    name: str,
    path: str,
    size: tuple[int, int],
) -> None:
    from geo_service.auth import Role

    page, outside, errors = open_map(browser, server, Role(role_name), path, size)
    page.wait_for_selector("path.leaflet-interactive")
    drawn = page.locator("path.leaflet-interactive").count()
    # A peer's month shows only its released squares (a handful in the demo town's January).
    assert drawn >= 5, f"only {drawn} shapes drew"
    assert page.evaluate("typeof L !== 'undefined' && !!document.querySelector('.leaflet-pane')")
    assert page.locator(".map-legend").is_visible()
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-layers").count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{role_name}-{size[0]}x{size[1]}.png"))
    assert errors == [], errors
    assert outside == [], f"requests left the machine: {outside}"
    page.context.close()


def test_the_month_slider_switches_layers(browser: Any, server: dict[str, Any]) -> None:
    from geo_service.auth import Role

    page, outside, errors = open_map(
        browser, server, Role.MANAGER, "/maps/trends?kind=needle_report&year=2025", (1280, 800)
    )
    drawn = "document.querySelectorAll('path.leaflet-interactive').length"
    last = page.locator("#month-label").inner_text()
    december = page.evaluate(drawn)
    page.fill("#month", "0")
    page.dispatch_event("#month", "input")
    first = page.locator("#month-label").inner_text()
    assert "January 2025" in first and first != last
    assert page.evaluate(drawn) != december  # January's squares, not December's
    assert errors == [] and outside == []
    page.context.close()


def _stop_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(".route-list input[name=stop]", "els => els.map(e => e.value)")  # type: ignore[no-any-return]


@pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
def test_the_cleanup_route_map_draws_prints_on_one_page_and_logs(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    from geo_service.auth import Role

    path = "/maps/cleanup?budget=90&teams=2"
    page, outside, errors = open_map(browser, server, Role.PEER, path, size)
    page.wait_for_selector(".leaflet-marker-icon .stop-number")
    numbered = page.locator(".leaflet-marker-icon .stop-number").count()
    assert numbered >= 4, f"only {numbered} numbered stops"
    assert page.locator("path.leaflet-interactive").count() >= 2  # one path per team
    legend = page.locator(".map-legend").inner_text()
    assert "Team 1" in legend and "Team 2" in legend and "of 90 min" in legend
    assert page.locator(".route-list").is_visible()
    # Readable at 360 px: the stop list's text is not squeezed below 11 px.
    font = page.eval_on_selector(".route-list", "e => getComputedStyle(e).fontSize")
    assert float(font.rstrip("px")) >= 11
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"cleanup-peer-{size[0]}x{size[1]}.png"))
    # No panel (header, legend, stop list) covers a numbered stop on the map.
    covered = page.eval_on_selector_all(
        ".leaflet-marker-icon .stop-number",
        """marks => marks.map(m => {
            const r = m.getBoundingClientRect();
            const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
            const seen = top && (m.contains(top) || top.contains(m));
            return seen ? null : `stop ${m.textContent} under ${top ? top.className : "nothing"}`;
        }).filter(Boolean)""",
    )
    assert covered == [], f"hidden at {size}: {covered}"
    page.emulate_media(media="print")
    pdf = page.pdf(format="Letter", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages == 1, f"the printed route takes {pages} pages"
    page.emulate_media(media="screen")
    assert errors == [], errors
    assert outside == [], f"requests left the machine: {outside}"
    if size[0] == 1280:
        before = _stop_ids(page)
        for field in page.locator(".route-list input[name=needles]").all():
            field.fill("4")
        # The list scrolls inside its panel; submit the form as its button would.
        page.eval_on_selector("form.route-list", "f => f.requestSubmit()")
        page.wait_for_url("**/maps/cleanup?*logged=*")
        page.wait_for_selector(".leaflet-marker-icon .stop-number")
        after = _stop_ids(page)
        assert "logged" in page.locator(".map-header h1").inner_text()
        # Every stop just cleaned now expects nearly nothing, so the plan moves on.
        assert set(after) != set(before)
        assert len(set(after) & set(before)) < len(before)
    page.context.close()


@pytest.mark.parametrize("size", [(360, 740), (1280, 800)], ids=["phone", "desktop"])
def test_the_coverage_map_shows_gaps_and_narrows_to_an_hour(
    browser: Any, server: dict[str, Any], size: tuple[int, int]
) -> None:
    from geo_service.auth import Role

    path = "/maps/coverage?service=naloxone&kind=overdose&minutes=10"
    page, outside, errors = open_map(browser, server, Role.MANAGER, path, size)
    page.wait_for_selector(".hour-table table")
    assert page.locator(".hour-table tr").count() == 25  # the day names and 24 hours
    # All 24 hours fit the panel: nothing is cut off at the right edge.
    fits = (
        "(() => { const p = document.querySelector('.hour-table'); "
        "return p.scrollWidth <= p.clientWidth; })()"
    )
    assert page.evaluate(fits)
    assert "of overdoses happened within 10 min" in page.locator(".map-legend").inner_text()
    drawn = page.locator("path.leaflet-interactive").count()
    open_all_day = page.locator("path.leaflet-interactive[fill='#1b7837']").count()
    assert drawn > open_all_day > 0  # catchments and gap cells
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"coverage-manager-{size[0]}x{size[1]}.png"))
    # 2 a.m. on a Monday: fewer sites are open, so fewer catchments are drawn green.
    page.locator(".hour-table a[href$='hour=2']").first.click()
    page.wait_for_url("**hour=2")
    page.wait_for_selector(".hour-table td.chosen")
    at_night = page.locator("path.leaflet-interactive[fill='#1b7837']").count()
    assert at_night < open_all_day
    assert "Monday 02:00" in page.locator(".map-legend").inner_text()
    assert errors == [], errors
    assert outside == [], f"requests left the machine: {outside}"
    page.context.close()


def test_the_siting_map_places_lockers_and_explains_the_ranking(
    browser: Any, server: dict[str, Any]
) -> None:
    from geo_service.auth import Role

    page, outside, errors = open_map(browser, server, Role.PLANNER, "/maps/siting?p=3", (1280, 800))
    page.wait_for_selector(".leaflet-marker-icon .stop-number")
    assert page.locator(".leaflet-marker-icon .stop-number").count() == 3
    legend = page.locator(".map-legend").inner_text()
    assert "Chosen locker sites (3)" in legend and "with these 24/7 sites" in legend
    ranked = page.locator(".ranking ol li")
    assert ranked.count() >= 3 and "North park shelter" in page.locator(".ranking ul").inner_text()
    page.locator(".leaflet-marker-icon").first.click()
    page.wait_for_selector(".leaflet-popup-content table")
    for _ in range(100):  # the popup fades in (the page's CSP forbids wait_for_function)
        if page.locator(".leaflet-popup").evaluate("e => getComputedStyle(e).opacity") == "1":
            break
        page.wait_for_timeout(20)
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert "Consumption-site score" in popup and "service gap" in popup and "Locker #" in popup
    # The popup's rank is the list's: the same candidate sits at that place in the list.
    name = popup.splitlines()[0].strip()
    rank = int(popup.split("(rank ")[1].split(")")[0])
    assert ranked.nth(rank - 1).inner_text().startswith(name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "siting-planner-1280x800.png"))
    assert errors == [], errors
    assert outside == [], f"requests left the machine: {outside}"
    page.context.close()
