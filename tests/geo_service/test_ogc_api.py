"""/ogc against the checks of the OGC's test suite for Features Part 1 (ets-ogcapi-features10)
that run offline: landing links, conformance, the OpenAPI 3.0 parameters, collections and
their metadata, items (limit, bbox, datetime, paging and numberMatched), one feature, 400 on
bad parameters and 404 on unknown ids, content types, and the html class."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from geo_service.auth import SESSION_COOKIE, start_session
from tests.conftest import problem
from tests.geo_service.ogc_town import HOT, ogc_town

PART_1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ogc")
    with ogc_town(f"sqlite:///{tmp}/test.sqlite3", tmp) as made:
        yield made


def get(town: dict[str, Any], path: str, role: str | None = "peer", **params: Any) -> Any:
    headers = town["keys"][role] if role else {}
    return town["client"].get(path, params=params or None, headers=headers)


def relative(href: str) -> str:
    parts = urlsplit(href)
    assert parts.netloc == "testserver", "links are absolute, on this server"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def cells_id(town: dict[str, Any], kind: str = "needle_report") -> str:
    return f"{kind}-cells-{town['month']}"


def rfc3339(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None
    return value


# -- landing, conformance, API definition -----------------------------------------------------


def test_landing_page_links_to_the_api_conformance_and_data(town: dict[str, Any]) -> None:
    answer = get(town, "/ogc", role=None)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["title"] and body["description"]
    rels = {link["rel"]: link for link in body["links"]}
    assert {"self", "alternate", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["type"] == OPENAPI_30
    assert rels["service-doc"]["type"] == "text/html"
    assert relative(rels["data"]["href"]) == "/ogc/collections"
    for rel in ("self", "alternate", "service-desc", "service-doc", "conformance", "data"):
        target = get(town, relative(rels[rel]["href"]))
        assert target.status_code == 200, rel
        assert target.headers["content-type"].startswith(rels[rel]["type"].split(";")[0])


def test_conformance_declares_the_four_classes(town: dict[str, Any]) -> None:
    body = get(town, "/ogc/conformance", role=None).json()
    assert set(body["conformsTo"]) == {PART_1 + c for c in ("core", "geojson", "oas30", "html")}


def test_the_api_definition_spells_parameters_as_the_test_suite_expects(
    town: dict[str, Any],
) -> None:
    answer = get(town, "/ogc/api", role=None)
    assert answer.headers["content-type"] == OPENAPI_30
    document = answer.json()
    assert document["openapi"].startswith("3.0.")
    params = document["components"]["parameters"]
    limit = params["limit"]
    assert (limit["in"], limit["style"], limit["explode"], limit["required"]) == (
        "query", "form", False, False,
    )  # fmt: skip
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}
    bbox = params["bbox"]
    assert (bbox["style"], bbox["explode"]) == ("form", False)
    assert bbox["schema"]["type"] == "array"
    assert (bbox["schema"]["minItems"], bbox["schema"]["maxItems"]) == (4, 6)
    assert bbox["schema"]["items"]["type"] == "number"
    assert (params["datetime"]["style"], params["datetime"]["explode"]) == ("form", False)
    items = document["paths"]["/collections/{collectionId}/items"]["get"]
    named = {p["$ref"].rsplit("/", 1)[1] for p in items["parameters"]}
    assert {"collectionId", "limit", "bbox", "datetime"} <= named
    assert document["servers"] == [{"url": "http://testserver/ogc"}]
    # Every path of the document answers.
    samples = {"{collectionId}": cells_id(town), "{featureId}": "x"}
    for path in document["paths"]:
        if "{featureId}" in path:
            continue
        for name, value in samples.items():
            path = path.replace(name, value)
        assert get(town, "/ogc" + path.rstrip("/")).status_code == 200, path


# -- collections ------------------------------------------------------------------------------


def test_collections_carry_ids_links_and_extents_in_crs84(town: dict[str, Any]) -> None:
    answer = get(town, "/ogc/collections")
    assert answer.status_code == 200
    body = answer.json()
    assert {"self", "alternate"} <= {link["rel"] for link in body["links"]}
    found = body["collections"]
    ids = [c["id"] for c in found]
    assert len(ids) == len(set(ids))
    assert cells_id(town) in ids and cells_id(town, "overdose") in ids and "sites" in ids
    for c in found:
        assert c["itemType"] == "feature" and CRS84 in c["crs"]
        west, south, east, north = c["extent"]["spatial"]["bbox"][0]
        assert -180 <= west < east <= 180 and -90 <= south < north <= 90
        assert c["extent"]["spatial"]["crs"] == CRS84
        start, end = c["extent"]["temporal"]["interval"][0]
        if start is not None:
            assert rfc3339(start) < rfc3339(end) < dt.datetime.now(dt.UTC)
        items = [li for li in c["links"] if li["rel"] == "items"]
        assert {li["type"] for li in items} == {"application/geo+json", "text/html"}
        # The same metadata on its own page.
        assert get(town, f"/ogc/collections/{c['id']}").json() == c


def test_only_published_periods_are_listed_newest_first(town: dict[str, Any]) -> None:
    ids = [c["id"] for c in get(town, "/ogc/collections").json()["collections"]]
    months = [i.removeprefix("needle_report-cells-") for i in ids if i.count("-") == 3]
    months = [m for m in months if len(m) == 7 and m[5:].isdigit()]
    assert months[0] == town["month"], "the latest published month comes first"
    assert months == sorted(months, reverse=True)
    assert len(months) <= 13, "the retention window's months, not every possible one"
    unpublished = f"needle_report-cells-{dt.date.today():%Y-%m}"
    assert unpublished not in ids
    problem(get(town, f"/ogc/collections/{unpublished}"), 404)


def test_planning_layers_are_listed_for_planners_not_peers(town: dict[str, Any]) -> None:
    def ids(role: str) -> set[str]:
        return {c["id"] for c in get(town, "/ogc/collections", role=role).json()["collections"]}

    assert {"candidates", "exclusions"} <= ids("planner")
    assert {"candidates", "exclusions"} <= ids("manager")
    assert not {"candidates", "exclusions"} & ids("peer")


def test_without_a_key_the_collections_answer_401_and_a_session_cookie_works(
    town: dict[str, Any],
) -> None:
    client: TestClient = town["client"]
    refused = problem(client.get("/ogc/collections"), 401)
    assert "Bearer" in refused["detail"]
    peer_key = town["keys"]["peer"]["Authorization"].removeprefix("Bearer ")
    token, _ = start_session(town["store"], peer_key, hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    try:
        answer = client.get("/ogc/collections")
    finally:
        client.cookies.clear()
    assert answer.status_code == 200
    assert cells_id(town) in {c["id"] for c in answer.json()["collections"]}


# -- items --------------------------------------------------------------------------------------


def test_items_are_the_released_cells_of_v1_published(town: dict[str, Any]) -> None:
    answer = get(town, f"/ogc/collections/{cells_id(town)}/items", limit=10000)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/geo+json"
    body = answer.json()
    published = get(town, "/v1/published", kind="needle_report", period=town["month"]).json()
    assert body["features"] == published["features"]
    assert body["numberMatched"] == body["numberReturned"] == len(published["features"]) >= 2
    assert rfc3339(body["timeStamp"])
    assert {"self", "alternate", "collection"} <= {link["rel"] for link in body["links"]}
    assert all(f["properties"]["count"] >= 5 for f in body["features"])


def test_paging_follows_next_links_to_number_matched(town: dict[str, Any]) -> None:
    first = get(town, f"/ogc/collections/{cells_id(town)}/items").json()
    matched = first["numberMatched"]
    seen: list[str] = []
    page = get(town, f"/ogc/collections/{cells_id(town)}/items", limit=1).json()
    pages = 0
    while True:
        assert page["numberMatched"] == matched
        assert page["numberReturned"] == len(page["features"]) <= 1
        seen += [f["id"] for f in page["features"]]
        rels = {link["rel"]: link["href"] for link in page["links"]}
        assert ("prev" in rels) == (pages > 0)
        if "next" not in rels:
            break
        assert dict(parse_qsl(urlsplit(rels["next"]).query))["limit"] == "1"
        page = town["client"].get(relative(rels["next"]), headers=town["keys"]["peer"]).json()
        pages += 1
    assert seen == [f["id"] for f in first["features"]] and len(seen) == matched


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "10001"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"limit": ""},
        {"offset": "-3"},
        {"bbox": "1,2,3,4,5"},
        {"bbox": "1,2,3"},
        {"bbox": "-101.8,54.7,-101.9,54.8"},  # west > east: no program spans the antimeridian
        {"bbox": "-101.9,54.8,-101.8,54.7"},
        {"bbox": "-190,54.7,-101.8,54.8"},
        {"bbox": "-101.9,54.7,-101.8,95"},
        {"bbox": "a,b,c,d"},
        {"bbox": "nan,1,2,3"},
        {"datetime": "yesterday"},
        {"datetime": "2025-05-01T00:00:00"},  # no offset
        {"datetime": "2025-06-01T00:00:00Z/2025-05-01T00:00:00Z"},
        {"f": "xml"},
        {"limits": "10"},  # unknown: 400 as well, not the app's 422
    ],
)
def test_bad_parameters_answer_400_without_echoing_them(
    town: dict[str, Any], bad: dict[str, str]
) -> None:
    answer = get(town, f"/ogc/collections/{cells_id(town)}/items", **bad)
    body = problem(answer, 400)
    assert body["code"] in ("invalid_parameter", "unknown_parameter")
    for value in bad.values():
        if len(value) > 3:
            assert value not in answer.text


def test_limit_10000_and_a_6_number_bbox_are_taken(town: dict[str, Any]) -> None:
    path = f"/ogc/collections/{cells_id(town)}/items"
    assert get(town, path, limit="10000").status_code == 200
    everything = get(town, path, bbox="-180,-90,-100,180,90,100").json()
    assert everything["numberMatched"] == get(town, path).json()["numberMatched"]


def test_bbox_keeps_the_features_it_meets(town: dict[str, Any]) -> None:
    path = f"/ogc/collections/{cells_id(town)}/items"
    near_hot = f"{HOT[0] - 0.002},{HOT[1] - 0.001},{HOT[0] + 0.002},{HOT[1] + 0.001}"
    around = get(town, path, bbox=near_hot).json()
    everything = get(town, path).json()
    assert 1 <= around["numberMatched"] < everything["numberMatched"]
    for f in around["features"]:
        lons = [p[0] for p in f["geometry"]["coordinates"][0]]
        assert min(lons) <= HOT[0] + 0.002 and max(lons) >= HOT[0] - 0.002
    far = get(town, path, bbox="10,10,11,11").json()
    assert (far["numberMatched"], far["features"]) == (0, [])
    sites = get(town, "/ogc/collections/sites/items", bbox=near_hot).json()
    assert [f["properties"]["name"] for f in sites["features"]] == ["Pharmacy"]


def test_datetime_keeps_a_period_it_meets_and_drops_one_it_does_not(
    town: dict[str, Any],
) -> None:
    path = f"/ogc/collections/{cells_id(town)}/items"
    month = town["month"]
    everything = get(town, path).json()["numberMatched"]
    inside = f"{month}-15T12:00:00Z"
    for meets in (
        inside,
        f"../{inside}",
        f"{inside}/..",
        "../..",
        f"2000-01-01T00:00:00Z/{inside}",
    ):
        assert get(town, path, datetime=meets).json()["numberMatched"] == everything, meets
    for misses in ("2001-01-01T00:00:00Z", "../2001-01-01T00:00:00Z", "2099-01-01T00:00:00Z/.."):
        body = get(town, path, datetime=misses).json()
        assert (body["numberMatched"], body["features"]) == (0, []), misses
    # Layers without time take it and ignore it.
    sites = get(town, "/ogc/collections/sites/items", datetime="2001-01-01T00:00:00Z").json()
    assert sites["numberMatched"] == 2


def test_one_feature_by_the_id_its_list_carries(town: dict[str, Any]) -> None:
    for collection_id in (cells_id(town), "sites"):
        listed = get(town, f"/ogc/collections/{collection_id}/items").json()["features"]
        for feature in listed:
            answer = get(town, f"/ogc/collections/{collection_id}/items/{feature['id']}")
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "application/geo+json"
            body = answer.json()
            links = body.pop("links")
            assert body == feature
            assert {"self", "alternate", "collection"} <= {link["rel"] for link in links}


@pytest.mark.parametrize(
    "path",
    [
        "/ogc/collections/nothing-here",
        "/ogc/collections/nothing-here/items",
        "/ogc/collections/needle_report-cells-1999-01/items",
        "/ogc/collections/sites/items/999999",
        "/ogc/collections/sites/items/1x",
        "/ogc/collections/needle_report-cells-{month}/items/125:0:0",
    ],
)
def test_unknown_collections_and_features_answer_404(town: dict[str, Any], path: str) -> None:
    problem(get(town, path.format(month=town["month"])), 404)


@pytest.mark.parametrize("role", ["peer", "planner", "manager"])
def test_hot_spots_and_coverage_gaps_are_v1s_own(town: dict[str, Any], role: str) -> None:
    quarter = town["quarter"]
    for kind in ("needle_report", "overdose"):
        layer = get(town, f"/ogc/collections/{kind}-hotspots/items", role=role, limit=10000)
        assert layer.status_code == 200
        v1 = get(town, "/v1/hotspots", role=role, kind=kind, period=quarter).json()
        assert layer.json()["features"] == v1["features"]
        assert v1["features"], "the latest quarter has reports"
        start, _ = get(town, f"/ogc/collections/{kind}-hotspots").json()["extent"]["temporal"][
            "interval"
        ][0]
        assert start[:7] <= f"{quarter[:4]}-{3 * int(quarter[-1]) - 2:02d}"
    for service, kind in (("needles", "needle_report"), ("naloxone", "overdose")):
        gaps = get(town, f"/ogc/collections/{service}-coverage-gaps/items", role=role).json()
        v1 = get(town, "/v1/coverage", role=role, service=service, kind=kind, period=quarter,
                 minutes=10, top=500).json()  # fmt: skip
        expected = v1["results"][0]["uncovered"]["features"]
        assert [f["properties"] for f in gaps["features"]] == [f["properties"] for f in expected]
        assert [f["id"] for f in gaps["features"]] == list(range(1, len(expected) + 1))


# -- html ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/ogc", "/ogc/conformance", "/ogc/api", "/ogc/collections", "/ogc/collections/sites",
             "/ogc/collections/sites/items", "/ogc/collections/sites/items/1"],
)  # fmt: skip
def test_every_resource_is_html_too_by_f_or_accept(town: dict[str, Any], path: str) -> None:
    by_f = get(town, path, f="html")
    assert by_f.status_code == 200 and by_f.headers["content-type"].startswith("text/html")
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    headers = {**town["keys"]["peer"], "Accept": browser}
    by_accept = town["client"].get(path, headers=headers)
    assert by_accept.headers["content-type"].startswith("text/html")
    assert "<script" not in by_f.text
    gdal = {**town["keys"]["peer"], "Accept": "application/geo+json, application/json"}
    assert town["client"].get(path, headers=gdal).headers["content-type"].startswith("application")


def test_html_pages_speak_french(town: dict[str, Any]) -> None:
    headers = {**town["keys"]["peer"], "Accept-Language": "fr"}
    page = town["client"].get("/ogc/collections/sites/items?f=html", headers=headers)
    assert 'lang="fr"' in page.text and "Sites de service" in page.text
    body = town["client"].get(f"/ogc/collections/{cells_id(town)}", headers=headers).json()
    assert body["title"].startswith("Seringues signalées")


def test_the_main_openapi_document_leaves_ogc_out(town: dict[str, Any]) -> None:
    paths = town["client"].get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ogc")]
