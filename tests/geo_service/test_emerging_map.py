"""/maps/emerging: a page for managers and peers, its legend's plain names in English and
French, peers' weeks refused, user text kept as data, and the index's link to it."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analysis.emerging import PEER_NAMES, Pattern
from geo_service.auth import Role
from maps.base import INLINE_SCRIPT, OFF_HOST
from tests.conftest import demo_town
from tests.geo_service.test_maps import HOSTILE, LABELS, rename_all_user_text

PATH = "/maps/emerging?kind=needle_report"
BUSY = [Pattern.NEW_HOT, Pattern.INTENSIFYING_HOT, Pattern.PERSISTENT_HOT]
FRENCH = {
    Pattern.NEW_HOT: "nouvellement fréquenté",
    Pattern.INTENSIFYING_HOT: "de plus en plus fréquenté",
    Pattern.PERSISTENT_HOT: "toujours fréquenté",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with demo_town(tmp_path_factory.mktemp("emerging-map")) as loaded:
        yield loaded


def page(demo: Any, role: Role, path: str = PATH) -> Any:
    # The client keeps the language cookie a ``lang=`` sets: every request names its own.
    if "lang=" not in path:
        path += ("&" if "?" in path else "?") + "lang=en"
    return demo["client"].get(path, headers=demo["keys"][role])


def popups(text: str) -> str:
    labels = json.loads(LABELS.search(text).group(1))  # type: ignore[union-attr]
    return " ".join(e.get("popup", "") + e.get("tooltip", "") for e in labels)


def test_manager_map_shows_patterns_with_their_plain_names(demo: Any) -> None:
    response = page(demo, Role.MANAGER)
    assert response.status_code == 200, response.text
    text = response.text
    assert "leaflet" in text and "cannot be shown" not in text
    assert OFF_HOST.findall(text) == []
    for pattern in BUSY:
        assert html.escape(PEER_NAMES[pattern]) in text
    # The rail yard (demo.py) is busy lately and not before; managers see the trend too.
    shown = popups(text)
    assert PEER_NAMES[Pattern.CONSECUTIVE_HOT] in text
    assert "trend z" in text or "trend z" in shown
    assert "Manager view" in text


def test_french_legend_speaks_french(demo: Any) -> None:
    text = page(demo, Role.MANAGER, PATH + "&lang=fr").text
    assert '<html lang="fr">' in text
    for pattern, words in FRENCH.items():
        assert html.escape(words) in text
        assert html.escape(PEER_NAMES[pattern]) not in text


def test_peer_map_is_built_from_releases_and_shows_no_statistics(demo: Any) -> None:
    response = page(demo, Role.PEER)
    assert response.status_code == 200, response.text
    text = response.text
    assert "leaflet" in text
    for pattern in BUSY:
        assert html.escape(PEER_NAMES[pattern]) in text
    assert "trend z" not in text and "Manager view" not in text
    assert "published months" in text
    french = page(demo, Role.PEER, PATH + "&lang=fr").text
    assert html.escape(FRENCH[Pattern.NEW_HOT]) in french


def test_weeks_are_refused_to_peers_with_the_reason(demo: Any) -> None:
    response = page(demo, Role.PEER, PATH + "&time_step=week")
    assert response.status_code == 400
    assert "This map cannot be shown" in response.text and "month" in response.text
    assert "leaflet" not in response.text.lower()
    assert page(demo, Role.MANAGER, PATH + "&time_step=week").status_code == 200


def test_the_maps_index_links_to_it(demo: Any) -> None:
    index = page(demo, Role.PEER, "/maps").text
    assert 'href="/maps/emerging?kind=needle_report"' in index


def test_user_text_stays_data(tmp_path: Path) -> None:
    with demo_town(tmp_path) as town:
        client, manager = town["client"], town["keys"][Role.MANAGER]
        plain = client.get(PATH, headers=manager)
        rename_all_user_text(town["app"], HOSTILE)
        hostile = client.get(PATH, headers=manager)
    assert plain.status_code == hostile.status_code == 200
    scripts = INLINE_SCRIPT.findall(hostile.text)
    assert scripts == INLINE_SCRIPT.findall(plain.text)
    assert hostile.headers["content-security-policy"] == plain.headers["content-security-policy"]
    assert not any("pwned" in s or "alert(" in s for s in scripts)
    assert html.escape(HOSTILE) in popups(hostile.text)
    assert "<img src=x" not in hostile.text and "<script>window" not in hostile.text
