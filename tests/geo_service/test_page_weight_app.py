"""Light pages at a city's scale, as served (issue 17): answers leave gzip-compressed when the
client accepts it, and are the same bytes once unpacked; the siting map draws the best-ranked
candidates (and every chosen locker), not every grid cell of a city."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from geo_service.auth import Role
from geo_service.web import planning
from tests.conftest import demo_town

GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_town(tmp_path_factory.mktemp("town")) as loaded:
        yield loaded


def raw_get(town: dict[str, Any], path: str, headers: dict[str, str]) -> tuple[Any, bytes]:
    """The answer and its body as sent (not decoded by the client)."""
    with town["client"].stream("GET", path, headers=headers) as answer:
        return answer, b"".join(answer.iter_raw())


@pytest.mark.parametrize(
    "path",
    [
        "/maps/hotspots?kind=needle_report",
        "/maps/trends?kind=needle_report",
        "/maps/hotspots.geojson?kind=needle_report",
    ],
)
def test_answers_are_compressed_when_accepted_and_identical_unpacked(
    town: dict[str, Any], path: str
) -> None:
    key = town["keys"][Role.MANAGER]
    zipped, zipped_body = raw_get(town, path, {**key, **GZIP})
    plain, plain_body = raw_get(town, path, {**key, **PLAIN})
    assert zipped.status_code == plain.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert gzip.decompress(zipped_body) == plain_body
    assert len(zipped_body) < len(plain_body) / 3
    # The page's policy hashes its inline scripts as written, before compression.
    for name in ("content-security-policy", "content-disposition", "cache-control"):
        assert zipped.headers.get(name) == plain.headers.get(name)


def test_the_siting_map_draws_the_best_candidates_and_every_chosen_locker(
    town: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = town["keys"][Role.PLANNER]
    client = town["client"]
    full = client.get("/maps/siting?p=3&service=needles", headers=key).text
    monkeypatch.setattr(planning, "MAP_CANDIDATES", 1)
    cut = client.get("/maps/siting?p=3&service=needles", headers=key).text
    listed = re.findall(r"<li><b>([^<]+)</b>: score", full)
    kept = re.findall(r"<li><b>([^<]+)</b>: score", cut)
    lockers = client.post(
        "/v1/siting/lockers", json={"p": 3, "service": "needles"}, headers=key
    ).json()
    chosen = {c["name"] for c in lockers["chosen"]}
    assert len(listed) > 1 + len(chosen)  # the cut has something to leave out
    assert kept[0] == listed[0]
    assert set(kept) == {listed[0]} | (chosen & set(listed))
    island = re.search(r'id="map-labels">(.*?)</script>', cut)
    assert island is not None
    labels = json.loads(island.group(1))
    assert all(any(name in entry.get("popup", "") for entry in labels) for name in chosen)


def test_pages_of_the_town_carry_no_folium_feature_ids(town: dict[str, Any]) -> None:
    """Packed: no per-square id, no per-square case of a style switch."""
    key = town["keys"][Role.MANAGER]
    page = town["client"].get("/maps/trends?kind=needle_report", headers=key).text
    assert "packed_vertices" in page
    assert re.search(r'case "\d+":', page) is None
    assert len(re.findall(r'"id":\s*"\d+"', page)) == 1  # the area's outline, one feature
