"""Insider attacks on the phone report path (issue 18): a peer whose phone also reports, a
person holding two keys, a page on another site, the public. Each attack is a test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import SESSION_COOKIE, Role, create_key
from geo_service.errors import InvalidParameter
from geo_service.main import create_app
from geo_service.periods import parse_period
from geo_service.security import form_token
from geo_service.services.releases import get_release
from geo_service.settings import EventKind
from geo_service.storage.sql import SqlStore
from geo_service.web import report as report_module
from tests.conftest import bearer, make_settings
from tests.geo_service.test_invites import ORIGIN, invite, tap_join
from tests.geo_service.test_report_page import ISLAND, page_data
from tests.geo_service.test_reports_api import hour_start, report

Keys = dict[str, dict[str, str]]
TOKEN = "X-Form-Token"
# Headers that differ per request whatever is stored: the clock and the request's own id.
PER_REQUEST = {"date", "x-request-id"}
HOSTILE = "</script><img src=x onerror=alert(1)>`${alert(2)}`\u2028"


def phone_of(app: FastAPI, client: TestClient, keys: Keys, role: str = "peer") -> TestClient:
    made = invite(client, keys["steward"], role=role)
    phone, joined = tap_join(app, made["code"])
    assert joined.status_code == 303
    phone.headers.update(ORIGIN)
    return phone


def token_of(phone: TestClient) -> str:
    session = phone.cookies.get(SESSION_COOKIE)
    assert session
    return form_token(session)


def send(phone: TestClient, body: dict[str, Any], idem: str | None = None, **head: str) -> Any:
    headers = {TOKEN: token_of(phone), "Idempotency-Key": idem or str(uuid.uuid4()), **head}
    return phone.post("/v1/reports", json=body, headers=headers)


def shape(answer: Any) -> tuple[int, bytes, dict[str, str]]:
    """Everything an answer tells, but the clock and its own request id."""
    headers = {k: v for k, v in answer.headers.items() if k not in PER_REQUEST}
    return answer.status_code, answer.content, headers


def fill(
    client: TestClient, app: FastAPI, body: dict[str, Any], reporters: int = 6, each: int = 5
) -> None:
    """Many reports from other peers' keys into the same square and hour."""
    for _ in range(reporters):
        key = bearer(create_key(app.state.store, program="town", role=Role.PEER)[1])
        for _ in range(each):
            answer = client.post(
                "/v1/reports", json=body, headers={**key, "Idempotency-Key": uuid.uuid4().hex}
            )
            assert answer.status_code == 201, answer.text


@contextmanager
def count_statements(store: SqlStore) -> Iterator[list[str]]:
    """The SQL statements' verbs run while the block runs."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(str(args[2]).split()[0])

    sa.event.listen(store.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", note)


def test_the_answer_replay_409_and_refusals_are_the_same_whatever_is_stored(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    """A peer's phone probes a square before and after others filled it and its month was
    released: every answer, header and the store work done (the timing class) match."""
    phone = phone_of(app, client, keys)
    body = report(app)
    too_old = report(app, bucket=hour_start(60).isoformat(timespec="minutes"))

    def probe() -> list[Any]:
        idem = str(uuid.uuid4())
        with count_statements(store) as seen:
            first = send(phone, body, idem)
        replay = send(phone, body, idem)
        conflict = send(phone, report(app, count="1"), idem)
        refused = send(phone, too_old)
        assert first.status_code == 201 and replay.status_code == 201
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.content == first.content
        return [shape(first), shape(replay), shape(conflict), shape(refused), list(seen)]

    assert send(phone, report(app, "cleanup_done")).status_code == 201  # warm the caches
    empty = probe()
    fill(client, app, body)
    busy = probe()
    program = store.program_id("town") or 0
    month = parse_period(hour_start(1).strftime("%Y-%m"), app.state.deployment)
    get_release(
        store, app.state.deployment, app.state.settings, program_id=program,
        kind=EventKind.NEEDLE_REPORT, period=month, now=time.time() + 400 * 86400,
    )  # fmt: skip
    released = probe()
    assert empty == busy == released


def towns(tmp_path: Path, late: bool) -> str:
    """A town whose month is released, then (if ``late``) reported into from phones, then
    its quarter made: the quarter's body as peers get it."""
    app = create_app(make_settings(tmp_path / str(late)))
    with TestClient(app) as client:
        store = app.state.store
        keys = {r.value: bearer(create_key(store, program="town", role=r)[1]) for r in Role}
        body = report(app, bucket=hour_start(1).isoformat(timespec="minutes"))
        fill(client, app, body, reporters=6, each=2)
        program, deployment = store.program_id("town"), app.state.deployment
        later = time.time() + 400 * 86400
        month = parse_period(hour_start(1).strftime("%Y-%m"), deployment)
        moment = hour_start(1)
        quarter = parse_period(f"{moment.year}-Q{(moment.month - 1) // 3 + 1}", deployment)
        common = {"program_id": program, "kind": EventKind.NEEDLE_REPORT, "now": later}
        made = get_release(store, deployment, app.state.settings, period=month, **common)
        before = store.release(program, "needle_report", month.label).body
        assert made.features, "the month must release something for the attack to mean much"
        if late:
            phones = [phone_of(app, client, keys) for _ in range(3)]
            for phone in phones:
                for _ in range(4):
                    assert send(phone, body).status_code == 201
        assert store.release(program, "needle_report", month.label).body == before
        get_release(store, deployment, app.state.settings, period=quarter, **common)
        return str(store.release(program, "needle_report", quarter.label).body)


def test_reports_into_a_released_month_reach_no_release_peers_see(tmp_path: Path) -> None:
    assert towns(tmp_path, late=True) == towns(tmp_path, late=False)


PAGES = ("/report", "/report/grid.json", "/report/manifest.webmanifest", "/report-sw.js")


def test_the_page_grid_manifest_and_worker_are_byte_identical_after_reports(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    phone = phone_of(app, client, keys)

    def everything() -> list[tuple[int, bytes, dict[str, str]]]:
        return [
            shape(phone.get(path, headers={"Accept-Language": lang}))
            for path in PAGES
            for lang in ("en", "fr")
        ]

    before = everything()
    fill(client, app, report(app))
    for _ in range(5):
        assert send(phone, report(app, "overdose_helped")).status_code == 201
    month = parse_period(hour_start(1).strftime("%Y-%m"), app.state.deployment)
    get_release(
        store, app.state.deployment, app.state.settings, program_id=store.program_id("town") or 0,
        kind=EventKind.NEEDLE_REPORT, period=month, now=time.time() + 400 * 86400,
    )  # fmt: skip
    assert everything() == before


def test_a_form_token_stays_with_its_own_phone_and_session(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    peer, other, planner = (phone_of(app, client, keys, r) for r in ("peer", "peer", "planner"))
    cookie = next(c for c in peer.cookies.jar if c.name == SESSION_COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
    joined = tap_join(app, invite(client, keys["steward"])["code"])[1]
    assert "samesite=strict" in joined.headers["set-cookie"].lower()
    fetched = peer.get("/report/token", headers={"Origin": "http://evil.example"})
    assert fetched.headers["cross-origin-resource-policy"] == "same-origin"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.headers["content-type"] == "application/json"
    # Another phone's token, a planner's own token, a key-only caller: none sends or gets one.
    assert send(other, report(app), **{TOKEN: token_of(peer)}).status_code == 403
    assert send(planner, report(app)).json()["code"] == "forbidden"
    assert planner.get("/report/token").status_code == 403
    for role in ("peer", "planner", "manager"):
        assert client.get("/report/token", headers=keys[role]).status_code == 401
    # A planner key beside a peer's phone cookie is the planner: the key is never upgraded.
    mixed = send(peer, report(app), **keys["planner"])
    assert mixed.status_code == 403


@pytest.mark.parametrize("origins", [(), ("https://dashboard.example",)])
def test_no_report_answer_lets_another_site_read_it(tmp_path: Path, origins: tuple[str]) -> None:
    app = create_app(make_settings(tmp_path, cors_origins=origins))
    with TestClient(app) as client:
        keys = {
            r.value: bearer(create_key(app.state.store, program="town", role=r)[1]) for r in Role
        }
        phone = phone_of(app, client, keys)
        site = {"Origin": origins[0] if origins else "http://evil.example"}
        answers = [phone.get(path, headers=site) for path in (*PAGES, "/report/token")]
        answers += [client.get(path, headers={**site, **keys["peer"]}) for path in PAGES]
        answers.append(
            phone.options(
                "/report/token",
                headers={**site, "Access-Control-Request-Method": "GET"},
            )
        )
        for answer in answers:
            shared = [h for h in answer.headers if h.lower().startswith("access-control-allow")]
            assert shared == [], (answer.url, shared)


def test_personal_answers_are_never_stored_and_language_answers_vary(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone = phone_of(app, client, keys)
    personal = [
        phone.get("/report"),
        phone.get("/report/token"),
        send(phone, report(app)),
        send(phone, report(app, count="9")),
        send(phone, report(app), **{TOKEN: "0" * 64}),
        client.get("/report", headers=keys["peer"]),
    ]
    for answer in personal:
        assert answer.headers["cache-control"] == "no-store", answer.url
    assert phone.get("/report/grid.json").headers["cache-control"].startswith("private")
    # What anyone may fetch without a sign-in: if its words follow the language, a shared
    # cache must be told (Vary), or never keep it.
    public = TestClient(app)
    for path in ("/report/manifest.webmanifest", "/report-sw.js", "/report/icon-192.png"):
        english = public.get(path, headers={"Accept-Language": "en"})
        french = public.get(path, headers={"Accept-Language": "fr"})
        if english.content != french.content:
            vary = {v.strip().lower() for v in french.headers.get("vary", "").split(",")}
            kept = french.headers.get("cache-control", "") != "no-store"
            assert "accept-language" in vary or not kept, path


def test_a_hostile_program_name_is_refused_and_never_reaches_the_page(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    with pytest.raises(InvalidParameter):
        create_key(store, program=HOSTILE, role=Role.PEER)
    phone = phone_of(app, client, keys)
    # Even a name put in the table behind the check's back (an old row, a hand edit).
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE programs SET name = :n WHERE name = 'town'"), {"n": HOSTILE})
    for path in ("/report", "/report/manifest.webmanifest", "/report/grid.json"):
        text = phone.get(path).text
        assert "</script><img" not in text and "onerror=alert" not in text, path


class Hostile:
    """A catalogue whose every translation is an attack."""

    def gettext(self, _: str) -> str:
        return HOSTILE


def test_a_hostile_translation_stays_data_on_the_page_and_in_the_manifest(
    app: FastAPI, client: TestClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "translations", lambda _: Hostile())
    phone = phone_of(app, client, keys)
    html = phone.get("/report").text
    island = ISLAND.search(html)
    assert island and "<" not in island.group(1) and "\u2028" not in island.group(1)
    assert html.count("<script") == 4 and "<img" not in html
    assert set(page_data(html)["words"].values()) == {HOSTILE}
    manifest = phone.get("/report/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    assert manifest.headers["x-content-type-options"] == "nosniff"
    assert manifest.json()["name"] == HOSTILE


ODD_LANGS = (
    '"><script>alert(1)</script>',
    "fr\r\nSet-Cookie: a=b",
    "FR",
    "fr-CA",
    "../en",
    "x" * 300,
)


def test_odd_language_choices_are_ignored_and_never_echoed(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone = phone_of(app, client, keys)
    english = phone.get("/report", headers={"Accept-Language": "en"}).text
    for odd in ODD_LANGS:
        answer = phone.get("/report", params={"lang": odd}, headers={"Accept-Language": "en"})
        assert answer.status_code == 200 and answer.text == english, odd
        assert "gs_lang" not in answer.headers.get("set-cookie", "")
    # A huge Accept-Language is read only so far: no error, no echo, no late French.
    huge = "xx;q=0.1," * 20_000 + "fr"
    answer = phone.get("/report", headers={"Accept-Language": huge})
    assert answer.status_code == 200 and answer.text == english
    assert phone.get("/report", headers={"Accept-Language": "fr," + huge}).text != english
    for cookie in ('"<script>alert(1)</script>"', "fr<img src=x>", "fr; gs_lang=de"):
        marked = TestClient(app)
        marked.cookies.set(SESSION_COOKIE, phone.cookies[SESSION_COOKIE])
        marked.cookies.set("gs_lang", cookie)
        answer = marked.get("/report", headers={"Accept-Language": "en"})
        assert answer.status_code == 200 and "alert(1)" not in answer.text
        assert '<html lang="en">' in answer.text


def test_sign_out_clears_the_phone_and_a_revoked_phone_stops_at_once(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    made = invite(client, keys["steward"])
    phone, _ = tap_join(app, made["code"])
    phone.headers.update(ORIGIN)
    token = phone.get("/report/token").json()["token"]  # what the page holds in memory
    assert send(phone, report(app), **{TOKEN: token}).status_code == 201
    revoked = client.delete(f"/v1/invites/{made['id']}", headers=keys["steward"])
    assert revoked.status_code == 200, revoked.text
    assert send(phone, report(app), **{TOKEN: token}).status_code == 401
    assert phone.get("/report/token").status_code == 401
    assert phone.get("/report/grid.json").status_code == 401
    assert phone.get("/report", follow_redirects=False).status_code == 303
    # Sign-out: the phone is told to drop its queue and cache, and a copy of the old cookie
    # (kept by whoever saw it) no longer sends.
    other = phone_of(app, client, keys)
    kept = other.cookies[SESSION_COOKIE]
    out = other.post("/signout", data={"csrf_token": token_of(other)}, follow_redirects=False)
    assert out.status_code == 303
    cleared = {p.strip() for p in out.headers["clear-site-data"].split(",")}
    assert {'"cache"', '"storage"'} <= cleared
    thief = TestClient(app, headers=ORIGIN)
    thief.cookies.set(SESSION_COOKIE, kept)
    assert send(thief, report(app)).status_code == 401


def test_the_session_path_logs_no_square_bucket_token_or_cookie(
    app: FastAPI, client: TestClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    phone = phone_of(app, client, keys)
    body = report(app, count="more")
    idem = str(uuid.uuid4())
    caplog.set_level("DEBUG")
    assert send(phone, body, idem).status_code == 201
    send(phone, body, idem)  # a replay
    send(phone, report(app, count="1"), idem)  # a 409
    send(phone, report(app, count="9"))  # a 422
    send(phone, body, **{TOKEN: "0" * 64})  # a 403
    phone.get("/report/token")
    text = caplog.text
    assert "/v1/reports" in text  # the request log ran
    _, ix, iy = body["cell"].split(":")
    session = phone.cookies[SESSION_COOKIE]
    for secret in (body["cell"], ix, iy, body["bucket"], idem, session, token_of(phone)):
        assert secret not in text
