"""The drug-alert poster prints on exactly one page in Chromium, on A4 and on Letter, in
English and French, with the longest program name (64 characters) and area name (200) the
service allows and a 32-character phone number; a hostile area name shows as text and runs
nothing. The network is cut off: the page loads nothing from another host."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser

browser = maps_browser.browser
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")
LONGEST_PROGRAM = "w" * 64  # PROGRAM_NAME allows 64; "w" is among the widest letters
WORDY_AREA = ("Wawanesa Wellness Way and the Mountainview Trailer Court " * 4)[:200]
UNBROKEN_AREA = "W" * 200  # no place to break a line: it must wrap anyway
PHONE = "+1 (204) 555-0199 ext. 12345 #99"  # the column's 32 characters
HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>${x}`id`]]>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from tests.conftest import make_settings
    from tests.geo_service.alert_helpers import make_alert

    tmp: Path = tmp_path_factory.mktemp("poster")
    app = create_app(make_settings(tmp, map_tiles="none", rate_limit_per_address=0))
    with maps_browser.running(app) as base:
        store = app.state.store
        create_key(store, program=LONGEST_PROGRAM, role=Role.STEWARD)
        program_id = store.program_id(LONGEST_PROGRAM)
        store.set_alert_phone(program_id, PHONE)
        alerts = {}
        for name, area in (
            ("wordy", WORDY_AREA),
            ("unbroken", UNBROKEN_AREA),
            ("hostile", HOSTILE),
        ):
            # releasable at the public k: the count line is on the poster too
            alerts[name] = make_alert(store, program_id, area_name=area, releasable=12)
            assert store.set_poster_public(program_id, alerts[name].id, True)
        yield {"base": base, "alerts": alerts}


def open_poster(
    browser: Any, server: dict[str, Any], alert: str, language: str
) -> tuple[Any, list[str], list[str]]:
    """The public poster page, with every request to another host refused and counted."""
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []
    dialogs: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(server["base"]):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)

    def refuse(dialog: Any) -> None:  # an alert() would mean a name ran as code
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    url = f"{server['base']}/alerts/{server['alerts'][alert].ref}/poster?lang={language}"
    answer = page.goto(url)
    assert answer is not None and answer.status == 200
    page.wait_for_load_state("load")
    return page, outside, dialogs


def pages_in(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("paper", ["A4", "Letter"])
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("alert", ["wordy", "unbroken"])
def test_the_poster_prints_on_one_page(
    browser: Any, server: dict[str, Any], paper: str, language: str, alert: str
) -> None:
    page, outside, _dialogs = open_poster(browser, server, alert, language)
    try:
        text = page.inner_text("main")
        assert LONGEST_PROGRAM in text and PHONE in text
        assert ("Alerte drogue" if language == "fr" else "Drug alert") in page.text_content("h1")
        pdf = page.pdf(format=paper, print_background=True)
        assert pages_in(pdf) == 1
        shots = maps_browser.SHOTS
        shots.mkdir(parents=True, exist_ok=True)
        (shots / f"alert-poster-{alert}-{language}-{paper}.pdf").write_bytes(pdf)
        assert outside == []
    finally:
        page.context.close()


def test_a_hostile_area_name_is_shown_as_text_and_runs_nothing(
    browser: Any, server: dict[str, Any]
) -> None:
    page, outside, dialogs = open_poster(browser, server, "hostile", "en")
    try:
        assert page.inner_text(".area") == HOSTILE
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("document.images.length") == 0
        assert dialogs == [] and outside == []
        assert pages_in(page.pdf(format="Letter")) == 1
    finally:
        page.context.close()
