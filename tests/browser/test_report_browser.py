"""The report page on a phone: Chromium at 360x740 with the network cut off except to the
service. From an invite link to each kind of report stored as the square the server itself
would give the tapped point; offline reports kept on the phone and stored once; request
bodies with no position and no exact time; "Use my location" snapped at once; "Clear this
phone"; a refused report kept with its reason. Screenshots go to var/screenshots/report/.

``report_service`` (a server with a steward and a manager of program "town") and ``Phone``
are for other report tests to reuse."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from geo_service.web.report_words import WORDS
from tests.browser import test_maps_browser as maps_browser

browser = maps_browser.browser
GRID_JS = maps_browser.ROOT / "geo_service" / "static" / "grid.js"
pytestmark = [
    pytest.mark.skipif(not maps_browser.CHROMIUM.exists(), reason="no chromium"),
    # The page snaps with grid.js and /report/grid.json, which land from branch h18-snap.
    pytest.mark.skipif(not GRID_JS.exists(), reason="needs grid.js and /report/grid.json"),
]
SHOTS = maps_browser.SHOTS / "report"
PHONE = {"width": 360, "height": 740}
ZONE = "America/Winnipeg"
POINT = (-101.8779, 54.7682)  # inside the default (Flin Flon) service area
NEAR = (-101.8650, 54.7750)  # another square, for "Use my location"
POSITION_KEYS = {"lon", "lat", "lng", "longitude", "latitude", "x", "y", "position", "coords"}
BUCKET = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:00[+-]\d{2}:\d{2})?$")
PIXEL_OF = """([lon, lat]) => {
  const map = window.reportMap, box = map.getContainer().getBoundingClientRect();
  const p = map.latLngToContainerPoint([lat, lon]);
  const x = Math.round(p.x), y = Math.round(p.y), at = map.containerPointToLatLng([x, y]);
  return [box.left + x, box.top + y, at.lng, at.lat]; }"""
QUEUE = "() => window.reportQueue.all()"
BUTTON_SIZES = """() => Array.from(document.querySelectorAll('#screen .big'))
  .filter((b) => b.offsetParent !== null)
  .map((b) => [b.getBoundingClientRect().width, b.getBoundingClientRect().height])"""
KEPT_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    for (const kept of await (await caches.open(name)).keys()) { urls.push(kept.url); }
  }
  return urls; }"""
STREET = "#report-map path.report-street"
SHOT_NUMBERS = itertools.count(1)  # across the file: one folder of this run's steps in order


@contextmanager
def running(app: Any, port: int) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:port in a thread; yield its base address."""
    import uvicorn

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


@contextmanager
def program_service(tmp: Any, **settings: Any) -> Iterator[dict[str, Any]]:
    """A service with program "town" (the default area) and a key per role; everything in
    this process, so a test spends its time in the browser."""
    from geo_service.auth import Role, create_key
    from geo_service.demo import demo_streets
    from geo_service.main import create_app
    from geo_service.settings import Settings

    port = maps_browser.free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp}/report.sqlite3",
            public_url=base,
            map_tiles="none",
            rate_limit_per_key=0,
            **settings,
        )
    )
    with running(app, port):
        store = app.state.store
        keys = {role: create_key(store, program="town", role=role)[1] for role in Role}
        streets = demo_streets(app.state.deployment)  # the offline base map's streets
        program_id = store.get_or_create_program("town")
        store.replace_network(program_id, source="demo streets", rows=streets, area_share=1.0)
        yield {"base": base, "keys": keys, "app": app}


@pytest.fixture(scope="module")
def report_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with program_service(tmp_path_factory.mktemp("report")) as service:
        yield service


def call(service: dict[str, Any], path: str, role: Any, body: Any = None) -> Any:
    """The service's API with a role's key (the steward's invites, the manager's events)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {
        "Authorization": f"Bearer {service['keys'][role]}",
        "Content-Type": "application/json",
    }
    request = urllib.request.Request(service["base"] + path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def invite_code(service: dict[str, Any]) -> str:
    from geo_service.auth import Role

    made = call(service, "/v1/invites", Role.STEWARD, {"role": "peer"})
    code: str = made["code"]
    return code


def stored(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stored event, as the program's manager reads them."""
    from geo_service.auth import Role

    return [f["properties"] for f in call(service, "/v1/events", Role.MANAGER)["features"]]


def square_of(service: dict[str, Any], kind: str, lon: float, lat: float) -> str:
    """The square the server's own blur gives a point."""
    from geo_service.ingest.privacy import blur_locations

    m, ix, iy = blur_locations([lon], [lat], [kind], service["app"].state.deployment)
    return f"{m[0]}:{ix[0]}:{iy[0]}"


@dataclass
class Phone:
    """A phone's browser context: its page, every request it made, and the taps counted."""

    page: Any
    base: str
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # bodies of every POST
    keys: list[str] = field(default_factory=list)  # and their Idempotency-Keys
    taps: int = 0

    @classmethod
    def open(cls, browser: Any, base: str, **options: Any) -> Phone:
        context = browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, timezone_id=ZONE, **options
        )
        phone = cls(context.new_page(), base)

        def guard(route: Any) -> None:
            if route.request.url.startswith(base):
                route.continue_()
            else:
                phone.outside.append(route.request.url)
                route.abort()

        def record(request: Any) -> None:
            if request.method == "POST" and "/v1/" in request.url:
                phone.sent.append(json.loads(request.post_data or "null"))
                phone.keys.append(request.headers.get("idempotency-key", ""))

        context.route("**/*", guard)
        context.on("request", record)
        # A load refused with no signal or after sign-out is the test's own doing; any other
        # console error or exception is the page's.
        phone.page.on("console", lambda m: phone.console(m))
        phone.page.on("pageerror", lambda e: phone.errors.append(str(e)))
        return phone

    def console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def tap(self, selector: str) -> None:
        self.page.tap(selector)
        self.taps += 1

    def tap_words(self, key: str) -> None:
        self.page.get_by_role("button", name=WORDS[key], exact=True).tap()
        self.taps += 1

    def shot(self, name: str) -> None:
        # No screen asks for words: no name, age or description can be typed anywhere.
        assert self.page.locator("input, textarea, select, [contenteditable]").count() == 0
        # Big buttons: at least 56 px tall and the screen's width (less its margins).
        sizes = self.page.evaluate(BUTTON_SIZES)
        assert sizes and all(h >= 56 and w >= 320 for w, h in sizes), sizes
        self.page.screenshot(path=str(SHOTS / f"{next(SHOT_NUMBERS):02d}-{name}.png"))

    def step(self, name: str) -> None:
        self.page.wait_for_selector(f"#screen[data-step='{name}']")

    def join(self, code: str) -> None:
        self.page.goto(f"{self.base}/join?code={code}")  # what the QR code opens
        self.tap(".join-go")
        self.page.wait_for_url("**/report")
        self.step("choose")

    def tap_square(self, lon: float, lat: float) -> tuple[float, float]:
        """Tap the map where (lon, lat) is drawn; return the point the tapped pixel is."""
        self.page.wait_for_function("() => window.reportMap && window.reportMap._loaded")
        x, y, at_lon, at_lat = self.page.evaluate(PIXEL_OF, [lon, lat])
        self.page.touchscreen.tap(x, y)
        self.taps += 1
        return at_lon, at_lat

    def tap_outside(self) -> None:
        """Tap the map beside the program's outline (the fitted area leaves a margin)."""
        self.page.wait_for_function("() => window.reportMap && window.reportMap._loaded")
        box = self.page.locator("#report-map").bounding_box()
        self.page.touchscreen.tap(box["x"] + 4, box["y"] + box["height"] / 2)
        self.taps += 1

    def close(self) -> None:
        self.page.context.close()


FLOWS: dict[str, tuple[list[str], str]] = {
    # type: (answer buttons, when)
    "needles_here": (["count_2-5", "yes_picked", "place_stairwell"], "now"),
    "cleanup_done": (["count_6-20", "minutes_60"], "earlier_today"),
    "overdose_helped": (["2", "outcome_died", "died_yes"], "yesterday"),
    "supplies_needed": (["supply_sharps_bin", "supply_naloxone", "next"], "now"),
}
KIND = {
    "needles_here": "needle_report",
    "cleanup_done": "cleanup",
    "overdose_helped": "overdose",
    "supplies_needed": "supplies_needed",
}
ANSWERS: dict[str, dict[str, Any]] = {
    "needles_here": {"count": 3, "picked_up": True, "place_type": "stairwell"},
    "cleanup_done": {"count": 13, "minutes": 60},
    "overdose_helped": {"naloxone_doses": 2, "outcome": "died", "fatal": True},
    "supplies_needed": {"supplies": "naloxone,sharps_bin"},
}


def answer_questions(phone: Phone, kind: str, *, shots: bool = False) -> None:
    phone.tap(f"button.type.{kind}")
    shown = None
    for key in FLOWS[kind][0]:
        step = phone.page.get_attribute("#screen", "data-step")
        if shots and key != "died_yes" and step != shown:
            phone.shot(f"{kind}-{step}")
            shown = step
        if kind == "overdose_helped" and key == "died_yes":
            phone.step("q-died")
            phone.shot(f"{kind}-asks-again")
        if key.isdigit():
            phone.page.get_by_role("button", name=key, exact=True).tap()
            phone.taps += 1
        else:
            phone.tap_words(key)


def expected_bucket(when: str, kind: str) -> tuple[str, str]:
    """(bucket_start, time_precision) for a report made now with this answer."""
    zone = ZoneInfo(ZONE)
    now = dt.datetime.now(zone)
    if when == "now":
        start = now.replace(minute=0, second=0, microsecond=0)
        if kind == "overdose":
            start = start.replace(hour=start.hour - start.hour % 6)
        return start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "hour"
    day = now.date() - dt.timedelta(days=1 if when == "yesterday" else 0)
    midnight = dt.datetime.combine(day, dt.time(), zone)
    return midnight.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "day"


def check_bodies(bodies: list[dict[str, Any]]) -> None:
    """No position and no exact time in anything the page sent."""

    def numbers(value: Any) -> Iterator[Any]:
        if isinstance(value, dict):
            for inner in value.values():
                yield from numbers(inner)
        elif isinstance(value, list):
            for inner in value:
                yield from numbers(inner)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield value

    assert bodies
    for body in bodies:
        assert not {k.lower() for k in body} & POSITION_KEYS, body
        assert all(float(n).is_integer() for n in numbers(body)), body
        assert BUCKET.match(body["bucket"]), body
        assert re.fullmatch(r"\d+:-?\d+:-?\d+", body["cell"]), body


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


CACHED = """async () => {
  await navigator.serviceWorker.ready;
  for (let i = 0; i < 150; i++) {
    const kept = await Promise.all(['/report', '/report/grid.json', '/static/report.js',
      '/static/grid.js', '/static/vendor/leaflet/leaflet.js'].map((p) => caches.match(p)));
    if (kept.every(Boolean)) { return true; }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false; }"""


def to_review(phone: Phone, kind: str = "needles_here") -> tuple[float, float]:
    answer_questions(phone, kind)
    phone.step("where")
    at = phone.tap_square(*POINT)
    phone.tap("button.go")
    phone.step("when")
    phone.tap_words("now")
    phone.step("review")
    return at


def banner(phone: Phone) -> str:
    text: str = phone.page.locator("#waiting").inner_text()
    return text


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
