"""Pages in English or French: how the language is chosen, that every page kind speaks it
and offers the switch, that cached map pages never cross languages, that refused reports are
told in it, and that a translation is escaped like any other text."""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from geo_service.auth import Role, create_key
from geo_service.i18n import accepted_languages, choose_language
from geo_service.main import create_app
from geo_service.web import shell
from maps.language import languages
from tests.conftest import bearer, make_settings
from tests.geo_service import test_maps
from tests.geo_service.test_maps import ORIGIN, PERIOD
from tests.geo_service.test_reports_api import Keys, send

town = test_maps.town  # the demo town with reports, as the map tests build it
SWITCH = re.compile(r'<nav class="lang-switch"[^>]*>(.*?)</nav>', re.S)


# -- choosing the language --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "chosen"),
    [
        ("lang=fr", "gs_lang=en", "en", "fr"),  # the query wins
        ("lang=en", "gs_lang=fr", "fr", "en"),
        ("", "gs_lang=fr", "en", "fr"),  # then the cookie
        ("", "other=1; gs_lang=fr", "en-CA", "fr"),
        ("", "", "fr-CA,en;q=0.5", "fr"),  # then the phone's languages
        ("", "", "en;q=0.4, fr;q=0.9", "fr"),  # by q-value, not by order
        ("", "", "de, fr;q=0.1", "fr"),  # one we do not have is skipped
        ("", "", "fr;q=0, en", "en"),  # q=0: not this one
        ("", "", "", "en"),  # else English
        ("lang=de", "gs_lang=xx", "de", "en"),  # unknown everywhere: ignored
        ("lang=<script>", "", "fr", "fr"),
        ("", "gs_lang=%22%3E", "", "en"),
    ],
)
def test_query_then_cookie_then_accept_language_then_english(
    query: str, cookie: str, accept: str, chosen: str
) -> None:
    assert choose_language(query, cookie, accept) == chosen


def test_accept_language_ranks_what_we_have() -> None:
    assert accepted_languages("fr-CA, fr;q=0.9, en;q=0.8") == ["fr", "en"]
    assert accepted_languages("en;q=0.3,fr;q=0.6") == ["fr", "en"]
    assert accepted_languages("*, de;q=0.9") == []
    assert accepted_languages("fr;q=abc, en") == ["en"]


@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=200))
def test_any_request_gets_a_language_we_have(query: str, cookie: str, accept: str) -> None:
    assert choose_language(query, cookie, accept) in languages()


# -- the pages ----------------------------------------------------------------------------------


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path, map_tiles="none"))
    with TestClient(app) as test_client:
        yield test_client


def switch_of(page: str) -> str:
    found = SWITCH.search(page)
    assert found, "the page has no language switch"
    return found.group(1)


def assert_switch(page: str, path: str) -> None:
    links = switch_of(page)
    assert f'href="{path}?lang=en" hreflang="en" lang="en"' in links.replace("&amp;", "&")
    assert f'href="{path}?lang=fr" hreflang="fr" lang="fr"' in links.replace("&amp;", "&")
    assert ">English</a>" in links and ">Français</a>" in links


def test_lang_in_the_query_is_kept_in_a_strict_cookie_for_a_year(pages: TestClient) -> None:
    page = pages.get("/signin?lang=fr")
    (cookie,) = [c for c in page.headers.get_list("set-cookie") if c.startswith("gs_lang=")]
    assert cookie.startswith("gs_lang=fr;")
    assert "Max-Age=31536000" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert '<html lang="fr">' in page.text
    assert "Accept-Language" in page.headers["vary"]  # a shared cache keeps each language
    # The cookie now chooses French without the query.
    again = pages.get("/join")
    assert '<html lang="fr">' in again.text and "<h1>Rejoindre avec un code</h1>" in again.text


def test_an_unknown_language_is_ignored_and_never_echoed(pages: TestClient) -> None:
    page = pages.get("/signin?lang=zq%3Cmark%3E")
    assert not [c for c in page.headers.get_list("set-cookie") if "gs_lang" in c]
    assert "zq" not in page.text and '<html lang="en">' in page.text
    refused = pages.get("/signin", headers={"Cookie": "gs_lang=zqmark"})
    assert "zqmark" not in refused.text and '<html lang="en">' in refused.text


def test_sign_in_and_join_pages_in_french(pages: TestClient) -> None:
    french = {"Accept-Language": "fr-CA,fr;q=0.9"}
    signin = pages.get("/signin", headers=french).text
    assert "<h1>Se connecter aux cartes</h1>" in signin and "Sign in" not in signin
    join = pages.get("/join", headers=french).text
    assert "<h1>Rejoindre avec un code</h1>" in join
    assert "jusqu'à 30 jours" in join.replace("&#39;", "'")
    assert "<h1>Sign in to the maps</h1>" in pages.get("/signin").text


def test_a_message_page_in_french(pages: TestClient) -> None:
    refused = pages.post(
        "/signin",
        data={"key": "x", "csrf_token": "0" * 10},
        headers={**ORIGIN, "Accept-Language": "fr"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    text = refused.text.replace("&#39;", "'")
    assert "<h1>Ce formulaire n'est plus à jour</h1>" in text
    assert "Rien n'a changé." in text and '<html lang="fr">' in text


def test_every_page_kind_has_the_switch(pages: TestClient) -> None:
    assert_switch(pages.get("/signin").text, "/signin")
    assert_switch(pages.get("/join").text, "/join")
    refused = pages.post("/signin", data={"key": "x"}, headers=ORIGIN, follow_redirects=False)
    assert_switch(refused.text, "/signin")
    app: Any = pages.app
    key = create_key(app.state.store, program="town", role=Role.MANAGER)[1]
    assert_switch(pages.get("/maps", headers=bearer(key)).text, "/maps")
    hotspots = pages.get(f"/maps/hotspots?period={PERIOD}", headers=bearer(key)).text
    # A map's switch is built from its own form (never the request's address).
    links = switch_of(hotspots).replace("&amp;", "&")
    assert f"/maps/hotspots?kind=needle_report&period={PERIOD}&distance_m=auto&lang=fr" in links


def test_the_switch_keeps_a_join_code_but_never_a_refused_query(pages: TestClient) -> None:
    join = pages.get("/join?code=abcd-efgh").text
    assert "/join?code=ABCD-EFGH&amp;lang=fr" in switch_of(join)
    page = pages.get("/maps/hotspots?period=zq-mark-7", headers=bearer("bad-key"))
    assert "zq-mark-7" not in page.text


def test_the_switch_is_a_big_touch_target() -> None:
    css = (Path(shell.__file__).parents[1] / "static" / "maps.css").read_text()
    rule = re.search(r"\.lang-switch a \{([^}]*)\}", css)
    assert rule and "min-height: 48px" in rule.group(1) and "min-width: 48px" in rule.group(1)


# -- map pages through the cache ----------------------------------------------------------------


def test_a_cached_map_never_crosses_languages(town: Any) -> None:
    app, client, keys = town
    manager = bearer(keys[Role.MANAGER])  # managers' pages are kept in the page cache
    url = f"/maps/hotspots?kind=needle_report&period={PERIOD}"
    english_words, french_words = "What the colours mean", "Ce que les couleurs veulent dire"
    order = ["fr", "en", "fr", "en", None]
    pages = []
    for language in order:
        headers = {**manager, **({"Accept-Language": language} if language else {})}
        pages.append(client.get(url, headers=headers).text)
    for language, page in zip(order, pages, strict=True):
        if language == "fr":
            assert french_words in page and english_words not in page
            assert "Plus actif que les rues autour — très sûr" in page
            assert '<html lang="fr">' in page
        else:
            assert english_words in page and french_words not in page
            assert '<html lang="en">' in page
    cache = app.state.services.hotspots
    keys_kept = [key for key in cache._bodies if key[0] == "map:hotspots"]
    assert sorted(key[-1] for key in keys_kept) == ["en", "fr"]  # two pages, one per language
    # The API's answers stay English whatever the caller speaks (they are cached for all).
    api = client.get(
        f"/v1/hotspots?kind=needle_report&period={PERIOD}",
        headers={**manager, "Accept-Language": "fr"},
    )
    assert "avril" not in api.text and "April" in api.text


def test_a_peers_map_legend_in_french_and_english(town: Any) -> None:
    _, client, keys = town
    url = f"/maps/hotspots?kind=needle_report&period={PERIOD}"
    peer = bearer(keys[Role.PEER])
    french = client.get(url + "&lang=fr", headers=peer).text
    assert "Ce que les couleurs veulent dire" in french and "Légende" in french
    assert "Points chauds : seringues signalées, avril–juin 2025" in french
    english = client.get(url + "&lang=en", headers=peer).text
    assert "What the colours mean" in english and "Hot spots of needle reports" in english


# -- refused reports --------------------------------------------------------------------------


def test_a_refused_report_is_told_in_french(app: FastAPI, client: TestClient, keys: Keys) -> None:
    del app
    french = send(client, [], {**keys["peer"], "Accept-Language": "fr"}).json()
    assert french["code"] == "not_an_object"
    assert french["detail"] == "le signalement doit être un seul objet JSON"
    assert french["title"] == "Le signalement n'a pas été pris"
    by_cookie = send(client, {"type": "x"}, {**keys["peer"], "Cookie": "gs_lang=fr"}).json()
    assert by_cookie["code"] == "unknown_type"
    assert by_cookie["detail"].startswith("type doit être un de ceux-ci : ")
    english = send(client, [], keys["peer"]).json()
    assert english["detail"] == "the report must be one JSON object"
    assert english["code"] == "not_an_object"


# -- escaping ---------------------------------------------------------------------------------


class Hostile(gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return '<b id="x">' + message + "</b>"


def test_a_translation_is_escaped_like_any_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shell, "translations", lambda _language: Hostile())
    shell.gettext_of.cache_clear()
    try:
        page = shell.render(
            "join.html", "xx", title="t", code="", token="", days='<i a="1">', switch=[]
        )
    finally:
        shell.gettext_of.cache_clear()
    assert "<b id" not in page and "<i a" not in page
    assert "&lt;b id=&#34;x&#34;&gt;Join with a code&lt;/b&gt;" in page
    assert "&lt;i a=&#34;1&#34;&gt;" in page  # a value inside a translated sentence, escaped


def test_a_planners_siting_map_in_french_and_english(town: Any) -> None:
    _, client, keys = town
    url = f"/maps/siting?p=2&period={PERIOD}"
    planner = bearer(keys[Role.PLANNER])
    french = client.get(url + "&lang=fr", headers=planner)
    assert french.status_code == 200, french.text
    assert "Sites de casiers choisis (2)" in french.text and "Candidats" in french.text
    assert "Classement des sites de consommation" in french.text or "Poids" in french.text
    assert "Chosen locker sites" not in french.text
    english = client.get(url + "&lang=en", headers=planner).text
    assert "Chosen locker sites (2)" in english and "Sites de casiers" not in english
