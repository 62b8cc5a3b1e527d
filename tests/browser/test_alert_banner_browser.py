"""The drug-alert banner on a small phone (Chromium, 360x640, network cut off except to the
service): above the fold, no sideways scrolling, its poster link a 44 px target that opens
the poster, in English and French; the newest alert only, so the report form's first choice
stays in view, and a link to the maps index for the rest (a hostile name runs nothing); with
no signal the page the phone kept still shows the alert and its day. Screenshots go to
var/screenshots/alerts/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import test_maps_browser as maps_browser
from tests.browser.report_phone import CACHED, Phone, invite_code, program_service
from tests.geo_service.open_alerts import HEADLINE, HEADLINE_FR, HOSTILE, make

browser = maps_browser.browser
pytestmark = pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium")
SMALL = {"width": 360, "height": 640}
SHOTS = maps_browser.SHOTS / "alerts"
SHOWN = {
    "en": (HEADLINE, "November 30, 2026", "Drug alert", "en-CA"),
    "fr": (HEADLINE_FR, "30 novembre 2026", "Alerte drogue", "fr-CA"),
}
OVERFLOW = "() => document.documentElement.scrollWidth"


@pytest.fixture(scope="module")
def alert_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with program_service(tmp_path_factory.mktemp("alert-banner")) as service:
        store = service["app"].state.store
        town = store.program_id("town")
        make(store, town, area_name=HOSTILE, age_s=7200)  # the older of the two
        service["alert"] = make(store, town, area_name="Lakeview", age_s=600)
        yield service


def open_phone(browser: Any, service: dict[str, Any], locale: str) -> tuple[Phone, list[str]]:
    phone = Phone.open(browser, service["base"], locale=locale)
    phone.page.set_viewport_size(SMALL)
    dialogs: list[str] = []

    def refuse(dialog: Any) -> None:  # an alert() would mean an area name ran as code
        dialogs.append(dialog.message)
        dialog.dismiss()

    phone.page.on("dialog", refuse)
    phone.join(invite_code(service))
    return phone, dialogs


@pytest.mark.parametrize("language", list(SHOWN))
def test_the_banner_is_above_the_fold_and_its_link_opens_the_poster(
    browser: Any, alert_service: dict[str, Any], language: str
) -> None:
    headline, day, alert_words, locale = SHOWN[language]
    phone, dialogs = open_phone(browser, alert_service, locale)
    page = phone.page
    first = page.locator("#alert-banner article.alert").first
    assert first.locator(".alert-what").inner_text() == f"{headline} — Lakeview"
    assert day in first.locator(".alert-title").inner_text()
    link = first.locator("a.alert-poster")
    box = link.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
    assert box["y"] >= 0 and box["y"] + box["height"] <= SMALL["height"], box  # above the fold
    assert page.evaluate(OVERFLOW) <= SMALL["width"]  # nothing to scroll sideways to
    size = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('.alert-what')).fontSize)"
    )
    assert size >= 16
    # One alert on the phone, so the form stays in view; the older one (a hostile name) is a
    # tap away on the maps index, and nothing of it runs here.
    assert page.locator("#alert-banner article.alert").count() == 1
    more = page.locator("#alert-banner a.alert-more")
    assert more.get_attribute("href") == "/maps" and more.is_visible()
    choice = page.locator("#screen button").first.bounding_box()
    assert choice is not None and choice["y"] + choice["height"] <= SMALL["height"], choice
    page.screenshot(path=str(SHOTS / f"banner-{language}.png"))
    link.tap()
    page.wait_for_url(f"**/alerts/{alert_service['alert'].ref}/poster")
    assert page.locator("h1").text_content() == alert_words
    assert page.locator(".area").text_content() == "Lakeview"
    assert dialogs == [] and phone.errors == [] and phone.outside == []
    phone.close()


def test_with_no_signal_the_kept_page_still_shows_the_alert_and_its_day(
    browser: Any, alert_service: dict[str, Any]
) -> None:
    phone, dialogs = open_phone(browser, alert_service, "en-CA")
    assert phone.page.evaluate(CACHED)  # the service worker keeps the page for no signal
    phone.page.context.set_offline(True)
    reloaded = phone.page.reload()
    assert reloaded is not None and reloaded.from_service_worker
    phone.step("choose")
    first = phone.page.locator("#alert-banner article.alert").first
    assert first.locator(".alert-what").inner_text() == f"{HEADLINE} — Lakeview"
    assert "November 30, 2026" in first.locator(".alert-title").inner_text()
    assert first.is_visible()
    phone.page.screenshot(path=str(SHOTS / "banner-offline.png"))
    phone.page.context.set_offline(False)
    assert dialogs == []
    phone.close()
