"""Attacks by insiders: people holding a valid peer or planner key who also send reports, may
hold two keys, and poll (DESIGN §4, issue 13). Each test is an attack that once worked."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.ingest.event_input import events_from_geojson
from geo_service.ingest.events import validate_events
from geo_service.storage import BatchRecord
from geo_service.storage.sql import SqlStore
from tests.conftest import bearer, collection, feature

VICTIM = (-101.8950, 54.7800)  # a quiet corner: nothing else reported there
HOT = (-101.8700, 54.7700)
K = 5


def key_id(store: SqlStore, headers: dict[str, str]) -> int:
    from geo_service.auth import hash_key

    record = store.key_by_hash(hash_key(headers["Authorization"].removeprefix("Bearer ")))
    assert record is not None
    return record.id


def store_as(
    app: FastAPI, headers: dict[str, str], rows: list[dict[str, Any]], program: str = "town"
) -> None:
    """Rows as the key sent them while their period was open (the store, not the clock)."""
    store: SqlStore = app.state.store
    batch = validate_events(
        events_from_geojson(collection(*rows), max_rows=100_000), app.state.deployment
    )
    assert not batch.rejected
    program_id = store.get_or_create_program(program)
    record = BatchRecord(
        uuid.uuid4().hex, program_id, key_id(store, headers), "events", None, "x", "2025-05-31"
    )
    store.store_events(record, batch.rows)


def may(point: tuple[float, float], n: int = 1, **props: Any) -> list[dict[str, Any]]:
    return [feature(*point, observed_at="2025-05-14T12:00:00Z", **props) for _ in range(n)]


def busy_background(app: FastAPI, keys: list[dict[str, str]]) -> None:
    rng = np.random.default_rng(3)
    for headers in keys:
        rows = [
            feature(HOT[0] + rng.uniform(-0.002, 0.002), HOT[1] + rng.uniform(-0.001, 0.001),
                    observed_at=f"2025-05-{d:02d}T12:00:00Z")
            for d in range(1, 25)
        ]  # fmt: skip
        store_as(app, headers, rows)


def peer_layer(client: TestClient, headers: dict[str, str], period: str = "2025-05") -> Any:
    response = client.get(
        "/v1/published", params={"kind": "needle_report", "period": period}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def cell_at(body: Any, point: tuple[float, float]) -> list[Any]:
    from shapely.geometry import Point, shape

    return [f for f in body["features"] if shape(f["geometry"]).covers(Point(point))]


@pytest.fixture
def people(app: FastAPI, client: TestClient) -> dict[str, dict[str, str]]:
    _ = client  # requested for its effect: the app's lifespan is running
    store = app.state.store
    return {
        "victim": bearer(create_key(store, program="town", role=Role.PEER)[1]),
        "attacker": bearer(create_key(store, program="town", role=Role.PEER)[1]),
        "second": bearer(create_key(store, program="town", role=Role.PEER)[1]),
        "planner": bearer(create_key(store, program="town", role=Role.PLANNER)[1]),
        "manager": bearer(create_key(store, program="town", role=Role.MANAGER)[1]),
        "steward": bearer(create_key(store, program="town", role=Role.STEWARD)[1]),
    }


# -- padding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["one row of count 4", "four rows", "forty rows"])
def test_padding_a_victims_cell_never_reveals_the_victims_count(
    app: FastAPI, client: TestClient, people: dict[str, dict[str, str]], how: str
) -> None:
    store_as(app, people["victim"], may(VICTIM, 2))
    padding = {
        "one row of count 4": may(VICTIM, 1, count=4),
        "four rows": may(VICTIM, 4),
        "forty rows": may(VICTIM, 40),
    }[how]
    store_as(app, people["attacker"], padding)
    body = peer_layer(client, people["attacker"])
    for f in cell_at(body, VICTIM):  # shown anywhere: the attacker's own part leaves >= k
        assert f["properties"]["count"] - len(padding) >= K


def test_two_colluding_keys_learn_nothing_when_the_steward_drops_two(
    app: FastAPI, client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    response = client.put(
        "/v1/program/publication", json={"drop_top_keys": 2}, headers=people["steward"]
    )
    assert response.status_code == 200, response.text
    store_as(app, people["victim"], may(VICTIM, 2))
    store_as(app, people["attacker"], may(VICTIM, 5))
    store_as(app, people["second"], may(VICTIM, 5))
    assert cell_at(peer_layer(client, people["attacker"]), VICTIM) == []


# -- backdating and odd dates ----------------------------------------------------------------


def test_a_peer_cannot_backdate_into_a_published_period(
    client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [
        feature(*VICTIM, observed_at=(now - dt.timedelta(days=40)).isoformat()),
        feature(*VICTIM, observed_at="0001-01-01T00:00:00Z"),
        feature(*VICTIM, observed_at=(now + dt.timedelta(hours=1)).isoformat()),
        feature(*VICTIM, observed_at=(now - dt.timedelta(hours=3)).isoformat()),
    ]
    response = client.post("/v1/events", json=collection(*rows), headers=people["attacker"])
    assert response.status_code == 201, response.text
    codes = {r["index"]: r["code"] for r in response.json()["rejected"]}
    assert codes == {
        0: "too_old_for_this_key",
        1: "invalid_timestamp",
        2: "timestamp_in_future",
    } or (codes[0] == "too_old_for_this_key" and codes[2] == "timestamp_in_future" and 1 in codes)
    assert response.json()["accepted"] == 1


def test_history_sent_after_a_release_is_kept_for_managers_and_never_published(
    app: FastAPI, client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    busy_background(app, [people["victim"], people["second"], people["manager"]])
    before = client.get(
        "/v1/published",
        params={"kind": "needle_report", "period": "2025-05"},
        headers=people["attacker"],
    )
    late = client.post(
        "/v1/events", json=collection(*may(HOT, 6), *may(VICTIM, 6)), headers=people["manager"]
    )
    assert late.status_code == 201
    assert [n["code"] for n in late.json()["held_back"]] == ["period_already_published"] * 12
    after = client.get(
        "/v1/published",
        params={"kind": "needle_report", "period": "2025-05"},
        headers=people["attacker"],
    )
    assert after.content == before.content
    # The quarter, made later, holds nothing the month's release did not let in either.
    quarter = peer_layer(client, people["attacker"], "2025-Q2")
    assert cell_at(quarter, VICTIM) == []
    events = client.get(
        "/v1/events", params={"kind": "needle_report", "limit": 1000}, headers=people["manager"]
    ).json()
    assert events["numberReturned"] == 3 * 24 + 12  # the manager sees them all


# -- audiences -------------------------------------------------------------------------------


def test_the_public_layer_is_a_coarsening_of_the_peer_release(
    app: FastAPI, client: TestClient, people: dict[str, dict[str, str]]
) -> None:
    from shapely.geometry import shape

    busy_background(app, [people["victim"], people["second"], people["manager"]])
    store_as(app, people["attacker"], may((HOT[0] + 0.0012, HOT[1]), 3))
    settings = {"public_enabled": True, "k_public": 12}
    assert client.put(
        "/v1/program/publication", json=settings, headers=people["steward"]
    ).is_success
    peer = peer_layer(client, people["attacker"])
    public = client.get(
        "/v1/public/published",
        params={"program": "town", "kind": "needle_report", "period": "2025-05"},
    ).json()
    assert public["features"]
    for f in public["features"]:
        inside = [
            p["properties"]["count"]
            for p in peer["features"]
            if shape(f["geometry"]).contains(shape(p["geometry"]).centroid)
        ]
        assert f["properties"]["count"] == sum(inside) >= 12
    # Raising k later changes no published period: releases are frozen with their rule.
    assert client.put(
        "/v1/program/publication", json={"k_peer": 9}, headers=people["steward"]
    ).is_success
    assert peer_layer(client, people["attacker"]) == peer


# -- analyses rest on the release alone ------------------------------------------------------


def twin_programs(app: FastAPI) -> tuple[dict[str, str], dict[str, str]]:
    """Two programs alike but for a few hidden reports beside a released cell in one."""
    store = app.state.store
    peers = []
    for name in ("plain", "hidden"):
        reporters = [bearer(create_key(store, program=name, role=Role.PEER)[1]) for _ in range(3)]
        rng = np.random.default_rng(11)
        for headers in reporters:
            rows = [
                feature(HOT[0] + rng.uniform(-0.003, 0.003), HOT[1] + rng.uniform(-0.0015, 0.0015),
                        observed_at=f"2025-05-{d:02d}T{d % 24:02d}:00:00Z")
                for d in range(1, 29)
            ]  # fmt: skip
            store_as(app, headers, rows, program=name)
        if name == "hidden":  # two reports from two keys, one cell east of the hot spot
            for headers in reporters[:2]:
                store_as(app, headers, may((HOT[0] + 0.0045, HOT[1]), 1), program=name)
        peers.append(bearer(create_key(store, program=name, role=Role.PEER)[1]))
    return peers[0], peers[1]


@pytest.mark.parametrize(
    "query",
    [
        *[f"method=dbscan&eps_m={e}&min_events={m}" for e in (1, 130, 260) for m in (1, 2, 5, 20)],
        "method=dbscan",
        "method=hdbscan",
        "method=density",
        *[f"method=gi_star&distance_m={d}&fdr={f}" for d in (250, 500) for f in ("true", "false")],
        "method=gi_star",
    ],
)
def test_sweeping_analysis_parameters_finds_no_hidden_report(
    app: FastAPI, client: TestClient, query: str
) -> None:
    plain, hidden = twin_programs(app)
    url = f"/v1/hotspots?kind=needle_report&period=2025-05&{query}"
    a, b = client.get(url, headers=plain), client.get(url, headers=hidden)
    assert a.status_code == b.status_code == 200, a.text
    assert a.json() == b.json()


def drop_in(hours: str) -> dict[str, Any]:
    properties = {"name": "Drop-in", "site_type": "hr_supply", "services": ["needles"]}
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(HOT)},
        "properties": {**properties, "opening_hours": hours},
    }


def without_ids(body: Any) -> Any:
    """The same answer from two programs differs only in their sites' database ids."""
    if isinstance(body, dict):
        return {k: without_ids(v) for k, v in body.items() if k not in ("id", "seconds")}
    if isinstance(body, list):
        return [without_ids(v) for v in body]
    return body


def test_a_planners_coverage_and_locker_hours_find_no_hidden_report(
    app: FastAPI, client: TestClient
) -> None:
    store = app.state.store
    twin_programs(app)
    planners = [
        bearer(create_key(store, program=name, role=Role.PLANNER)[1])
        for name in ("plain", "hidden")
    ]
    for headers in planners:  # the same site in both programs
        site = drop_in("Mo-Fr 09:00-17:00")
        manager = bearer(
            create_key(store, program="plain" if headers is planners[0] else "hidden",
                       role=Role.MANAGER)[1]
        )  # fmt: skip
        assert client.post("/v1/sites", json=collection(site), headers=manager).is_success
    for minutes in ("1", "3", "5", "7.5", "10"):
        url = f"/v1/coverage?service=needles&kind=needle_report&period=2025-05&minutes={minutes}"
        a, b = (client.get(url, headers=h) for h in planners)
        assert a.status_code == b.status_code == 200, a.text
        assert without_ids(a.json()) == without_ids(b.json())
    for hours in ("24/7", "Sa 03:00-04:00", "Mo-Su 00:00-06:00"):
        ask = {"p": 1, "period": "2025-05", "kinds": ["needle_report"], "opening_hours": hours}
        a, b = (client.post("/v1/siting/lockers", json=ask, headers=h) for h in planners)
        assert a.status_code == b.status_code, a.text
        if a.status_code == 200:
            assert without_ids(a.json()) == without_ids(b.json())


def test_peer_answers_never_read_the_event_store_once_released(
    app: FastAPI, client: TestClient, people: dict[str, dict[str, str]], monkeypatch: Any
) -> None:
    busy_background(app, [people["victim"], people["second"], people["manager"]])
    site = drop_in("24/7")
    assert client.post("/v1/sites", json=collection(site), headers=people["manager"]).is_success
    urls = [
        *[f"/v1/hotspots?kind=needle_report&period=2025-05&method={m}"
          for m in ("gi_star", "dbscan", "hdbscan", "density")],
        "/v1/published?kind=needle_report&period=2025-05",
        "/v1/coverage?service=needles&kind=needle_report&period=2025-05",
    ]  # fmt: skip
    first = [client.get(u, headers=people["planner"]) for u in urls]
    assert all(r.status_code == 200 for r in first), [r.text for r in first]
    store = app.state.store

    def forbidden(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a peer's or planner's answer read the event store")

    for name in ("event_atoms", "event_cells", "event_buckets", "query_events", "all_events"):
        monkeypatch.setattr(store, name, forbidden)
    again = [client.get(u, headers=people["planner"]) for u in urls]
    assert [r.content for r in again] == [r.content for r in first]
