"""Context layers, coverage gaps and siting over HTTP: known answers, the demo town's story,
privacy for planners and peers, and bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.sparse import csr_matrix

from geo_service.auth import Role
from geo_service.ingest.sites import Service
from geo_service.services.siting import LockerQuestion, _Lockers, _solve
from tests.conftest import TOWN, collection, demo_town, feature, problem, service_site


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with demo_town(tmp_path_factory.mktemp("siting")) as loaded:
        yield loaded


# -- context layers ------------------------------------------------------------------------


def test_candidates_and_exclusions_import_with_row_errors_that_echo_nothing(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    east = TOWN[0] + 0.01
    candidates = collection(
        feature(TOWN[0], TOWN[1], name="Arena wall", candidate_type="locker", power="yes"),
        feature(-120.0, 50.0, name="Far away"),
        feature(TOWN[0], TOWN[1], name="Odd", colour="secret-value"),
        feature(TOWN[0], TOWN[1], name="Wrong type", candidate_type="kiosk-xyz"),
    )
    for f in candidates["features"]:
        f["properties"].pop("kind", None)
        f["properties"].pop("observed_at", None)
    answer = client.post("/v1/candidates", json=candidates, headers=keys["planner"])
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "outside_service_area"),
        (2, "unknown_field"),
        (3, "invalid_value"),
    ]
    assert "secret-value" not in answer.text and "kiosk-xyz" not in answer.text
    listed = client.get("/v1/candidates", headers=keys["peer"]).json()["features"]
    assert [f["properties"]["name"] for f in listed] == ["Arena wall"]
    assert "power: yes" in listed[0]["properties"]["notes"]

    square = [
        [east, TOWN[1]],
        [east + 0.002, TOWN[1]],
        [east + 0.002, TOWN[1] + 0.001],
        [east, TOWN[1] + 0.001],
        [east, TOWN[1]],
    ]
    bow_tie = [
        [east, TOWN[1]],
        [east + 0.002, TOWN[1] + 0.001],
        [east + 0.002, TOWN[1]],
        [east, TOWN[1] + 0.001],
        [east, TOWN[1]],
    ]
    exclusions = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [square]},
                "properties": {"name": "School yard", "exclusion_type": "school"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [bow_tie]},
                "properties": {"name": "Bad ring", "exclusion_type": "school"},
            },
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(TOWN)},
                "properties": {"name": "Daycare", "exclusion_type": "daycare", "buffer_m": -5},
            },
        ],
    }
    answer = client.post("/v1/exclusions", json=exclusions, headers=keys["manager"])
    assert answer.status_code == 201, answer.text
    assert [(r["index"], r["code"]) for r in answer.json()["rejected"]] == [
        (1, "invalid_geometry"),
        (2, "invalid_value"),
    ]
    stored = client.get("/v1/exclusions", headers=keys["manager"]).json()["features"]
    assert stored[0]["geometry"]["type"] == "Polygon"
    assert stored[0]["properties"]["buffer_m"] == 200.0  # the default
    # CSV, and replacing a layer in one go.
    csv = "name,exclusion_type,buffer_m,latitude,longitude\nPlayground,playground,150,{},{}\n"
    replaced = client.post(
        "/v1/exclusions?replace=true",
        content=csv.format(TOWN[1], TOWN[0]),
        headers={**keys["manager"], "Content-Type": "text/csv"},
    )
    assert replaced.status_code == 201, replaced.text
    stored = client.get("/v1/exclusions", headers=keys["manager"]).json()["features"]
    assert [f["properties"]["name"] for f in stored] == ["Playground"]
    assert problem(client.post("/v1/candidates", json=candidates, headers=keys["peer"]), 403)


# -- coverage: a known answer --------------------------------------------------------------


def test_a_nine_to_five_site_covers_no_two_a_m_report(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    sites = collection(service_site("Office", ["naloxone"], "Mo-Fr 09:00-17:00"))
    assert client.post("/v1/sites", json=sites, headers=keys["manager"]).status_code == 201
    events = collection(
        feature(observed_at="2025-05-05T02:30:00-05:00"),  # a Monday, 2:30 a.m.
        feature(observed_at="2025-05-05T10:30:00-05:00"),  # the same Monday, 10:30 a.m.
    )
    assert client.post("/v1/events", json=events, headers=keys["manager"]).status_code == 201
    answer = client.get(
        "/v1/coverage?service=naloxone&kind=needle_report&minutes=5&period=2025-05",
        headers=keys["manager"],
    )
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    assert result["events"] == 2 and result["share_open"] == 0.5 and result["share_anytime"] == 1.0
    by_hour = result["by_hour"]
    assert by_hour["share_open"][0][2] == 0.0 and by_hour["share_open"][0][10] == 1.0
    assert by_hour["share_anytime"][0][2] == 1.0
    assert by_hour["events"][0][2] == 1.0 and by_hour["events"][3][2] == 0.0
    (gap,) = result["uncovered"]["features"]
    assert gap["properties"]["uncovered_events"] == 1.0
    assert gap["properties"]["uncovered_anytime"] == 0.0
    # The 24/7 view: a site open all the time covers both.
    sites = collection(service_site("ER", ["naloxone"], "24/7"))
    client.post("/v1/sites", json=sites, headers=keys["manager"])
    answer = client.get(
        "/v1/coverage?service=naloxone&kind=needle_report&minutes=5&period=2025-05",
        headers=keys["manager"],
    ).json()
    assert answer["results"][0]["share_open"] == 1.0


def test_coverage_refuses_what_it_cannot_answer(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    client.post(
        "/v1/sites",
        json=collection(service_site("Office", ["naloxone"], None)),
        headers=keys["manager"],
    )
    body = problem(client.get("/v1/coverage?service=drug_checking", headers=keys["manager"]), 422)
    assert body["code"] == "no_site_offers_service" and "POST /v1/sites" in body["detail"]
    problem(client.get("/v1/coverage?service=heroin-dealer", headers=keys["manager"]), 422)
    for minutes in ("-3", "500", "nan"):
        answer = client.get(
            f"/v1/coverage?service=naloxone&minutes={minutes}", headers=keys["manager"]
        )
        assert 400 <= answer.status_code < 500 and minutes not in answer.json()["detail"]
    # Unknown hours count only in "open anytime", and the answer says how to fix it.
    answer = client.get("/v1/coverage?service=naloxone", headers=keys["manager"]).json()
    assert any("no opening hours" in w for w in answer["warnings"])


# -- the demo town's story -----------------------------------------------------------------


def test_a_manager_sees_after_hours_overdoses_are_the_big_gap(town: Any) -> None:
    answer = town["client"].get(
        "/v1/coverage?service=naloxone&kind=overdose&minutes=10", headers=town["keys"][Role.MANAGER]
    )
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    assert result["share_open"] < result["share_anytime"]  # hours cost coverage
    events = result["by_hour"]["events"]
    shares = result["by_hour"]["share_open"]
    day = [(d, h) for d in range(5) for h in range(9, 16)]
    night = [(d, h) for d in range(7) for h in [*range(0, 7), *range(19, 24)]]

    def share(hours: list[tuple[int, int]]) -> float:
        total = sum(events[d][h] for d, h in hours)
        return float(sum(events[d][h] * (shares[d][h] or 0) for d, h in hours) / total)

    assert share(night) < share(day) / 3
    assert sum(events[d][h] for d, h in night) > sum(events[d][h] for d, h in day)


def test_a_planner_places_three_lockers_and_coverage_rises_by_hour(town: Any) -> None:
    answer = town["client"].post(
        "/v1/siting/lockers", json={"p": 3}, headers=town["keys"][Role.PLANNER]
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    chosen = body["chosen"]
    assert len(chosen) == 3 and [c["rank"] for c in chosen] == [1, 2, 3]
    assert body["coverage_after"] > body["coverage_before"]
    gains = [c["adds"]["share_of_events"] for c in chosen if c["adds"]["share_of_events"]]
    assert gains == sorted(gains, reverse=True)
    # The shelter next to the playground is never chosen.
    excluded = {e["name"] for e in body["excluded"]}
    assert "North park shelter (synthetic)" in excluded
    assert not excluded & {c["name"] for c in chosen}
    after, before = body["by_hour"]["after"], body["by_hour"]["before"]
    for d in range(7):
        for h in range(24):
            if before[d][h] is not None:
                assert after[d][h] >= before[d][h]
    assert body["solver"]["status"] == "optimal" and body["solver"]["gap"] == 0.0
    # Planners see shares, never an event count.
    assert all(set(c["adds"]) <= {"share_of_events", "note"} for c in chosen)
    assert '"events"' not in answer.text


def test_how_many_lockers_cover_a_share(town: Any) -> None:
    client, key = town["client"], town["keys"][Role.MANAGER]
    body = client.post("/v1/siting/lockers", json={"target_share": 0.5}, headers=key).json()
    assert body["chosen"] and body["coverage_after"] >= 0.5
    fewer = (
        client.post("/v1/siting/lockers", json={"p": len(body["chosen"]) - 1}, headers=key).json()
        if len(body["chosen"]) > 1
        else None
    )
    if fewer is not None:
        assert fewer["coverage_after"] < 0.5  # one fewer does not reach it
    # The bound is a share of events: never below what the plan reaches, never above all.
    assert body["coverage_after"] <= body["solver"]["bound_share"] <= 1.0
    unreachable = client.post(
        "/v1/siting/lockers", json={"target_share": 1.0, "minutes": 1}, headers=key
    ).json()
    assert unreachable["chosen"] == [] and "reach only" in unreachable["reason"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"p": 50}, 400),
        ({"p": 2, "target_share": 0.5}, 400),
        ({}, 400),
        ({"p": 0}, 422),
        ({"p": 2, "opening_hours": "sometimes-ish"}, 422),
        ({"p": 2, "minutes": -1}, 422),
        ({"p": 2, "kinds": ["cleanup"]}, 422),
    ],
)
def test_bad_locker_questions_get_a_clear_4xx(town: Any, body: dict[str, Any], status: int) -> None:
    answer = town["client"].post(
        "/v1/siting/lockers", json=body, headers=town["keys"][Role.MANAGER]
    )
    assert problem(answer, status)
    assert "sometimes-ish" not in answer.text


def test_peers_may_not_site_lockers(town: Any) -> None:
    answer = town["client"].post(
        "/v1/siting/lockers", json={"p": 1}, headers=town["keys"][Role.PEER]
    )
    problem(answer, 403)


def test_the_consumption_site_ranking_explains_itself(town: Any) -> None:
    client, key = town["client"], town["keys"][Role.MANAGER]
    body = client.get("/v1/siting/consumption-site", headers=key).json()
    ranking = body["ranking"]
    assert len(ranking) >= 3 and body["excluded"]
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True)
    for r in ranking:
        parts = r["criteria"]
        assert set(parts) == {"overdoses", "needle_reports", "service_gap"}
        assert sum(p["contribution"] for p in parts.values()) == pytest.approx(r["score"], abs=2e-3)
        assert all(0 <= p["scaled"] <= 1 for p in parts.values())
    # Weights are the user's: only the service gap counts -> the farthest candidate leads.
    gap_only = client.get(
        "/v1/siting/consumption-site?w_overdoses=0&w_needle_reports=0&w_service_gap=1", headers=key
    ).json()["ranking"]
    far = max(gap_only, key=lambda r: r["criteria"]["service_gap"]["value"])
    assert (
        gap_only[0]["criteria"]["service_gap"]["value"] == far["criteria"]["service_gap"]["value"]
    )


@pytest.mark.parametrize(
    "query",
    ["w_overdoses=-1", "w_overdoses=0&w_needle_reports=0&w_service_gap=0", "w_overdoses=nan"],
)
def test_bad_weights_are_refused(town: Any, query: str) -> None:
    answer = town["client"].get(
        f"/v1/siting/consumption-site?{query}", headers=town["keys"][Role.MANAGER]
    )
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_planners_see_no_count_below_k(town: Any) -> None:
    client = town["client"]
    body = client.get("/v1/siting/consumption-site", headers=town["keys"][Role.PLANNER]).json()
    # Siting looks at the latest finished quarter (a month leaves most counts below k).
    assert re.fullmatch(r"\d{4}-Q[1-4]", body["window"]), body["window"]
    k = 5
    for r in body["ranking"]:
        for name in ("overdoses", "needle_reports"):
            value = r["criteria"][name]["value"]
            assert isinstance(value, str) or value >= k
            if isinstance(value, str):
                assert r["criteria"][name]["scaled"] == 0.0
    coverage = client.get("/v1/coverage?service=naloxone", headers=town["keys"][Role.PEER]).json()
    assert coverage["audience"] == "released cells only"
    for result in coverage["results"]:
        assert result["events"] is None and "events" not in result["by_hour"]
        for f in result["uncovered"]["features"]:
            assert f["properties"]["events"] >= k


def test_all_candidates_in_exclusion_zones_is_an_empty_answer_with_the_reason(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    client.post(
        "/v1/sites",
        json=collection(service_site("Office", ["needles"], "24/7")),
        headers=keys["manager"],
    )
    client.post(
        "/v1/events",
        json=collection(feature(observed_at="2025-05-05T02:30:00-05:00")),
        headers=keys["manager"],
    )
    client.post(
        "/v1/candidates",
        json={
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": list(TOWN)},
                    "properties": {"name": "By the school"},
                }
            ],
        },
        headers=keys["manager"],
    )
    client.post(
        "/v1/exclusions",
        json={
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": list(TOWN)},
                    "properties": {"name": "School", "exclusion_type": "school"},
                }
            ],
        },
        headers=keys["manager"],
    )
    body = client.post(
        "/v1/siting/lockers", json={"p": 1, "period": "2025-05"}, headers=keys["manager"]
    ).json()
    assert body["chosen"] == [] and "exclusion zone" in body["reason"]
    assert body["excluded"][0]["reason"] == "within 200 m of School"


def test_a_planner_cannot_subtract_two_candidates_to_find_a_lone_report(
    client: TestClient, store: Any, keys: dict[str, dict[str, str]]
) -> None:
    """Nine reports from three reporters in one cell (released) and one lone report 360 m
    east (hidden). Candidate B reaches both, A only the nine: if the lone report counted for
    planners, B minus A would reveal it. Only released cells count, so A and B tie."""
    from geo_service.auth import create_key
    from tests.conftest import bearer

    metre = 1 / (111_320 * np.cos(np.radians(TOWN[1])))  # degrees of longitude per metre
    second = bearer(create_key(store, program="town", role=Role.MANAGER)[1])
    third = bearer(create_key(store, program="town", role=Role.MANAGER)[1])
    when = "2025-05-06T13:00:00-05:00"
    for headers in (keys["manager"], second, third):
        cluster = [feature(observed_at=when, source="peer") for _ in range(3)]
        assert client.post("/v1/events", json=collection(*cluster), headers=headers).is_success
    lone = feature(TOWN[0] + 360 * metre, observed_at=when, source="peer")
    assert client.post("/v1/events", json=collection(lone), headers=keys["manager"]).is_success
    candidates = collection(
        *[
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [TOWN[0] + dx * metre, TOWN[1]]},
                "properties": {"name": name},
            }
            for name, dx in (("A", -200), ("B", 180))
        ]
    )
    assert client.post("/v1/candidates", json=candidates, headers=keys["planner"]).is_success
    period = "period=2025-05"

    def counts(role: str) -> dict[str, Any]:
        body = client.get(f"/v1/siting/consumption-site?{period}", headers=keys[role]).json()
        return {r["name"]: r["criteria"]["needle_reports"]["value"] for r in body["ranking"]}

    assert counts("manager") == {"A": 9, "B": 10}  # the manager sees every event
    assert counts("planner") == {"A": 9, "B": 9}
    gains = {}
    for name in ("A", "B"):
        only = [f for f in candidates["features"] if f["properties"]["name"] == name]
        replaced = client.post(
            "/v1/candidates?replace=true", json=collection(*only), headers=keys["planner"]
        )
        assert replaced.is_success
        body = client.post(
            "/v1/siting/lockers",
            json={"p": 1, "period": "2025-05", "kinds": ["needle_report"]},
            headers=keys["planner"],
        ).json()
        gains[name] = body["chosen"][0]["adds"]["share_of_events"]
    assert gains["A"] == gains["B"] == 1.0


@dataclass
class _TinyLockers:
    """Four candidates, each reaching one demand cell of 50, 30, 15 and 5 events; 10 more
    events already covered by today's sites (110 in all)."""

    total: float = 110.0
    covered_before: float = 10.0

    def cover(self) -> tuple[csr_matrix, np.ndarray]:
        return csr_matrix(np.eye(4, dtype=bool)), np.array([50.0, 30.0, 15.0, 5.0])


def test_target_share_bound_is_a_share_of_events_not_a_count_of_sites() -> None:
    # 70 % of 110 = 77 events: 67 to add, so two sites (50 + 30); two sites add at most 80.
    # The bound once added the number of sites (2) to the 10 covered: 12/110 = 0.109.
    question = LockerQuestion(Service.NEEDLES, 10.0, None, 0.7, "24/7", [], None, 5.0)
    lockers = cast(_Lockers, _TinyLockers())
    plan, reason, adds_at_most = _solve(lockers, question)
    assert plan is not None and reason is None
    assert sorted(plan.chosen) == [0, 1] and plan.covered == 80.0
    assert adds_at_most == pytest.approx(80.0)
    bound_share = (lockers.covered_before + adds_at_most) / lockers.total
    assert (10.0 + plan.covered) / 110.0 <= bound_share <= 1.0
    assert bound_share == pytest.approx(90 / 110)
    # The p variant keeps the maximal covering problem's own bound.
    two = LockerQuestion(Service.NEEDLES, 10.0, 2, None, "24/7", [], None, 5.0)
    assert _solve(lockers, two)[2] == pytest.approx(80.0)
