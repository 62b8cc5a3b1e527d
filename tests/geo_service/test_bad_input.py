"""Bad input: each case answers 4xx problem+json, echoes nothing, and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN, collection, feature, make_settings, problem

Keys = dict[str, dict[str, str]]
CSV_HEADER = "kind,observed_at,latitude,longitude,count,source,fatal,naloxone_doses,place_type\n"
MARK = "7319"  # digits planted in bad input, which must not come back


def _geojson(f: dict[str, Any]) -> tuple[bytes, str]:
    return json.dumps(collection(f)).encode(), "application/geo+json"


def _csv(text: str) -> tuple[bytes, str]:
    return text.encode(), "text/csv"


def _row(**cells: str) -> str:
    values = {
        "kind": "needle_report",
        "observed_at": "2025-05-01T10:00:00Z",
        "latitude": str(TOWN[1]),
        "longitude": str(TOWN[0]),
        **cells,
    }
    return CSV_HEADER + ",".join(values.get(c, "") for c in CSV_HEADER.strip().split(",")) + "\n"


ROW_CASES: dict[str, tuple[tuple[bytes, str], str]] = {
    "nan_in_csv": (_csv(_row(latitude="NaN")), "non_finite_coordinates"),
    "infinity_in_csv": (_csv(_row(longitude="-Infinity")), "non_finite_coordinates"),
    "latitude_out_of_range": (_geojson(feature(-101.7319, 95.7319)), "coordinates_out_of_range"),
    "longitude_out_of_range": (_geojson(feature(-190.7319, 54.7319)), "coordinates_out_of_range"),
    "swapped": (_geojson(feature(TOWN[1], TOWN[0])), "coordinates_swapped"),
    "outside_service_area": (_geojson(feature(-97.1384, 49.8951)), "outside_service_area"),
    "unknown_kind": (_geojson(feature(kind="syringe7319")), "invalid_value"),
    "unknown_enum": (_geojson(feature(source="neighbour7319")), "invalid_value"),
    "place_type_enum": (_geojson(feature(place_type="alley7319")), "invalid_value"),
    "name": (_geojson(feature(name="Jane 7319")), "unknown_field"),
    "phone": (_geojson(feature(phone="204-555-7319")), "unknown_field"),
    "notes": (_geojson(feature(notes="saw him at 7319 Main")), "unknown_field"),
    "photo": (_geojson(feature(photo="data:image/png;base64,7319")), "unknown_field"),
    "feature_id": (_geojson({**feature(), "id": "device-7319"}), "unknown_field"),
    "overdose_attr_on_needle": (_geojson(feature(fatal=True)), "field_not_for_kind"),
    "observed_at_missing": (_geojson(feature(observed_at=None)), "missing_field"),
    "observed_at_unparsable": (
        _geojson(feature(observed_at="last tuesday 7319")),
        "invalid_timestamp",
    ),
    "observed_at_no_offset": (
        _geojson(feature(observed_at="2025-05-01T10:00:00")),
        "invalid_timestamp",
    ),
    "observed_at_not_a_date": (
        _geojson(feature(observed_at="2025-02-30T10:00:00Z")),
        "invalid_timestamp",
    ),
    "observed_at_future": (
        _geojson(feature(observed_at="2999-01-01T00:00:00Z")),
        "timestamp_in_future",
    ),
    "count_zero": (_geojson(feature(count=0)), "invalid_value"),
    "count_float": (_geojson(feature(count=2.5)), "invalid_value"),
    "count_string": (_geojson(feature(count="7319")), "invalid_value"),
    "count_bool": (_geojson(feature(count=True)), "invalid_value"),
    "overdose_count": (_geojson(feature(kind="overdose", count=3)), "invalid_value"),
    "naloxone_negative": (_geojson(feature(kind="overdose", naloxone_doses=-1)), "invalid_value"),
    "fatal_not_bool": (_geojson(feature(kind="overdose", fatal="yes")), "invalid_value"),
    "coordinates_as_strings": (_geojson(feature("-101.87", "54.7319")), "invalid_geometry"),
    "not_a_point": (
        _geojson(
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            }
        ),
        "invalid_geometry",
    ),
    "not_a_feature": (_geojson({"type": "Banana"}), "invalid_feature"),
    "csv_bad_row": (
        _csv(CSV_HEADER + "needle_report,2025-05-01T10:00:00Z,7319\n"),
        "malformed_row",
    ),
    "csv_formula": (
        _csv(_row(place_type='"=HYPERLINK(""http://x/7319"",""click"")"')),
        "formula_not_allowed",
    ),
    "csv_formula_plus": (_csv(_row(count="+SUM(A1:A9)")), "formula_not_allowed"),
    "csv_bad_number": (_csv(_row(latitude="54,7319")), "malformed_row"),
}


@pytest.fixture
def stored(store: SqlStore) -> Any:
    def snapshot() -> dict[str, int]:
        program_id = store.program_id("town")
        counts = store.count_rows(program_id) if program_id else {}
        with store.engine.connect() as conn:
            counts["batches"] = conn.exec_driver_sql(
                "SELECT count(*) FROM ingest_batches"
            ).scalar_one()
        return counts

    return snapshot


@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_bad_rows_are_refused_by_name(
    client: TestClient, keys: Keys, stored: Any, case: str
) -> None:
    (body, content_type), code = ROW_CASES[case]
    before = stored()
    response = client.post(
        "/v1/events", content=body, headers={**keys["manager"], "Content-Type": content_type}
    )
    problem_body = problem(response, 422)
    assert problem_body["code"] == "batch_rejected"
    rejected = problem_body["rejected"]
    assert rejected[-1]["code"] == code
    assert rejected[-1]["index"] == len(rejected) - 1
    assert MARK not in response.text
    assert stored() == before


def test_a_bad_row_beside_good_rows_is_named_and_the_rest_stored(
    client: TestClient, keys: Keys, stored: Any
) -> None:
    good = feature()
    body = collection(good, feature(phone="204-555-7319"), good, feature(-97.1, 49.9))
    response = client.post("/v1/events", json=body, headers=keys["manager"])
    assert response.status_code == 201
    assert [(r["index"], r["code"]) for r in response.json()["rejected"]] == [
        (1, "unknown_field"),
        (3, "outside_service_area"),
    ]
    assert stored()["events"] == 2


REQUEST_CASES: dict[str, tuple[bytes, str, int, str]] = {
    "malformed_json": (
        b'{"type": "FeatureCollection", "features": [7319',
        "application/json",
        400,
        "malformed_body",
    ),
    "nan_json": (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":'
        b'{"type":"Point","coordinates":[NaN, 54.7319]},"properties":{}}]}',
        "application/geo+json",
        400,
        "malformed_body",
    ),
    "infinity_json": (
        b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":'
        b'{"type":"Point","coordinates":[-Infinity, 54.7319]},"properties":{}}]}',
        "application/geo+json",
        400,
        "malformed_body",
    ),
    "deeply_nested": (
        b'{"type":"FeatureCollection","features":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "application/json",
        400,
        "malformed_body",
    ),
    "nested_within_limit": (
        b'{"type":"FeatureCollection","features":[{"type":"Feature",'
        b'"geometry":{"type":"Point","coordinates":[[[[[[1]]]]]]},'
        b'"properties":{"kind":{"a":{"b":[7319]}}}}]}',
        "application/json",
        422,
        "batch_rejected",
    ),
    "empty_body": (b"", "application/geo+json", 400, "malformed_body"),
    "not_a_collection": (
        b'{"type":"Feature7319"}',
        "application/geo+json",
        422,
        "not_a_feature_collection",
    ),
    "wrong_content_type": (b"<xml>7319</xml>", "application/xml", 415, "unsupported_media_type"),
    "no_content_type": (b"kind=7319", "", 415, "unsupported_media_type"),
    "csv_missing_column": (
        b"kind,observed_at,latitude\nneedle_report,2025-05-01T10:00:00Z,54.7319\n",
        "text/csv",
        422,
        "missing_column",
    ),
    "csv_unknown_column": (
        CSV_HEADER.strip().encode() + b",phone\n",
        "text/csv",
        422,
        "unknown_column",
    ),
    "csv_empty": (b"", "text/csv", 422, "empty_csv"),
    "csv_not_utf8": (
        "kind,observed_at\n\u00e9".encode("latin-1"),
        "text/csv",
        400,
        "malformed_body",
    ),
    "empty_collection": (
        b'{"type":"FeatureCollection","features":[]}',
        "application/geo+json",
        422,
        "batch_rejected",
    ),
}


@pytest.mark.parametrize("case", sorted(REQUEST_CASES))
def test_bad_requests(client: TestClient, keys: Keys, stored: Any, case: str) -> None:
    body, content_type, status, code = REQUEST_CASES[case]
    before = stored()
    headers = {**keys["manager"]}
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/v1/events", content=body, headers=headers)
    assert problem(response, status)["code"] == code
    assert MARK not in response.text
    assert stored() == before


def test_bodies_over_the_limit_get_413(tmp_path: Any) -> None:
    from geo_service.auth import Role, create_key
    from geo_service.main import create_app

    settings: Settings = make_settings(tmp_path, max_body_bytes=2048)
    app = create_app(settings)
    with TestClient(app) as client:
        _, key = create_key(app.state.store, program="town", role=Role.MANAGER)
        headers = {"Authorization": f"Bearer {key}"}
        big = collection(*[feature() for _ in range(40)])
        response = client.post("/v1/events", json=big, headers=headers)
        assert "2048" in problem(response, 413)["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: streamed
            yield json.dumps(big).encode()

        streamed = client.post(
            "/v1/events",
            content=chunks(),
            headers={**headers, "Content-Type": "application/geo+json"},
        )
        problem(streamed, 413)
        assert app.state.store.count_rows(app.state.store.program_id("town"))["events"] == 0


def test_batches_over_the_row_limit_get_413(tmp_path: Any) -> None:
    from geo_service.auth import Role, create_key
    from geo_service.main import create_app

    app = create_app(make_settings(tmp_path, max_batch_rows=3))
    with TestClient(app) as client:
        _, key = create_key(app.state.store, program="town", role=Role.MANAGER)
        response = client.post(
            "/v1/events",
            json=collection(*[feature()] * 4),
            headers={"Authorization": f"Bearer {key}"},
        )
        problem(response, 413)
        csv_body = _row() + _row().split("\n", 1)[1] * 3
        response = client.post(
            "/v1/events",
            content=csv_body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
        )
        problem(response, 413)


def test_bad_idempotency_key(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/events",
        json=collection(feature()),
        headers={**keys["manager"], "Idempotency-Key": "x" * 500},
    )
    assert problem(response, 400)["code"] == "invalid_parameter"


def test_unknown_route_and_method_are_problem_json(client: TestClient, keys: Keys) -> None:
    problem(client.get("/v1/nothing", headers=keys["manager"]), 404)
    problem(client.delete("/v1/events", headers=keys["manager"]), 405)


@pytest.mark.parametrize("path", ["/v1/events", "/v1/audit"])
def test_page_cursors_beyond_64_bits_are_refused_not_crashed(
    client: TestClient, keys: dict[str, dict[str, str]], path: str
) -> None:
    # Found by the fuzz run: SQLite cannot bind integers past 2**63 - 1.
    response = client.get(f"{path}?after=9223372036854775808", headers=keys["steward"])
    problem(response, 422)
