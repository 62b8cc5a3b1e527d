"""``/report``, the peer's phone report page, and what it installs: who gets the page, the
form token only fresh and only for a phone's session, the manifest, its icons and the
service worker, and sign-out clearing what the phone kept."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from geo_service.auth import SESSION_COOKIE
from geo_service.security import form_token
from geo_service.web import report, report_words
from geo_service.web.report import THEME
from tests.conftest import problem
from tests.geo_service.test_invites import ORIGIN, invite, tap_join

Keys = dict[str, dict[str, str]]
STATIC = Path(__file__).resolve().parents[2] / "geo_service" / "static"
ISLAND = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.S)


def joined(app: FastAPI, client: TestClient, keys: Keys, role: str = "peer") -> TestClient:
    made = invite(client, keys["steward"], role=role)
    phone, answer = tap_join(app, made["code"])
    assert answer.status_code == 303
    return phone


def page_data(html: str) -> dict[str, Any]:
    found = ISLAND.search(html)
    assert found, "the page has no data island"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_joining_as_a_peer_opens_the_report_page_a_planner_the_maps(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    made = invite(client, keys["steward"])
    _, answer = tap_join(app, made["code"])
    assert answer.headers["location"] == "/report"
    made = invite(client, keys["steward"], role="planner")
    _, answer = tap_join(app, made["code"])
    assert answer.headers["location"] == "/maps"


def test_the_page_carries_words_and_addresses_but_no_token(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone = joined(app, client, keys)
    page = phone.get("/report")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    session = phone.cookies.get(SESSION_COOKIE)
    assert session and form_token(session) not in page.text  # a kept page holds no token
    assert page.headers["cache-control"] in ("no-cache", "no-store")
    policy = page.headers["content-security-policy"]
    assert "manifest-src 'self'" in policy and "worker-src 'self'" in policy
    assert "script-src 'self';" in policy  # still no inline script
    assert "geolocation=(self)" in page.headers["permissions-policy"]
    data = page_data(page.text)
    assert data["words"] == report_words.WORDS
    assert data["grid"] == "/report/grid.json" and data["token"] == "/report/token"
    # Every word a person reads comes from the island (and the language switch, each
    # language named in itself): the frame itself has no text.
    switch = re.search(r'<nav class="lang-switch".*?</nav>', page.text, flags=re.S)
    assert switch and "Français" in switch.group(0) and 'aria-current="true"' in switch.group(0)
    body = re.sub(
        r"<script.*?</script>|<title>.*?</title>|<nav.*?</nav>|<[^>]+>", "", page.text, flags=re.S
    )
    assert body.strip() == ""
    assert f"<title>{report_words.WORDS['page_title']}</title>" in page.text
    # Another page keeps geolocation off.
    assert "geolocation=()" in phone.get("/maps").headers["permissions-policy"]


def test_words_cannot_become_markup_or_script(
    app: FastAPI, client: TestClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A catalogue's translation is text from a contributor: it must stay data.
    hostile = "</script><script>alert(1)</script>`${alert(2)}`\u2028&amp;"
    monkeypatch.setitem(report_words.WORDS, "choose", hostile)
    monkeypatch.setitem(report_words.WORDS, "page_title", hostile)
    phone = joined(app, client, keys)
    html = phone.get("/report").text
    assert html.count("<script") == 4  # the island and three scripts of our own
    assert "alert(1)</script>" not in html
    assert f"<title>{escape(hostile)}</title>" in html
    assert page_data(html)["words"]["choose"] == hostile


def test_every_word_the_script_asks_for_is_in_the_table() -> None:
    script = (STATIC / "report.js").read_text()
    asked = set(re.findall(r"\bword\(\"([a-z_0-9]+)\"", script))
    prefixed = set(re.findall(r"words: \"([a-z_]+)\"", script))
    named = set(re.findall(r"\"([a-z_]+)\": \"([a-z_0-9]+)\"", script))
    assert asked and prefixed
    missing = asked - report_words.WORDS.keys()
    missing |= {w for _, w in named} - report_words.WORDS.keys()
    assert not missing, missing
    for prefix in prefixed:
        assert any(k.startswith(prefix) for k in report_words.WORDS), prefix
    # Answers shown through a prefix: each stepper and choice has its words.
    for key in ("count_2-5", "count_more", "place_building", "minutes_120", "outcome_died"):
        assert key in report_words.WORDS
    # No English sentence in the script itself: its strings are keys, paths and CSS names.
    literals = re.findall(r"\"([^\"\n]*)\"", script)
    sentences = [s for s in literals if re.search(r"[A-Za-z]{2,} [a-z]{2,} [a-z]{2,}", s)]
    assert sentences == []


def test_a_role_that_may_not_report_gets_a_plain_refusal(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    planner = joined(app, client, keys, role="planner")
    page = planner.get("/report")
    assert page.status_code == 403 and "report-data" not in page.text
    assert "cannot send reports" in page.text
    assert problem(planner.get("/report/token"), 403)["code"] == "forbidden"


def test_without_a_sign_in_the_page_sends_to_sign_in(app: FastAPI, client: TestClient) -> None:
    _ = client  # the app's lifespan is running
    answer = TestClient(app).get("/report", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/report"


def test_the_token_is_fresh_and_only_for_a_phone_session(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone = joined(app, client, keys)
    answer = phone.get("/report/token")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    session = phone.cookies.get(SESSION_COOKIE)
    assert session and answer.json() == {"token": form_token(session)}
    # A key is not a phone: it sends no token, so it gets none.
    assert problem(client.get("/report/token", headers=keys["peer"]), 401)
    assert problem(TestClient(app).get("/report/token"), 401)
    stranger = TestClient(app)
    stranger.cookies.set(SESSION_COOKIE, "x" * 43)
    assert problem(stranger.get("/report/token"), 401)
    # Signed out: the session's token is gone with it, and the phone is told to clear.
    token = answer.json()["token"]
    out = phone.post("/signout", data={"csrf_token": token}, headers=ORIGIN, follow_redirects=False)
    assert out.status_code == 303 and out.headers["clear-site-data"] == '"cache", "storage"'
    assert problem(phone.get("/report/token"), 401)


def png_size_and_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Read an 8-bit RGB PNG with no filter (what the icon writer makes), checking CRCs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour == 2 and b"IEND" in chunks
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_the_app_installs_with_its_manifest_icons_and_worker(
    app: FastAPI, client: TestClient
) -> None:
    _ = client  # the app's lifespan is running
    anyone = TestClient(app)
    manifest = anyone.get("/report/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    body = manifest.json()
    assert body["start_url"] == "/report" and body["display"] == "standalone"
    assert body["theme_color"] == THEME and body["short_name"]
    for icon in body["icons"]:
        png = anyone.get(icon["src"])
        assert png.headers["content-type"] == "image/png"
        width, height, rows = png_size_and_pixels(png.content)
        assert f"{width}x{height}" == icon["sizes"] and width in (192, 512)
        assert len(rows) == height * (1 + 3 * width)
        centre = (height // 2) * (1 + 3 * width) + 1 + 3 * (width // 2)
        assert rows[1:4] == bytes.fromhex(THEME[1:])  # the corner: the theme colour
        assert rows[centre : centre + 3] == bytes.fromhex("f2a93b")  # the marked square
    assert anyone.get("/report/icon-64.png").status_code == 404
    worker = anyone.get("/report-sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith(
        "text/javascript"
    )
    assert worker.headers["service-worker-allowed"] == "/report"
    # The cache is named by what it keeps cache-first: a new report.js means a new worker.
    source = (STATIC / "report-sw.js").read_text()
    named = re.search(r'var CACHE = "(geo-report-[0-9a-f]{16})";', worker.text)
    assert named and worker.text == source.replace('"geo-report-v1"', f'"{named.group(1)}"')


def test_a_changed_script_gives_the_worker_a_new_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (*report.WORKER_FILES, "report-sw.js"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((STATIC / name).read_bytes())
    monkeypatch.setattr(report, "STATIC", tmp_path)
    report.worker_script.cache_clear()
    first = report.worker_script()
    report.worker_script.cache_clear()
    assert report.worker_script() == first  # the same files, the same worker
    (tmp_path / "report.js").write_bytes(b"// a new version\n")
    report.worker_script.cache_clear()
    second = report.worker_script()
    report.worker_script.cache_clear()
    assert second != first and second.replace(b"\n", b"") != first.replace(b"\n", b"")
    assert first.count(b"geo-report-") == second.count(b"geo-report-") == 1


def test_every_phone_of_a_program_gets_the_same_page(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    # Nothing personal in it: the service worker may keep it, and a peer who reads its
    # source learns nothing about another phone or what anyone sent.
    first, second = joined(app, client, keys), joined(app, client, keys)
    assert first.get("/report").text == second.get("/report").text
    manager = client.get("/report", headers=keys["manager"])
    assert manager.status_code == 200 and manager.text == first.get("/report").text


def test_a_french_phone_gets_every_word_in_french(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    phone = joined(app, client, keys)
    page = phone.get("/report", headers={"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in page.text
    words = page_data(page.text)["words"]
    assert words["needles_here"] == "Seringues ici" and words["send"] == "Envoyer"
    # Only words that are the same in both languages stay as they were ("1", "Naloxone", "Pipes").
    same = {k for k, v in words.items() if v == report_words.WORDS[k]}
    assert same <= {"count_1", "supply_naloxone", "supply_pipes"}, same
    manifest = phone.get("/report/manifest.webmanifest", headers={"Accept-Language": "fr"})
    assert manifest.json()["lang"] == "fr" and manifest.json()["short_name"] == "Signaler"
    english = phone.get("/report", headers={"Accept-Language": "en"})
    assert page_data(english.text)["words"] == report_words.WORDS
