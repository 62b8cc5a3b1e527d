"""The report page on a phone: Chromium at 360x740 with the network cut off except to the
service. From an invite link to each kind of report stored as the square the server itself
would give the tapped point; offline reports kept on the phone and stored once; request
bodies with no position and no exact time; "Use my location" snapped at once; "Clear this
phone"; a refused report kept with its reason. Screenshots go to var/screenshots/report/.
The phone and the service come from tests/browser/report_phone.py."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from geo_service.web.report_words import WORDS
from tests.browser import test_maps_browser as maps_browser
from tests.browser.report_phone import (
    ANSWERS,
    CACHED,
    FLOWS,
    KEPT_URLS,
    KIND,
    NEAR,
    POINT,
    QUEUE,
    SHOTS,
    STREET,
    Phone,
    answer_questions,
    banner,
    check_bodies,
    expected_bucket,
    invite_code,
    program_service,
    square_of,
    stored,
    to_review,
)

browser = maps_browser.browser
GRID_JS = maps_browser.ROOT / "geo_service" / "static" / "grid.js"
pytestmark = [
    pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium"),
    # The page snaps with grid.js and /report/grid.json, which land from branch h18-snap.
    pytest.mark.skipif(not GRID_JS.exists(), reason="needs grid.js and /report/grid.json"),
]


@pytest.fixture(scope="module")
def report_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with program_service(tmp_path_factory.mktemp("report")) as service:
        yield service


def test_from_the_invite_to_each_report_stored_as_its_square_and_bucket(
    browser: Any, report_service: dict[str, Any]
) -> None:
    phone = Phone.open(browser, report_service["base"])
    phone.join(invite_code(report_service))
    phone.shot("choose")
    taps_to_thanks = None
    for kind in FLOWS:
        before = len(stored(report_service))
        answer_questions(phone, kind, shots=True)
        phone.step("where")
        if kind == "needles_here":
            phone.page.wait_for_selector(STREET)  # drawn from the program's streets
            phone.tap_outside()
            assert phone.page.locator(".note").inner_text() == WORDS["outside"]
            assert phone.page.locator("button.go").is_disabled()
            phone.shot("outside")
        at_lon, at_lat = phone.tap_square(*POINT)
        phone.page.wait_for_function("() => !document.querySelector('button.go').disabled")
        phone.shot(f"{kind}-where")
        phone.tap("button.go")
        phone.step("when")
        phone.shot(f"{kind}-when")
        phone.tap_words(FLOWS[kind][1])
        phone.step("review")
        phone.shot(f"{kind}-review")
        phone.tap_words("send")
        phone.step("thanks")
        if taps_to_thanks is None:
            taps_to_thanks = phone.taps
        phone.shot(f"{kind}-thanks")
        assert phone.page.locator("#screen h1").inner_text() == WORDS["thanks"]
        link = phone.page.get_by_role("link", name=WORDS["see_map"])
        assert link.get_attribute("href") == f"/maps/hotspots?kind={KIND[kind]}".replace(
            "supplies_needed", "needle_report"
        )
        rows = stored(report_service)
        assert len(rows) == before + 1
        [row] = [r for r in rows if r["kind"] == KIND[kind]]
        grid_kind = "needle_report" if kind == "supplies_needed" else KIND[kind]
        assert row["cell"] == square_of(report_service, grid_kind, at_lon, at_lat)
        start, precision = expected_bucket(FLOWS[kind][1], KIND[kind])
        assert (row["bucket_start"], row["time_precision"]) == (start, precision)
        assert {k: row.get(k) for k in ANSWERS[kind]} == ANSWERS[kind]
        phone.tap_words("another")
        phone.step("choose")
    print(f"\ntaps from opening the join link to the first thank-you: {taps_to_thanks}")
    assert taps_to_thanks is not None and taps_to_thanks <= 10
    check_bodies(phone.sent)
    assert len(phone.sent) == 4
    assert phone.outside == [] and phone.errors == [], (phone.outside, phone.errors)
    phone.close()


def test_an_offline_report_waits_survives_a_reload_and_is_stored_once(
    browser: Any, report_service: dict[str, Any]
) -> None:
    phone = Phone.open(browser, report_service["base"])
    context = phone.page.context
    phone.join(invite_code(report_service))
    assert phone.page.evaluate(CACHED)  # the service worker keeps the page for no signal
    at_lon, at_lat = to_review(phone)
    before = len(stored(report_service))
    context.set_offline(True)
    phone.tap_words("send")
    phone.step("saved")
    assert WORDS["waiting_one"] in banner(phone)
    phone.shot("offline-waiting")
    # Still no signal: the page comes from the service worker's copy, the queue from the phone.
    reloaded = phone.page.reload()
    assert reloaded is not None and reloaded.from_service_worker
    phone.step("choose")
    phone.page.wait_for_selector("#waiting:not([hidden])")
    assert WORDS["waiting_one"] in banner(phone)
    phone.shot("offline-reloaded")
    assert len(stored(report_service)) == before
    # Back online, the first send reaches the service but its answer is lost (a crash, a
    # dropped line): the report stays queued and its retry, with the same key, is not stored
    # twice.
    lost: list[str] = []

    def lose_answer(route: Any) -> None:
        if not lost:
            route.fetch()
            lost.append(route.request.headers["idempotency-key"])
            route.abort()
        else:
            route.continue_()

    phone.page.route("**/v1/reports", lose_answer)
    context.set_offline(False)
    flush = "() => window.reportQueue.flush().then(() => window.reportQueue.all())"
    for _ in range(3):  # the "online" event's flush, then the retry
        if phone.page.evaluate(flush) == []:
            break
    assert lost and phone.keys.count(lost[0]) >= 2  # the same report, under the same key
    phone.page.wait_for_selector("#waiting", state="hidden")
    rows = stored(report_service)
    assert len(rows) == before + 1
    assert rows[-1]["cell"] == square_of(report_service, "needle_report", at_lon, at_lat)
    check_bodies(phone.sent)
    # What the service worker kept: this service's own files, never a report or a token.
    kept = phone.page.evaluate(KEPT_URLS)
    assert f"{phone.base}/report" in kept and f"{phone.base}/static/grid.js" in kept
    assert [u for u in kept if "/maps/streets.json?v=" in u]
    assert all(u.startswith(phone.base + "/") for u in kept), kept
    assert not [u for u in kept if "/v1/" in u or u.endswith("/report/token")], kept
    assert phone.outside == [], phone.outside
    phone.close()


def test_use_my_location_keeps_only_the_square(
    browser: Any, report_service: dict[str, Any]
) -> None:
    where = {"longitude": NEAR[0], "latitude": NEAR[1], "accuracy": 5}
    phone = Phone.open(
        browser, report_service["base"], geolocation=where, permissions=["geolocation"]
    )
    phone.join(invite_code(report_service))
    answer_questions(phone, "needles_here")
    phone.step("where")
    phone.tap_words("use_location")
    phone.page.wait_for_function(
        "(w) => document.querySelector('.note').textContent === w", arg=WORDS["square_chosen"]
    )
    phone.shot("use-my-location")
    phone.tap("button.go")
    phone.tap_words("now")
    phone.page.context.set_offline(True)
    phone.tap_words("send")
    phone.step("saved")
    square = square_of(report_service, "needle_report", *NEAR)
    [entry] = phone.page.evaluate(QUEUE)
    assert set(entry) == {"id", "body"}
    assert set(entry["body"]) == {"type", "cell", "bucket", "count", "picked_up", "place"}
    assert entry["body"]["cell"] == square
    check_bodies([entry["body"]])
    assert phone.page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    phone.page.context.set_offline(False)
    phone.page.evaluate("() => window.reportQueue.flush()")
    phone.page.wait_for_selector("#waiting", state="hidden")
    assert stored(report_service)[-1]["cell"] == square
    assert phone.outside == [] and phone.errors == [], (phone.outside, phone.errors)
    phone.close()


CLEARED = """async () => ({
  databases: (await indexedDB.databases()).map((d) => d.name),
  caches: await caches.keys(),
  workers: (await navigator.serviceWorker.getRegistrations()).length,
  token: (await fetch('/report/token')).status })"""


def test_clear_this_phone_leaves_nothing_and_signs_out(
    browser: Any, report_service: dict[str, Any]
) -> None:
    phone = Phone.open(browser, report_service["base"])
    phone.join(invite_code(report_service))
    assert phone.page.evaluate(CACHED)
    assert phone.page.evaluate("async () => (await indexedDB.databases()).length") == 1
    phone.tap("#clear")
    phone.step("clear")
    phone.shot("clear-asks")
    phone.tap_words("clear_yes")
    phone.step("cleared")
    phone.shot("cleared")
    assert phone.page.evaluate(CLEARED) == {
        "databases": [],
        "caches": [],
        "workers": 0,
        "token": 401,
    }
    assert not [c for c in phone.page.context.cookies() if c["name"] == "gs_session"]
    assert phone.outside == [] and phone.errors == [], (phone.outside, phone.errors)
    phone.close()


def test_a_refused_report_is_kept_with_the_reason_until_removed(
    browser: Any, report_service: dict[str, Any]
) -> None:
    phone = Phone.open(browser, report_service["base"])
    # The phone's clock is three days behind: its "now" is older than the 48 hours taken.
    phone.page.clock.install(time=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    phone.join(invite_code(report_service))
    before = len(stored(report_service))
    to_review(phone)
    phone.tap_words("send")
    phone.step("refused")
    reason = phone.page.locator("#screen .reason").inner_text()
    assert "48 hours" in reason
    assert reason in banner(phone)
    phone.shot("refused")
    [entry] = phone.page.evaluate(QUEUE)
    assert entry["reason"] == reason and set(entry) == {"id", "body", "reason"}
    # The server's words are shown as text, whatever they hold.
    hostile = '<img src="/x" onerror="window.pwned=1">${1+1}`'
    phone.page.route(
        "**/v1/reports",
        lambda route: route.fulfill(
            status=422,
            content_type="application/problem+json",
            json={"status": 422, "code": "report_refused", "detail": hostile},
        ),
    )
    phone.tap_words("another")
    to_review(phone)
    phone.tap_words("send")
    phone.step("refused")
    assert phone.page.locator("#screen .reason").inner_text() == hostile
    assert phone.page.locator("#screen img, #waiting img").count() == 0
    assert phone.page.evaluate("() => window.pwned === undefined")
    phone.page.unroute("**/v1/reports")
    phone.page.reload()  # kept, and not sent again on its own
    phone.page.wait_for_selector("#waiting .remove")
    assert phone.page.locator("#waiting .remove").count() == 2
    phone.tap(".remove")
    phone.page.wait_for_function("() => document.querySelectorAll('#waiting .remove').length == 1")
    phone.tap(".remove")
    phone.page.wait_for_selector("#waiting", state="hidden")
    assert phone.page.evaluate(QUEUE) == []
    assert len(stored(report_service)) == before
    assert phone.outside == [], phone.outside
    phone.close()


def test_a_stale_token_is_renewed_once_and_an_ended_sign_in_says_so(
    browser: Any, report_service: dict[str, Any]
) -> None:
    from geo_service.auth import revoke_key

    phone = Phone.open(browser, report_service["base"])
    phone.join(invite_code(report_service))
    tokens: list[int] = []
    phone.page.on("request", lambda r: tokens.append(1) if r.url.endswith("/report/token") else 0)
    refused: list[int] = []

    def stale_once(route: Any) -> None:
        if refused:
            route.continue_()
            return
        refused.append(1)
        body = {"status": 403, "code": "form_token", "title": "Forbidden", "detail": "x"}
        route.fulfill(status=403, content_type="application/problem+json", json=body)

    phone.page.route("**/v1/reports", stale_once)
    before = len(stored(report_service))
    to_review(phone)
    phone.tap_words("send")
    phone.step("thanks")  # one new token, one more try, stored
    assert refused and len(tokens) == 2 and len(stored(report_service)) == before + 1
    # The steward revokes this phone: a report made now waits, and the page says to sign in.
    store = report_service["app"].state.store
    for key in store.list_keys("town"):
        if (key.label or "").startswith("phone (invite") and key.revoked_on is None:
            revoke_key(store, key.id)
    phone.tap_words("another")
    to_review(phone)
    phone.tap_words("send")
    phone.step("saved")
    link = phone.page.locator("#waiting a.signin")
    assert link.inner_text() == WORDS["sign_in_again"] and link.get_attribute("href") == "/join"
    assert WORDS["waiting_one"] in banner(phone)
    phone.shot("sign-in-again")
    assert len(stored(report_service)) == before + 1
    assert phone.outside == [] and phone.errors == [], (phone.outside, phone.errors)
    phone.close()


def test_without_a_projection_the_phone_repeats_a_tap_still_picks_a_square(
    browser: Any, tmp_path: Any
) -> None:
    # Statistics Canada's Lambert (NAD83): not a projection grid.js repeats, so grid.json
    # has no projection and lists the squares' corners instead.
    with program_service(tmp_path, projected_crs="EPSG:3347") as service:
        phone = Phone.open(browser, service["base"])
        phone.join(invite_code(service))
        answer_questions(phone, "needles_here")
        phone.step("where")
        phone.page.wait_for_function("() => window.reportMap && window.reportMap._loaded")
        assert phone.page.locator("button.locate").is_hidden()
        assert phone.page.locator(".note").inner_text() == WORDS["no_location"]
        at_lon, at_lat = phone.tap_square(*POINT)
        phone.page.wait_for_function("() => !document.querySelector('button.go').disabled")
        phone.shot("no-projection-where")
        phone.tap("button.go")
        phone.tap_words("now")
        phone.tap_words("send")
        phone.step("thanks")
        [row] = stored(service)
        assert row["cell"] == square_of(service, "needle_report", at_lon, at_lat)
        assert phone.outside == [] and phone.errors == [], (phone.outside, phone.errors)
        phone.close()


def test_a_report_that_failed_to_send_is_tried_again_every_30_seconds(
    browser: Any, report_service: dict[str, Any]
) -> None:
    phone = Phone.open(browser, report_service["base"])
    phone.page.clock.install()  # the page's timers run when the test says
    phone.join(invite_code(report_service))
    dropped: list[int] = []

    def drop_once(route: Any) -> None:
        if dropped:
            route.continue_()
        else:
            dropped.append(1)
            route.abort()

    phone.page.route("**/v1/reports", drop_once)
    before = len(stored(report_service))
    to_review(phone)
    phone.tap_words("send")
    phone.step("saved")
    phone.page.clock.run_for(29_000)
    assert WORDS["waiting_one"] in banner(phone) and len(phone.sent) == 1
    phone.page.clock.run_for(2_000)
    phone.page.wait_for_selector("#waiting", state="hidden")
    assert len(phone.sent) == 2 and len(stored(report_service)) == before + 1
    assert phone.outside == [], phone.outside
    phone.close()
