"""The alert routes (issue 19): rules and named areas the steward sets, checked with refusals
that say what is wrong without repeating it; a person's review of a draft, once; the poster
and its phone number; and the audit trail of each change."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from geo_service.services.alerts import delivery
from geo_service.storage.sql import SqlStore
from tests.conftest import problem
from tests.geo_service.alerting import (
    RULE,
    UNKNOWN_REF,
    add_rule,
    draft,
    square,
    stored,
    town_id,
)

Keys = dict[str, dict[str, str]]


# -- rules ----------------------------------------------------------------------------------


def test_a_steward_adds_a_rule_and_managers_read_it(client: TestClient, keys: Keys) -> None:
    rule = add_rule(client, keys["steward"])
    assert {k: rule[k] for k in RULE} == RULE
    assert (rule["auto_send"], rule["options"]) == (False, {})
    assert rule["created_at"].endswith("Z")
    listed = client.get("/v1/alert-rules", headers=keys["manager"])
    assert listed.status_code == 200
    assert listed.json() == {"rules": [rule]}
    # Another program's manager sees none of this program's rules.
    assert client.get("/v1/alert-rules", headers=keys["other_manager"]).json() == {"rules": []}


@pytest.mark.parametrize("role", ["peer", "planner"])
def test_peers_and_planners_may_not_read_rules(client: TestClient, keys: Keys, role: str) -> None:
    add_rule(client, keys["steward"])
    refused = problem(client.get("/v1/alert-rules", headers=keys[role]), 403)
    assert "alert rules" in refused["detail"]


@pytest.mark.parametrize("role", ["peer", "planner", "manager"])
def test_only_a_steward_adds_or_removes_rules(client: TestClient, keys: Keys, role: str) -> None:
    problem(client.post("/v1/alert-rules", json=RULE, headers=keys[role]), 403)
    rule = add_rule(client, keys["steward"])
    problem(client.delete(f"/v1/alert-rules/{rule['id']}", headers=keys[role]), 403)


def test_without_a_key_the_rules_and_alerts_answer_401(client: TestClient) -> None:
    for response in (
        client.get("/v1/alert-rules"),
        client.post("/v1/alert-rules", json=RULE),
        client.get("/v1/alerts"),
        client.get(f"/v1/alerts/{UNKNOWN_REF}"),
        client.get("/v1/alert-areas"),
        client.post(f"/v1/alerts/{UNKNOWN_REF}/confirm"),
    ):
        problem(response, 401)


# The refusals, each with a marker the answer must not repeat.
BAD_RULES = [
    ({"method": "magic_xyzzy"}, "method is one of"),
    ({"kind": "cats_xyzzy"}, "kind is one of"),
    ({"areas": "everywhere_xyzzy"}, "areas is one of"),
    ({"window_hours": 1}, "6-hour blocks"),  # overdoses keep 6-hour blocks
    ({"window_hours": 12}, "window_hours is 24"),
    ({"method": "ears_c1", "window_hours": 1, "kind": "needle_report"}, "only the count method"),
    ({"method": "naloxone", "kind": "needle_report"}, "kind overdose only"),
    ({"threshold": 0}, "threshold is a whole number from 1"),
    ({"threshold": -5}, "threshold is a whole number from 1"),
    ({"threshold": None}, "needs a threshold"),
    ({"options": {"xyzzy_option": 1}}, "takes no options"),
    ({"method": "ears_c2", "options": {"xyzzy_option": 1}}, "takes threshold, min_sigma"),
    ({"method": "ears_c2", "options": {"threshold": "xyzzy"}}, "option threshold is a number"),
    ({"method": "ears_c2", "options": {"min_sigma": -1}}, "option min_sigma is a number"),
    ({"method": "ewma", "options": {"alarm_at": "xyzzy"}}, "alarm_at is yellow or red"),
    ({"name": ""}, "1 to 100 characters"),
    ({"name": "xyzzy" * 30}, "1 to 100 characters"),
    ({"name": "xyzzy\nsecond line"}, "control characters"),
]


@pytest.mark.parametrize(("change", "said"), BAD_RULES)
def test_a_bad_rule_is_refused_with_a_400_that_says_why_without_echoing(
    client: TestClient, keys: Keys, store: SqlStore, change: dict[str, Any], said: str
) -> None:
    response = client.post("/v1/alert-rules", json={**RULE, **change}, headers=keys["steward"])
    body = problem(response, 400)
    assert said in body["detail"]
    assert "xyzzy" not in response.text
    assert store.alert_rules(town_id(store)) == []


def test_hourly_needle_rules_are_allowed_and_statistical_defaults_are_filled(
    client: TestClient, keys: Keys
) -> None:
    hourly = add_rule(client, keys["steward"], kind="needle_report", window_hours=1)
    assert hourly["window_hours"] == 1
    c2 = add_rule(client, keys["steward"], method="ears_c2", threshold=None)
    assert (c2["threshold"], c2["options"]) == (3, {"threshold": 2.0, "min_sigma": 0.5})
    c1 = add_rule(client, keys["steward"], method="ears_c1", threshold=None)
    assert c1["options"]["threshold"] == 3.0
    ewma = add_rule(client, keys["steward"], method="ewma", threshold=5, auto_send=True)
    assert (ewma["threshold"], ewma["options"], ewma["auto_send"]) == (5, {"alarm_at": "red"}, True)
    naloxone = add_rule(client, keys["steward"], method="naloxone", threshold=7)
    assert naloxone["method"] == "naloxone"


def test_unknown_body_members_are_refused(client: TestClient, keys: Keys) -> None:
    body = {**RULE, "secret_member": "xyzzy"}
    response = client.post("/v1/alert-rules", json=body, headers=keys["steward"])
    problem(response, 422)
    assert "xyzzy" not in response.text


def test_a_rule_is_removed_once_and_only_by_its_own_program(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    rule = add_rule(client, keys["steward"])
    other_steward = _other_steward(store)
    missing = problem(client.delete(f"/v1/alert-rules/{rule['id']}", headers=other_steward), 404)
    removed = client.delete(f"/v1/alert-rules/{rule['id']}", headers=keys["steward"])
    assert removed.json() == {"deleted": rule["id"]}
    again = problem(client.delete(f"/v1/alert-rules/{rule['id']}", headers=keys["steward"]), 404)
    assert again == missing  # another program's rule answers as a removed one
    assert client.get("/v1/alert-rules", headers=keys["steward"]).json() == {"rules": []}
    assert store.alert_rules(town_id(store), with_deleted=True)[0].deleted_at is not None


def _other_steward(store: SqlStore) -> dict[str, str]:
    from geo_service.auth import Role, create_key
    from tests.conftest import bearer

    return bearer(create_key(store, program="other", role=Role.STEWARD)[1])


# -- named areas ----------------------------------------------------------------------------


def test_a_steward_adds_named_areas_and_managers_read_them(client: TestClient, keys: Keys) -> None:
    upload = {
        "type": "FeatureCollection",
        "features": [square("Downtown"), square("North end", lat=54.78)],
    }
    added = client.post("/v1/alert-areas", json=upload, headers=keys["steward"])
    assert added.status_code == 201, added.text
    assert added.headers["content-type"].startswith("application/geo+json")
    names = [f["properties"]["name"] for f in added.json()["features"]]
    assert names == ["Downtown", "North end"]
    read = client.get("/v1/alert-areas", headers=keys["manager"])
    assert read.json() == added.json()
    ring = read.json()["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == pytest.approx(square("x")["geometry"]["coordinates"][0][0])
    # One Feature alone is accepted too.
    one = client.post("/v1/alert-areas", json=square("East"), headers=keys["steward"])
    assert one.status_code == 201
    problem(client.get("/v1/alert-areas", headers=keys["peer"]), 403)
    problem(client.post("/v1/alert-areas", json=square("x"), headers=keys["manager"]), 403)


BOWTIE = {
    "type": "Feature",
    "properties": {"name": "xyzzy"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[-101.89, 54.76], [-101.87, 54.78], [-101.87, 54.76], [-101.89, 54.78],
                         [-101.89, 54.76]]],
    },
}  # fmt: skip
BAD_AREAS = [
    (square("xyzzy", half_lon=0.003, half_lat=0.002), "at least 0.25 km²"),  # about 0.17 km²
    (square("xyzzy", lon=-101.70), "within the program's area"),
    (square("xyzzy", lon=-101.83), "within the program's area"),  # straddles the edge
    (square(""), "1 to 100 characters"),
    (square(None), "needs a 'name' property"),
    (square("xyzzy" * 30), "1 to 100 characters"),
    (
        {**square("xyzzy"), "geometry": {"type": "Point", "coordinates": [-101.88, 54.77]}},
        "Polygon or MultiPolygon",
    ),
    (
        {**square("xyzzy"), "geometry": {"type": "Polygon", "coordinates": [["xyzzy"]]}},
        "could not be read",
    ),
    (
        {**square("xyzzy"), "geometry": {"type": "Polygon", "coordinates": [[[500000, 6e6]] * 4]}},
        "WGS 84",
    ),
    (BOWTIE, "crosses itself"),
    (
        {
            "type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": "EPSG:32614"}},
            "features": [square("xyzzy")],
        },
        "WGS 84",
    ),
    ({"type": "FeatureCollection", "features": []}, "1 to 50 areas"),
    ({"type": "Topology", "xyzzy": 1}, "Feature or FeatureCollection"),
]


@pytest.mark.parametrize(("body", "said"), BAD_AREAS)
def test_a_bad_area_is_refused_and_nothing_is_stored(
    client: TestClient, keys: Keys, store: SqlStore, body: dict[str, Any], said: str
) -> None:
    if body.get("type") == "Feature":  # all or none: a good area beside it is not stored
        body = {"type": "FeatureCollection", "features": [square("Good one"), body]}
    response = client.post("/v1/alert-areas", json=body, headers=keys["steward"])
    refused = problem(response, 400)
    assert said in refused["detail"]
    assert "xyzzy" not in response.text
    assert store.alert_areas(town_id(store)) == []


def test_an_area_is_removed_once_and_only_by_its_own_program(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    added = client.post("/v1/alert-areas", json=square("Downtown"), headers=keys["steward"])
    area_id = added.json()["features"][0]["id"]
    missing = problem(
        client.delete(f"/v1/alert-areas/{area_id}", headers=_other_steward(store)), 404
    )
    assert client.delete(f"/v1/alert-areas/{area_id}", headers=keys["steward"]).json() == {
        "deleted": area_id
    }
    assert problem(client.delete(f"/v1/alert-areas/{area_id}", headers=keys["steward"]), 404) == (
        missing
    )
    assert client.get("/v1/alert-areas", headers=keys["steward"]).json()["features"] == []


# -- review: confirm, dismiss ---------------------------------------------------------------


@pytest.fixture
def drafted(client: TestClient, keys: Keys, store: SqlStore) -> str:
    """A draft's reference."""
    rule = add_rule(client, keys["steward"])
    return draft(store, town_id(store), rule["id"])


@pytest.fixture
def deliveries(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []

    def deliver(store: Any, settings: Any, program_id: int, alert_id: int) -> None:
        _ = (store, settings)
        calls.append((program_id, alert_id))

    monkeypatch.setattr(delivery, "deliver_alert", deliver)
    return calls


def test_a_manager_confirms_a_draft_once_and_it_is_delivered_once(
    client: TestClient,
    keys: Keys,
    store: SqlStore,
    drafted: str,
    deliveries: list[tuple[int, int]],
) -> None:
    alert_id = stored(store, town_id(store), drafted).id  # delivery takes the store's id
    sent = client.post(f"/v1/alerts/{drafted}/confirm", headers=keys["manager"])
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["id"]) == ("sent", drafted)
    assert sent.json()["sent_at"] == sent.json()["decided_at"] is not None
    assert deliveries == [(town_id(store), alert_id)]
    again = problem(client.post(f"/v1/alerts/{drafted}/confirm", headers=keys["steward"]), 409)
    assert again["code"] == "already_decided"
    problem(client.post(f"/v1/alerts/{drafted}/dismiss", headers=keys["manager"]), 409)
    assert deliveries == [(town_id(store), alert_id)]  # still once
    assert stored(store, town_id(store), drafted).status == "sent"


def test_a_dismissed_alert_cannot_be_confirmed_and_is_never_delivered(
    client: TestClient, keys: Keys, drafted: str, deliveries: list[Any]
) -> None:
    dismissed = client.post(f"/v1/alerts/{drafted}/dismiss", headers=keys["steward"])
    assert dismissed.json()["status"] == "dismissed"
    problem(client.post(f"/v1/alerts/{drafted}/confirm", headers=keys["manager"]), 409)
    assert deliveries == []


@pytest.mark.parametrize("role", ["peer", "planner"])
def test_peers_and_planners_cannot_decide(
    client: TestClient, keys: Keys, store: SqlStore, drafted: str, role: str, deliveries: list[Any]
) -> None:
    for action in ("confirm", "dismiss"):
        problem(client.post(f"/v1/alerts/{drafted}/{action}", headers=keys[role]), 403)
    assert stored(store, town_id(store), drafted).status == "drafted"
    assert deliveries == []


def test_another_programs_alert_answers_like_a_missing_one(
    client: TestClient, keys: Keys, store: SqlStore, drafted: str, deliveries: list[Any]
) -> None:
    missing = client.post(f"/v1/alerts/{UNKNOWN_REF}/confirm", headers=keys["other_manager"])
    foreign = client.post(f"/v1/alerts/{drafted}/confirm", headers=keys["other_manager"])
    assert (foreign.status_code, foreign.content) == (missing.status_code, missing.content)
    problem(foreign, 404)
    problem(client.post(f"/v1/alerts/{drafted}/dismiss", headers=keys["other_manager"]), 404)
    assert deliveries == []
    assert stored(store, town_id(store), drafted).status == "drafted"


# -- poster and phone -----------------------------------------------------------------------


def test_a_steward_publishes_the_poster_of_a_sent_alert_only(
    client: TestClient, keys: Keys, store: SqlStore, drafted: str, deliveries: list[Any]
) -> None:
    url = f"/v1/alerts/{drafted}/poster"
    not_sent = problem(client.post(url, json={"public": True}, headers=keys["steward"]), 409)
    assert not_sent["code"] == "alert_not_sent"
    client.post(f"/v1/alerts/{drafted}/confirm", headers=keys["manager"])
    problem(client.post(url, json={"public": True}, headers=keys["manager"]), 403)
    published = client.post(url, json={"public": True}, headers=keys["steward"])
    assert published.json()["poster_public"] is True
    withdrawn = client.post(url, json={"public": False}, headers=keys["steward"])
    assert withdrawn.json()["poster_public"] is False
    problem(client.post(f"/v1/alerts/{UNKNOWN_REF}/poster", json={"public": True},
                        headers=keys["steward"]), 404)  # fmt: skip
    assert deliveries == [(town_id(store), stored(store, town_id(store), drafted).id)]


def test_the_posters_phone_number_is_set_by_the_steward(client: TestClient, keys: Keys) -> None:
    put = client.put(
        "/v1/alert-settings", json={"phone": " +1 (204) 555-0100 "}, headers=keys["steward"]
    )
    assert put.json() == {"phone": "+1 (204) 555-0100"}
    assert client.get("/v1/alert-settings", headers=keys["manager"]).json() == put.json()
    problem(client.get("/v1/alert-settings", headers=keys["peer"]), 403)
    problem(client.put("/v1/alert-settings", json={"phone": "1"}, headers=keys["manager"]), 403)
    for bad in ("call xyzzy", "1" * 33, "+-()", "204<script>"):
        response = client.put("/v1/alert-settings", json={"phone": bad}, headers=keys["steward"])
        assert "digits, spaces" in problem(response, 400)["detail"]
        assert bad not in response.text
    assert client.get("/v1/alert-settings", headers=keys["steward"]).json() == put.json()
    cleared = client.put("/v1/alert-settings", json={"phone": None}, headers=keys["steward"])
    assert cleared.json() == {"phone": None}


# -- lists for managers ---------------------------------------------------------------------


def test_managers_page_through_the_history_and_see_the_last_week_open(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    rule = add_rule(client, keys["steward"])
    program_id, now = town_id(store), int(time.time())
    old = draft(store, program_id, rule["id"], day="2026-11-01", drafted_at=now - 8 * 86400)
    ids = [draft(store, program_id, rule["id"], day=f"2026-11-{d}") for d in (28, 29, 30)]
    dismissed = stored(store, program_id, ids[0]).id
    store.decide_alert(program_id, dismissed, status="dismissed", now=now, key_id=None)
    opened = client.get("/v1/alerts", headers=keys["manager"]).json()
    # Open: drafts and sent alerts of the last week; dismissed and older ones are history.
    assert [a["id"] for a in opened["alerts"]] == [ids[2], ids[1]]
    assert opened["next_before"] is None
    first = client.get("/v1/alerts", params={"status": "history", "limit": 2},
                       headers=keys["manager"]).json()  # fmt: skip
    assert [a["id"] for a in first["alerts"]] == [ids[2], ids[1]]
    assert first["next_before"] == ids[1]
    rest = client.get("/v1/alerts", params={"status": "history", "limit": 2,
                      "before": first["next_before"]}, headers=keys["manager"]).json()  # fmt: skip
    assert [a["id"] for a in rest["alerts"]] == [ids[0], old]
    assert [a["status"] for a in rest["alerts"]] == ["dismissed", "drafted"]
    one = client.get(f"/v1/alerts/{ids[2]}", headers=keys["manager"]).json()
    assert one == first["alerts"][0]
    assert (one["observed"], one["expected"], one["rule"]["name"]) == (4, 1.5, RULE["name"])
    for bad in ({"limit": 0}, {"limit": 201}, {"status": "all"}, {"before": 0}, {"before": "x"}):
        problem(client.get("/v1/alerts", params=bad, headers=keys["manager"]), 422)
    # A well-formed reference that names no alert of the program cannot start a page.
    unknown = {"status": "history", "before": UNKNOWN_REF}
    problem(client.get("/v1/alerts", params=unknown, headers=keys["manager"]), 400)


# -- audit ----------------------------------------------------------------------------------


def test_every_change_is_audited_with_its_key_and_without_coordinates(
    client: TestClient, keys: Keys, store: SqlStore, drafted: str, deliveries: list[Any]
) -> None:
    _ = deliveries
    steward = keys["steward"]
    rule = add_rule(client, steward, name="Second rule")
    client.delete(f"/v1/alert-rules/{rule['id']}", headers=steward)
    area = client.post("/v1/alert-areas", json=square("Downtown"), headers=steward).json()
    client.delete(f"/v1/alert-areas/{area['features'][0]['id']}", headers=steward)
    client.post(f"/v1/alerts/{drafted}/confirm", headers=keys["manager"])
    client.post(f"/v1/alerts/{drafted}/poster", json={"public": True}, headers=steward)
    client.put("/v1/alert-settings", json={"phone": "204 555 0100"}, headers=steward)
    second = draft(store, town_id(store), rule["id"], day="2026-12-01")
    client.post(f"/v1/alerts/{second}/dismiss", headers=steward)
    rows = store.audit_rows(town_id(store), after_id=0, limit=1000)
    by_action = {r.action: r for r in rows}
    expected = {
        "alert_rule.add", "alert_rule.delete", "alert_area.add", "alert_area.delete",
        "alert.confirm", "alert.dismiss", "alert.poster", "alert.phone",
    }  # fmt: skip
    assert expected <= set(by_action)
    assert all(by_action[a].key_id is not None for a in expected)
    assert '"alert_id":' in by_action["alert.confirm"].detail
    text = " ".join(r.detail for r in rows)
    for secret in ("coordinates", "-101.8", "54.7", "555 0100", "Downtown", "Polygon"):
        assert secret not in text


# -- browser sign-ins cannot change alerts --------------------------------------------------


def test_a_cookie_without_a_key_changes_nothing(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    cookie = {"Cookie": "gs_session=whatever"}
    cross = client.post(
        "/v1/alert-rules", json=RULE, headers={**cookie, "Origin": "https://evil.example"}
    )
    assert problem(cross, 403)["code"] == "cross_origin"
    same = client.post(
        "/v1/alert-rules", json=RULE, headers={**cookie, "Sec-Fetch-Site": "same-origin"}
    )
    problem(same, 401)  # the alert routes take a key, never a browser's session
    assert store.alert_rules(town_id(store)) == []
    _ = keys


# -- answers match the OpenAPI document -----------------------------------------------------


def test_alert_answers_match_their_documented_schemas(
    client: TestClient, keys: Keys, drafted: str, deliveries: list[Any]
) -> None:
    from tests.geo_service.test_openapi import check_answer

    _ = deliveries
    document = client.get("/openapi.json").json()
    steward, manager, peer = keys["steward"], keys["manager"], keys["peer"]
    confirmed = client.post(f"/v1/alerts/{drafted}/confirm", headers=manager)
    check_answer(document, "post", "/v1/alerts/{alert_id}/confirm", confirmed)
    for headers in (peer, manager):
        listed = client.get("/v1/alerts", headers=headers)
        assert listed.json()["alerts"]
        check_answer(document, "get", "/v1/alerts", listed)
        one = client.get(f"/v1/alerts/{drafted}", headers=headers)
        check_answer(document, "get", "/v1/alerts/{alert_id}", one)
    check_answer(document, "get", "/v1/alert-rules", client.get("/v1/alert-rules", headers=manager))
    added = client.post("/v1/alert-areas", json=square("Downtown"), headers=steward)
    check_answer(document, "post", "/v1/alert-areas", added)
    check_answer(document, "get", "/v1/alert-areas", client.get("/v1/alert-areas", headers=manager))
    phone = client.put("/v1/alert-settings", json={"phone": "204 555 0100"}, headers=steward)
    check_answer(document, "put", "/v1/alert-settings", phone)


def test_areas_arrive_as_geojson_and_multipolygons_too(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    east, west = square("e", lon=-101.86), square("w", lon=-101.90)
    both = {
        "type": "Feature",
        "properties": {"name": "Both ends", "ignored": "other properties are left out"},
        "geometry": {
            "type": "MultiPolygon",
            "coordinates": [east["geometry"]["coordinates"], west["geometry"]["coordinates"]],
        },
    }
    headers = {**keys["steward"], "Content-Type": "application/geo+json"}
    added = client.post("/v1/alert-areas", content=orjson.dumps(both), headers=headers)
    assert added.status_code == 201, added.text
    [stored] = store.alert_areas(town_id(store))
    assert (stored.name, orjson.loads(stored.geometry)["type"]) == ("Both ends", "MultiPolygon")
    assert added.json()["features"][0]["properties"] == {
        "id": stored.id,
        "name": "Both ends",
        "created_at": added.json()["features"][0]["properties"]["created_at"],
    }
    csv = client.post("/v1/alert-areas", content=b"name\nx", headers={**keys["steward"],
                      "Content-Type": "text/csv"})  # fmt: skip
    problem(csv, 422)
