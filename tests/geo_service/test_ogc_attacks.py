"""/ogc attacked as DESIGN §4 expects: a peer who also sends reports sweeps bbox, datetime,
limit and paging for a hidden count; a layer the role may not read is probed against one
that does not exist; user text meant as markup or script in a site or candidate name; the
public API of a program that does not publish."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from shapely.geometry import Point, shape
from shapely.geometry import box as box_polygon

from geo_service.storage import ContextFeature
from tests.geo_service.ogc_town import HOT, LONELY, ogc_town

NASTY = "</script><b>${x}`alert(1)`"
K = 5  # the deployment's floor, which the town keeps


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ogc-attacks")
    with ogc_town(f"sqlite:///{tmp}/test.sqlite3", tmp, site_name=NASTY) as made:
        nasty = ContextFeature("candidate", "locker", NASTY, HOT[0], HOT[1], notes=NASTY)
        made["store"].store_context(made["program_id"], [nasty])
        yield made


def ogc(town: dict[str, Any], path: str, role: str = "peer", **params: Any) -> Any:
    return town["client"].get(path, params=params or None, headers=town["keys"][role])


def published(town: dict[str, Any], kind: str) -> dict[str, Any]:
    answer = ogc(town, "/v1/published", kind=kind, period=town["month"])
    assert answer.status_code == 200
    return {f["id"]: f for f in answer.json()["features"]}


def boxes_around(centre: tuple[float, float]) -> Iterator[str]:
    """Boxes from 20 m to 2 km around a point, and a grid of small ones over it."""
    for half in (0.0002, 0.0005, 0.001, 0.003, 0.01, 0.03):
        yield f"{centre[0] - half},{centre[1] - half / 2},{centre[0] + half},{centre[1] + half / 2}"
    for dx, dy in itertools.product(range(-2, 3), range(-2, 3)):
        west, south = centre[0] + dx * 0.001, centre[1] + dy * 0.0005
        yield f"{west},{south},{west + 0.001},{south + 0.0005}"


@pytest.mark.parametrize("kind", ["needle_report", "overdose"])
def test_a_peer_sweeping_every_parameter_sees_only_the_release(
    town: dict[str, Any], kind: str
) -> None:
    release = published(town, kind)
    assert release, "the sweep is over a layer that shows something"
    path = f"/ogc/collections/{kind}-cells-{town['month']}/items"
    month = town["month"]
    asks: list[dict[str, str]] = [{"bbox": box} for box in boxes_around(LONELY)]
    asks += [{"bbox": box} for box in boxes_around(HOT)]
    asks += [
        {"datetime": when}
        for when in (f"{month}-20T12:00:00Z", f"{month}-21T00:00:00Z/..", f"../{month}-22T00:00Z")
    ]
    asks += [{"limit": str(n), "offset": str(o)} for n in (1, 2, 3) for o in (0, 1, 2, 5)]
    asks += [{"bbox": box, "limit": "1", "offset": "1"} for box in boxes_around(LONELY)]
    lonely = Point(LONELY)
    for ask in asks:
        answer = ogc(town, path, **ask)
        assert answer.status_code == 200, ask
        body = answer.json()
        for feature in body["features"]:
            assert release[feature["id"]] == feature, "every feature is the release's own"
            assert feature["properties"]["count"] >= K
            assert not shape(feature["geometry"]).contains(lonely), "the lonely square is hidden"
        if "bbox" in ask:
            box = box_polygon(*map(float, ask["bbox"].split(",")))
            meeting = [f for f in release.values() if shape(f["geometry"]).intersects(box)]
            assert body["numberMatched"] == len(meeting), ask
        else:
            assert body["numberMatched"] in (len(release), 0)


def test_a_peers_hot_spots_rest_on_released_squares_only(town: dict[str, Any]) -> None:
    answer = ogc(town, "/v1/published", kind="needle_report", period=town["quarter"])
    released = {f["id"]: f["properties"]["count"] for f in answer.json()["features"]}
    for box in [None, *boxes_around(LONELY)]:
        ask = {"bbox": box} if box else {}
        body = ogc(town, "/ogc/collections/needle_report-hotspots/items", **ask).json()
        for feature in body["features"]:
            assert released[feature["id"]] == feature["properties"]["count"] >= K


def test_a_layer_the_role_may_not_read_answers_as_one_that_does_not_exist(
    town: dict[str, Any],
) -> None:
    hidden = ["candidates", "exclusions", "needle_report-cells-2099-01"]
    for suffix in ("", "/items", "/items/1", "/items?limit=5", "?f=html"):
        made_up = ogc(town, f"/ogc/collections/no-such-layer{suffix}")
        assert made_up.status_code == 404
        for name in hidden:
            refused = ogc(town, f"/ogc/collections/{name}{suffix}")
            assert refused.content == made_up.content, name
            assert refused.status_code == made_up.status_code
            # Every header alike but the request's own id, which differs on every answer.
            assert dict(refused.headers) | {"x-request-id": ""} == dict(made_up.headers) | {
                "x-request-id": ""
            }


def test_names_reach_pages_as_text_never_as_markup(town: dict[str, Any]) -> None:
    for path, role in (
        ("/ogc/collections/sites/items", "peer"),
        ("/ogc/collections/candidates/items", "planner"),
    ):
        listed = ogc(town, path, role=role).json()["features"]
        named = [f for f in listed if f["properties"]["name"] == NASTY]
        assert named, "the name is stored and served as it was given"
        for page in (
            ogc(town, path, role=role, f="html"),
            ogc(town, f"{path}/{named[0]['id']}", role=role, f="html"),
        ):
            assert page.status_code == 200
            assert "<script" not in page.text and "<b>" not in page.text
            assert "&lt;/script&gt;&lt;b&gt;${x}`alert(1)`" in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"]


def test_the_public_api_of_a_program_that_does_not_publish_does_not_exist(
    town: dict[str, Any],
) -> None:
    client = town["client"]
    for suffix in ("", "/collections", "/conformance"):
        quiet = client.get(f"/ogc/public/town{suffix}")
        unknown = client.get(f"/ogc/public/nobody{suffix}")
        assert quiet.status_code == unknown.status_code == 404
        assert quiet.content == unknown.content
    steward = town["keys"]["steward"]
    changed = client.put("/v1/program/publication", json={"public_enabled": True}, headers=steward)
    assert changed.status_code == 200
    try:
        listed = client.get("/ogc/public/town/collections").json()["collections"]
        ids = {c["id"] for c in listed}
        assert f"needle_report-cells-{town['month']}" in ids
        assert not ids & {"sites", "candidates", "exclusions"}, "the public sees released cells"
        items = client.get(
            f"/ogc/public/town/collections/needle_report-cells-{town['month']}/items"
        )
        public = client.get(
            "/v1/public/published",
            params={"program": "town", "kind": "needle_report", "period": town["month"]},
        ).json()
        assert items.json()["features"] == public["features"]
        assert public["features"] and all(
            f["properties"]["count"] >= 10 for f in public["features"]
        )
    finally:
        off = client.put("/v1/program/publication", json={"public_enabled": False}, headers=steward)
        assert off.status_code == 200
