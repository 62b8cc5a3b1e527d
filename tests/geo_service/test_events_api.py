"""POST and GET /v1/events: acceptance, CSV, idempotency, roles, programs, filters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.ingest.batches import BatchResult
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN, collection, feature, problem

Keys = dict[str, dict[str, str]]


def post(client: TestClient, body: object, headers: dict[str, str], **kw: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/events", json=body, headers=headers, **kw)  # type: ignore[arg-type]


def test_valid_rows_are_stored_and_bad_rows_named(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    body = collection(
        feature(count=3, place_type="park", source="peer"),
        feature(kind="overdose", fatal=False, naloxone_doses=2, source="ems"),
        feature(kind="banana"),
        feature(kind="cleanup", count=12),
    )
    response = post(client, body, keys["manager"])
    assert response.status_code == 201
    result = BatchResult.model_validate(response.json())
    assert result.accepted == 3
    assert [(r.index, r.code) for r in result.rejected] == [(2, "invalid_value")]
    assert store.count_rows(store.program_id("town") or 0)["events"] == 3


def test_get_events_returns_cell_polygons_with_buckets(client: TestClient, keys: Keys) -> None:
    post(
        client,
        collection(feature(count=3, place_type="park"), feature(kind="overdose", naloxone_doses=1)),
        keys["manager"],
    )
    response = client.get("/v1/events", headers=keys["manager"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == 2
    by_kind = {f["properties"]["kind"]: f for f in body["features"]}
    needle = by_kind["needle_report"]
    ring = needle["geometry"]["coordinates"][0]
    assert needle["geometry"]["type"] == "Polygon" and len(ring) == 5 and ring[0] == ring[-1]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    assert min(lons) <= TOWN[0] <= max(lons) and min(lats) <= TOWN[1] <= max(lats)
    assert needle["properties"]["cell_m"] == 125 and needle["properties"]["count"] == 3
    # 13:45 at UTC-5 is 18:45Z: the hour bucket 18:00-19:00Z.
    assert needle["properties"]["bucket_start"] == "2025-05-01T18:00:00Z"
    assert needle["properties"]["bucket_end"] == "2025-05-01T19:00:00Z"
    overdose = by_kind["overdose"]["properties"]
    assert overdose["cell_m"] == 250 and overdose["naloxone_doses"] == 1
    assert overdose["bucket_end"] == "2025-05-01T23:00:00Z"  # 12:00-18:00 local


def test_csv_and_multipart_uploads(client: TestClient, keys: Keys) -> None:
    csv_text = (
        "kind,observed_at,latitude,longitude,count,source,fatal,naloxone_doses,place_type\n"
        f"needle_report,2025-05-01T10:00:00Z,{TOWN[1]},{TOWN[0]},4,city,,,school\n"
        f"overdose,2025-05-01T10:00:00Z,{TOWN[1]},{TOWN[0]},,ems,true,2,\n"
        f"overdose,2025-05-01T10:00:00Z,{TOWN[1]},{TOWN[0]},,ems,maybe,2,\n"
    )
    response = client.post(
        "/v1/events", content=csv_text, headers={**keys["manager"], "Content-Type": "text/csv"}
    )
    assert response.status_code == 201
    assert response.json()["accepted"] == 2
    [rejected] = response.json()["rejected"]
    assert rejected["index"] == 2 and rejected["code"] == "invalid_value"
    assert "CSV line 4" in rejected["detail"]
    upload = client.post(
        "/v1/events",
        headers=keys["manager"],
        files={"file": ("events.csv", csv_text.encode(), "text/csv")},
    )
    assert upload.status_code == 201 and upload.json()["accepted"] == 2


def test_idempotency_key_replays_the_first_answer(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    headers = {**keys["manager"], "Idempotency-Key": "batch-0001"}
    body = collection(feature(), feature(kind="nope"))
    first = post(client, body, headers)
    second = post(client, body, headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert store.count_rows(store.program_id("town") or 0)["events"] == 1
    changed = post(client, collection(feature(count=9)), headers)
    assert problem(changed, 409)["code"] == "idempotency_key_reused"


def test_all_or_nothing_stores_nothing_when_a_row_fails(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    response = post(
        client,
        collection(feature(), feature(kind="x")),
        keys["manager"],
        params={"all_or_nothing": "true"},
    )
    body = problem(response, 422)
    assert body["rejected"] == [
        {
            "index": 1,
            "code": "invalid_value",
            "detail": "kind must be needle_report, overdose or cleanup",
        }
    ]
    assert store.count_rows(store.program_id("town") or 0)["events"] == 0


def test_roles(client: TestClient, keys: Keys) -> None:
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    body = collection(feature(observed_at=recent), feature(kind="overdose", observed_at=recent))
    assert problem(client.post("/v1/events", json=body), 401)["code"] == "unauthenticated"
    bad_key = {"Authorization": "Bearer gs_not-a-key"}
    assert problem(client.post("/v1/events", json=body, headers=bad_key), 401)
    assert problem(post(client, body, keys["planner"]), 403)["code"] == "forbidden"
    peer = post(client, body, keys["peer"])
    assert peer.status_code == 201 and peer.json()["accepted"] == 1
    assert peer.json()["rejected"][0]["code"] == "kind_not_permitted"
    assert problem(client.get("/v1/events", headers=keys["peer"]), 403)
    assert problem(client.get("/v1/events", headers=keys["planner"]), 403)
    assert client.get("/v1/events", headers=keys["steward"]).status_code == 200


def test_revoked_key_is_refused(client: TestClient, keys: Keys, store: SqlStore) -> None:
    assert client.get("/v1/events", headers=keys["manager"]).status_code == 200
    manager = next(k for k in store.list_keys("town") if k.role == "manager")
    assert store.revoke_key(manager.id)
    assert problem(client.get("/v1/events", headers=keys["manager"]), 401)


def test_programs_see_only_their_own_events(client: TestClient, keys: Keys) -> None:
    post(client, collection(feature(), feature()), keys["manager"])
    post(client, collection(feature(kind="cleanup")), keys["other_manager"])
    mine = client.get("/v1/events", headers=keys["manager"]).json()
    theirs = client.get("/v1/events", headers=keys["other_manager"]).json()
    assert mine["numberReturned"] == 2 and theirs["numberReturned"] == 1
    assert {f["properties"]["kind"] for f in theirs["features"]} == {"cleanup"}


def test_filters_and_paging(client: TestClient, keys: Keys) -> None:
    far = (TOWN[0] + 0.03, TOWN[1] + 0.02)
    post(
        client,
        collection(
            feature(observed_at="2025-01-10T12:00:00Z"),
            feature(*far, observed_at="2025-03-10T12:00:00Z"),
            feature(kind="cleanup", observed_at="2025-03-10T12:30:00Z"),
            *[feature(observed_at="2025-06-01T00:00:00Z") for _ in range(5)],
        ),
        keys["manager"],
    )

    def ids(**params: Any) -> int:
        response = client.get("/v1/events", headers=keys["manager"], params=params)
        assert response.status_code == 200, response.text
        return int(response.json()["numberReturned"])

    assert ids() == 8
    assert ids(kind="cleanup") == 1
    assert ids(datetime="2025-03-01T00:00:00Z/2025-04-01T00:00:00Z") == 2
    assert ids(datetime="../2025-02-01T00:00:00Z") == 1
    assert ids(bbox=f"{far[0] - 0.002},{far[1] - 0.002},{far[0] + 0.002},{far[1] + 0.002}") == 1
    seen: list[int] = []
    url: str | None = "/v1/events?limit=3"
    while url:
        page = client.get(url, headers=keys["manager"]).json()
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(seen) == 8 and len(set(seen)) == 8


@pytest.mark.parametrize(
    "params",
    [
        {"bbox": "1,2,3"},
        {"bbox": "10,0,5,1"},
        {"datetime": "yesterday"},
        {"datetime": "2025-01-01T00:00:00"},
        {"datetime": "2025-02-01T00:00:00Z/2025-01-01T00:00:00Z"},
        {"limit": "0"},
        {"limit": "1000000"},
        {"kind": "banana"},
    ],
)
def test_bad_query_parameters(client: TestClient, keys: Keys, params: dict[str, str]) -> None:
    response = client.get("/v1/events", headers=keys["manager"], params=params)
    body = problem(response, response.status_code)
    assert response.status_code in (400, 422)
    for value in params.values():
        assert value not in str(body)


def test_healthz_needs_no_key(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"
