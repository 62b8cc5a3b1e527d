"""Insider attacks on what issue 17 added, round 3: parameters, names and selectors on the
demo town (DESIGN §4.5, §4.6). The attacker holds a peer and a planner key."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from geo_service.auth import Role
from geo_service.periods import latest_published
from tests.conftest import demo_town
from tests.geo_service.test_maps import HOSTILE, LABELS, rename_all_user_text

NEEDLES = {"kind": "needle_report"}
ROUTES = (
    ("/v1/published", NEEDLES),
    ("/v1/hotspots", NEEDLES),
    ("/v1/coverage", {**NEEDLES, "service": "needles"}),
    ("/maps/hotspots", NEEDLES),
    ("/maps/hotspots.geojson", NEEDLES),
    ("/maps/trends", NEEDLES),
    ("/maps/coverage", {**NEEDLES, "service": "needles"}),
    ("/maps/siting", {"p": "1"}),
    ("/maps/cleanup", {"budget": "60"}),
    ("/maps/cleanup.gpx", {"budget": "60"}),
)
# What a peer might send in the hope of a second release of one period, a band of its own,
# a manager's window, or a square size nobody released.
ODD = [
    ("period", "2025-H3"),
    ("period", "2025 "),
    ("period", "\uff12\uff10\uff12\uff15"),
    ("period", "2025-h1"),
    ("period", "2025\n"),
    ("distance_m", "500"),
    ("distance_m", "auto"),
    ("datetime", "2025-01-01T00:00:00Z/2025-02-01T00:00:00Z"),
    ("cell_m", "126"),
    ("cell_m", "0"),
    ("cell_m", "-125"),
    ("cell_m", "\uff11\uff12\uff15"),
    ("cell_m", "1e3"),
]
DISTINCT = {"2025-H3", "\uff12\uff10\uff12\uff15", "2025-h1", "\uff11\uff12\uff15", "1e3", "126"}
OPTION = re.compile(r'<option value="([^"]*)"( selected)?>')


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_town(tmp_path_factory.mktemp("round3-pages")) as loaded:
        yield loaded


@pytest.mark.parametrize("role", [Role.PEER, Role.PLANNER])
@pytest.mark.parametrize(("route", "base"), ROUTES)
def test_odd_parameters_are_refused_on_every_route_without_echo(
    town: dict[str, Any], role: Role, route: str, base: dict[str, str]
) -> None:
    """Attack: a peer or planner sends ``distance_m`` (the manager's band), ``datetime`` (a
    manager's window, which would read the store), a square size that is not the stored
    size times a power of two, and other spellings of a period (each would key a release of
    its own) to every route and page that answers them without it. Each is refused with a
    4xx that never echoes it."""
    client, headers = town["client"], town["keys"][role]
    latest = latest_published("quarter", now=time.time(), grace_days=7, tz=town["deployment"].tz)
    if route.startswith("/v1/"):
        base = {**base, "period": latest}
    plain = client.get(route, params=base, headers=headers)
    if role is Role.PEER and route == "/maps/siting":
        assert plain.status_code == 403
        return
    assert plain.status_code == 200, (route, plain.text[:300])
    for name, value in ODD:
        if (route, name) == ("/v1/hotspots", "distance_m"):
            continue  # the API's band over released cells: a function of the release
        params = {**base, name: value}
        if name == "datetime":
            params.pop("period", None)
        response = client.get(route, params=params, headers=headers)
        assert 400 <= response.status_code < 500, (route, name, value, response.status_code)
        if value in DISTINCT:
            assert value not in response.text, (route, name, value)


def test_a_year_on_the_trends_map_has_one_spelling_in_effect(town: dict[str, Any]) -> None:
    """Attack: ``year`` is a number, so ``2025 ``, ``+2025``, ``02025`` and ``2025.0`` are
    taken. They must all be the one year: the months asked are spelt from the number, so
    one release per month, and the page is the same bytes (its form token aside)."""
    client, peer = town["client"], town["keys"][Role.PEER]
    year = dt.date.today().year - 1

    def page(spelling: str) -> str:
        response = client.get("/maps/trends", params={"year": spelling}, headers=peer)
        assert response.status_code == 200, response.text
        return re.sub(r'name="token" value="[^"]*"', "", response.text)

    canonical = page(str(year))
    for spelling in (f"{year} ", f"+{year}", f"0{year}", f"{year}.0"):
        assert page(spelling) == canonical, spelling
    wide = "".join(chr(0xFF10 + int(d)) for d in str(year))
    refused = client.get("/maps/trends", params={"year": wide}, headers=peer)
    assert 400 <= refused.status_code < 500
    assert wide not in refused.text


def test_streets_are_the_same_bytes_for_peers_and_planners_and_never_shared(
    town: dict[str, Any],
) -> None:
    """Attack: the streets resource is the one answer cached for a year. It must be the
    same for every role (nothing role- or event-dependent to compare), kept only by the
    browser (``private``), and never served without a key."""
    client, keys = town["client"], town["keys"]
    page = client.get("/maps/hotspots?kind=needle_report", headers=keys[Role.PEER]).text
    found = re.search(r"/maps/streets\.json\?v=([0-9a-f-]+)", page)
    assert found
    answers = [
        client.get(found.group(0), headers={**keys[role], "Accept-Encoding": "identity"})
        for role in (Role.PEER, Role.PLANNER, Role.MANAGER)
    ]
    assert len({a.content for a in answers}) == 1
    assert {a.headers["cache-control"] for a in answers} == {"private, max-age=31536000, immutable"}
    anonymous = client.get(found.group(0), follow_redirects=False, headers={})
    assert anonymous.status_code in (303, 401)
    assert b"coordinates" not in anonymous.content


def test_a_peers_period_list_does_not_show_what_others_opened(town: dict[str, Any]) -> None:
    client, keys = town["client"], town["keys"]

    def offered() -> list[str]:
        page = client.get("/maps/hotspots?kind=needle_report", headers=keys[Role.PEER])
        assert page.status_code == 200
        return [value for value, _ in OPTION.findall(page.text)]

    before = offered()
    # A release is made when someone first asks for its period: a planner opening a year
    # nobody has opened must not change what a peer is offered.
    old = dt.date.today().year - 2
    opened = client.get("/maps/trends", params={"year": old}, headers=keys[Role.PLANNER])
    assert opened.status_code == 200
    assert offered() == before


PEER_PAGES = (
    "/maps/hotspots?kind=needle_report",
    "/maps/trends?kind=needle_report",
    "/maps/coverage?kind=needle_report&service=needles",
    "/maps/cleanup?budget=90&teams=2",
)


def test_hostile_names_reach_a_peers_new_labels_only_as_text(town: dict[str, Any]) -> None:
    """Attack: a key holder names sites, candidates and schools with ``</script>``, a
    backtick, ``${}`` and an ``<img onerror>``. Issue 17 put names in new places a peer
    sees: the site labels drawn beside circles when tiles fail (Leaflet takes them as
    HTML), the clean-up route's start selector and "near ..." stop words, warnings and the
    period selector. Every one must arrive escaped; none may add markup or script.
    (Runs last in this module: it renames the demo town's places.)"""
    client, peer = town["client"], town["keys"][Role.PEER]
    rename_all_user_text(town["app"], HOSTILE)
    escaped = html.escape(HOSTILE)
    for path in PEER_PAGES:
        page = client.get(path, headers=peer)
        assert page.status_code == 200, (path, page.text[:300])
        text = page.text
        assert "<script>window" not in text and "<img src=x" not in text, path
        found = LABELS.search(text)
        assert found, path
        names = [e["name"] for e in json.loads(found.group(1)) if "name" in e]
        assert names, path
        assert all(n.startswith(escaped) for n in names), path
        assert not any(set(n) & {"<", ">", '"', "`"} - set(escaped) for n in names), path
    route = client.get("/maps/cleanup?budget=90&teams=2", headers=peer).text
    assert HOSTILE in html.unescape(route), "the start selector names the sites, as text"
    assert "<script>window" not in route and "<img src=x" not in route
