"""Sent alerts where peers already are: an "Alerts" box on the maps index and a banner on the
phone's ``/report`` page, in the reader's view and language. A draft or a dismissed alert,
another program's alert, or one older than a week changes neither page, byte for byte; a
count below the reader's k never shows; a hostile area name stays text."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import Role
from geo_service.services.alerts.messages import audience_k
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore
from geo_service.web.report import BANNER_MAX
from tests.geo_service.open_alerts import HEADLINE, HEADLINE_FR, HOSTILE, make
from tests.geo_service.test_invites import invite, tap_join

Keys = dict[str, dict[str, str]]
BOX = re.compile(r'<section id="alerts".*?</section>', re.S)
BANNER = re.compile(r'<section id="alert-banner".*?</section>', re.S)
TOKEN = re.compile(r'(name="[a-z_]+" value=")[^"]*(")')


@pytest.fixture
def town(store: SqlStore, keys: Keys) -> int:
    _ = keys  # the keys make the programs "town" and "other"
    found = store.program_id("town")
    assert found is not None
    return found


def get(client: TestClient, path: str, headers: dict[str, str], language: str = "en") -> str:
    answer = client.get(path, headers={**headers, "Accept-Language": language})
    assert answer.status_code == 200, answer.text
    # What a page legitimately varies by viewer: its form token (none for a Bearer key).
    return TOKEN.sub(r"\1-\2", answer.text)


def pages(client: TestClient, keys: Keys) -> dict[str, str]:
    """Every page this feature touches, as each role below manager level gets it (planners
    cannot report: their /report is a refusal, which must not change either), in both
    languages; and the manager's /report."""
    shown = {}
    for language in ("en", "fr"):
        for role in ("peer", "planner"):
            for path in ("/maps", "/report"):
                answer = client.get(path, headers={**keys[role], "Accept-Language": language})
                shown[f"{role} {path} {language}"] = TOKEN.sub(r"\1-\2", answer.text)
        shown[f"manager /report {language}"] = get(client, "/report", keys["manager"], language)
    return shown


def section(pattern: re.Pattern[str], page: str) -> str:
    found = pattern.search(page)
    assert found, "no alerts on the page"
    return found.group(0)


def words(pattern: re.Pattern[str], page: str) -> str:
    """The section as a person reads its words ("Don't" for the page's "Don&#39;t")."""
    return html.unescape(section(pattern, page))


def test_a_sent_alert_is_on_the_index_and_the_report_page_in_english_and_french(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    alert = make(store, town)
    poster = f'href="/alerts/{alert.ref}/poster"'
    for role in ("peer", "planner", "manager", "steward"):
        box = words(BOX, get(client, "/maps", keys[role]))
        assert "<h2" in box and ">Alerts</h2>" in box, role
        assert f"{HEADLINE} — Lakeview" in box and poster in box and "Printable poster" in box
        assert '<time datetime="2026-11-30">November 30, 2026</time>' in box
        assert "<li>Carry naloxone.</li>" in box and "<li>Don't use alone.</li>" in box
    french = words(BOX, get(client, "/maps", keys["peer"], "fr"))
    assert ">Alertes</h2>" in french and f"{HEADLINE_FR} — Lakeview" in french
    assert "30 novembre 2026" in french and "Affiche à imprimer" in french
    assert "<li>Ayez de la naloxone sur vous.</li>" in french and poster in french
    assert HEADLINE not in french

    banner = words(BANNER, get(client, "/report", keys["peer"]))
    assert '>Drug alert · <time datetime="2026-11-30">November 30, 2026</time></h2>' in banner
    assert f'<p class="alert-what">{HEADLINE} — Lakeview</p>' in banner
    assert "Carry naloxone. Don't use alone." in banner and poster in banner
    banner_fr = words(BANNER, get(client, "/report", keys["peer"], "fr"))
    assert "Alerte drogue · " in banner_fr and "30 novembre 2026" in banner_fr
    assert f"{HEADLINE_FR} — Lakeview" in banner_fr and "Ayez de la naloxone sur vous." in banner_fr
    assert "Affiche à imprimer" in banner_fr and poster in banner_fr
    # The banner is above the form, and the poster it links to opens for a peer.
    page = get(client, "/report", keys["peer"])
    assert page.index('id="alert-banner"') < page.index('id="screen"')
    assert client.get(f"/alerts/{alert.ref}/poster", headers=keys["peer"]).status_code == 200


def test_without_an_open_sent_alert_there_is_no_box_and_no_banner(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    make(store, town, area_name="Last month", age_s=8 * 86400)  # sent, but older than a week
    for role in ("peer", "planner", "manager", "steward"):
        index = get(client, "/maps", keys[role])
        assert 'id="alerts"' not in index and "Last month" not in index, role
        assert ">Alerts</h2>" not in index
    for role in ("peer", "manager", "steward"):
        report = get(client, "/report", keys[role])
        assert "alert-banner" not in report.replace("/static/report.css", "")
        assert "Last month" not in report


def test_drafts_and_dismissed_alerts_change_no_page_below_manager_level(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    for sent_too in (False, True):
        if sent_too:
            make(store, town)  # with and without a box already on the page
        before = pages(client, keys)
        make(store, town, area_name="Draft Street", status="drafted", releasable=9)
        make(store, town, area_name="Dismissed Bay", status="dismissed", releasable=9)
        after = pages(client, keys)
        assert after == before
        assert not any("Draft Street" in p or "Dismissed Bay" in p for p in after.values())
        assert ("Lakeview" in after["peer /report en"]) is sent_too
        assert ("Lakeview" in after["planner /maps fr"]) is sent_too


def test_managers_read_how_many_drafts_wait_but_not_what_they_say(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    make(store, town, area_name="Draft Street", status="drafted")
    for role in ("manager", "steward"):
        box = section(BOX, get(client, "/maps", keys[role]))
        assert "1 draft waiting for review" in box and "geo-service alerts list" in box, role
        assert "Draft Street" not in box and "<ul" not in box  # no sent alert to list
    make(store, town, area_name="Draft Lane", status="drafted")
    make(store, town, area_name="Old Draft", status="drafted", age_s=8 * 86400)  # history
    box = section(BOX, get(client, "/maps", keys["manager"]))
    assert "2 drafts waiting for review" in box and "Draft Lane" not in box
    french = words(BOX, get(client, "/maps", keys["manager"], "fr"))
    assert "2 brouillons attendent une relecture" in french
    # Not a word of it for peers and planners, nor on anyone's phone page.
    for role in ("peer", "planner"):
        assert "draft" not in get(client, "/maps", keys[role]).lower(), role
    assert "draft" not in get(client, "/report", keys["manager"]).lower()


def test_a_count_shows_only_from_the_readers_k_and_never_on_the_phone(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, town: int
) -> None:
    k = audience_k(store, settings, town, Role.PEER)
    planner_k = audience_k(store, settings, town, Role.PLANNER)
    below = min(k, planner_k) - 1
    make(store, town, area_name="Below", releasable=below)
    for role in ("peer", "planner"):
        box = section(BOX, get(client, "/maps", keys[role]))
        assert "reported" not in box and f">{below} " not in box, role
    # Managers see every count; the count the view allows reaches the peer at k.
    assert f"{below} overdoses reported" in get(client, "/maps", keys["manager"])
    make(store, town, area_name="At k", releasable=k)
    peer_box = section(BOX, get(client, "/maps", keys["peer"]))
    assert f'<div class="alert-count">{k} overdoses reported</div>' in peer_box
    assert f"{below} overdoses" not in peer_box
    french = words(BOX, get(client, "/maps", keys["peer"], "fr"))
    assert f"{k} surdoses signalées" in french
    # The phone's banner is the same for every role that reports: no count at all.
    for role in ("peer", "manager"):
        banner = section(BANNER, get(client, "/report", keys[role]))
        assert "reported" not in banner and "At k" in banner, role  # the newest one


def test_hostile_area_names_stay_text(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    clean = get(client, "/report", keys["peer"])
    make(store, town, area_name=HOSTILE)
    escaped = html.escape(HOSTILE, quote=True).replace("&#x27;", "&#39;")
    for path in ("/maps", "/report"):
        page = get(client, path, keys["peer"])
        assert escaped in page, path
        assert "<script>alert(1)" not in page and "<b>" not in page
    report = get(client, "/report", keys["peer"])
    assert report.count("<script") == clean.count("<script") == 4
    assert get(client, "/maps", keys["peer"]).count("<script") == 0


def test_another_programs_alert_is_on_neither_page(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    before = pages(client, keys)
    other = store.program_id("other")
    assert other is not None and other != town
    make(store, other, area_name="Elsewhere")
    assert pages(client, keys) == before
    assert "Elsewhere" in get(client, "/maps", keys["other_manager"])


def test_the_phone_shows_the_newest_alerts_and_sends_to_the_index_for_the_rest(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    names = [f"Area {n}" for n in range(BANNER_MAX + 1)]
    for age, name in zip(range(len(names), 0, -1), names, strict=True):
        make(store, town, area_name=name, age_s=age * 60)  # the last one is the newest
    banner = section(BANNER, get(client, "/report", keys["peer"]))
    assert banner.count('<article class="alert">') == BANNER_MAX
    shown = names[-BANNER_MAX:]  # the newest, newest first
    assert all(name in banner for name in shown)
    assert not [name for name in names[:-BANNER_MAX] if name in banner]
    assert [banner.index(name) for name in reversed(shown)] == sorted(
        banner.index(name) for name in shown
    )
    assert 'href="/maps">More alerts this week are on the maps page</a>' in banner
    box = section(BOX, get(client, "/maps", keys["peer"]))
    assert all(name in box for name in names) and box.count('<li class="alert">') == len(names)


def test_every_phone_of_the_program_gets_the_same_page_with_an_alert(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    make(store, town, releasable=40)
    made = invite(client, keys["steward"])
    phone, answer = tap_join(app, made["code"])
    assert answer.status_code == 303
    page = phone.get("/report")
    assert "alert-banner" in page.text and "Lakeview" in page.text
    assert page.headers["cache-control"] in ("no-cache", "no-store")  # never kept stale
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert (
        page.text == get(client, "/report", keys["manager"]) == get(client, "/report", keys["peer"])
    )
