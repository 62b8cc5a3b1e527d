"""A phone for the report page's browser tests: a service to run it against
(``program_service``), a Chromium context at 360x740 with the network cut off except to the
service (``Phone``: it counts taps, records every body sent and saves numbered screenshots),
and the answers a peer taps for each kind of report. Not collected: its users are
tests/browser/test_report_browser.py and any later report test."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from geo_service.web.report_words import WORDS
from tests.browser import test_maps_browser as maps_browser

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


running = maps_browser.running


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
        # A test's detour, not a step a peer needs: not counted.
        self.page.touchscreen.tap(box["x"] + 4, box["y"] + box["height"] / 2)

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
