"""POST /v1/reports refusals: a 4xx naming the fault, never its value, and nothing stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.ingest.reports import OUTCOMES, PLACES, REPORT_MESSAGES, STEPPER, SUPPLIES
from geo_service.settings import EventKind
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN, problem
from tests.geo_service.test_reports_api import (
    ANSWERS,
    SECRET_NUMBER,
    ZONE,
    Keys,
    assert_nothing_stored,
    cell_of,
    hour_text,
    report,
    send,
)

# -- refusals: a 4xx naming the fault, never its value, and nothing stored --------------


# Words the messages list as the choices: finding one in a message is no echo.
ALLOWED_WORDS = {*STEPPER, *PLACES, *OUTCOMES, *SUPPLIES, *ANSWERS}


@pytest.mark.parametrize(
    "name", ["lon", "lat", "x", "y", "geometry", "coordinates", "position", "Latitude", "lng"]
)
def test_a_position_in_any_name_is_refused_by_name_never_by_value(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore, name: str
) -> None:
    body = {**report(app), name: SECRET_NUMBER}
    found = problem(send(client, body, keys["peer"]), 422)
    assert found["code"] == "position_refused"
    assert found["field"] == name and f"'{name}'" in found["detail"]
    assert "54.76" not in str(found)
    assert_nothing_stored(store)


def test_a_field_name_that_is_not_a_plain_name_is_never_echoed(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    for name in ("</script><script>alert(1)</script>", "`${document.cookie}`", "a" * 41):
        found = problem(send(client, {**report(app), name: 1}, keys["peer"]), 422)
        assert found["code"] == "unknown_field"
        assert found["field"] == "a field"
        assert "script" not in str(found) and "cookie" not in str(found)


def test_a_position_is_refused_even_beside_a_valid_square(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    body = report(app, geometry={"type": "Point", "coordinates": [TOWN[0], TOWN[1]]})
    assert problem(send(client, body, keys["peer"]), 422)["code"] == "position_refused"
    assert_nothing_stored(store)


def far_cell(app: FastAPI) -> str:
    m, ix, iy = cell_of(app, EventKind.NEEDLE_REPORT).split(":")
    return f"{m}:{int(ix) + 4000}:{iy}"  # 500 km east


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("needles_here", {"note": "by the school"}, "unknown_field"),
    ("needles_here", {"minutes": 30}, "unknown_field"),  # another type's field
    ("needles_here", {"</script>`${x}`": 1}, "unknown_field"),
    ("banana", {}, "unknown_type"),
    ("needles_here", {"type": ["needles_here"]}, "unknown_type"),
    ("needles_here", {"type": {"a": 1}}, "unknown_type"),
    ("needles_here", {"type": 1}, "unknown_type"),
    ("needles_here", {"cell": ["125", 1, 2]}, "cell_invalid"),
    ("needles_here", {"cell": "125:999999999:999999999"}, "cell_outside_area"),
    ("needles_here", {"bucket": 1764680400}, "bucket_invalid"),
    ("needles_here", {"place": ["park"]}, "place_invalid"),
    ("supplies_needed", {"supplies": "needles"}, "supplies_invalid"),
    ("supplies_needed", {"supplies": [["needles"]]}, "supplies_invalid"),
    ("needles_here", {"type": None}, "missing_field"),
    ("needles_here", {"count": None}, "missing_field"),
    ("needles_here", {"cell": "250:1262:24288"}, "cell_wrong_size"),
    ("overdose_helped", {"cell": "125:2524:48577"}, "cell_wrong_size"),
    ("needles_here", {"cell": "125,2524,48577"}, "cell_invalid"),
    ("needles_here", {"cell": 12525244857}, "cell_invalid"),
    ("needles_here", {"bucket": "2026-05-01T14:30-05:00"}, "bucket_invalid"),
    ("needles_here", {"bucket": "now"}, "bucket_invalid"),
    ("needles_here", {"bucket": "today-earlier"}, "bucket_invalid"),
    ("needles_here", {"bucket": "2026-02-30"}, "bucket_invalid"),
    ("needles_here", {"count": "7"}, "count_not_on_stepper"),
    ("needles_here", {"count": 3}, "count_not_on_stepper"),
    ("needles_here", {"count": "0"}, "count_not_on_stepper"),
    ("needles_here", {"picked_up": "yes"}, "picked_up_invalid"),
    ("needles_here", {"place": "playground"}, "place_invalid"),
    ("cleanup_done", {"minutes": 0}, "minutes_invalid"),
    ("cleanup_done", {"minutes": 481}, "minutes_invalid"),
    ("cleanup_done", {"minutes": True}, "minutes_invalid"),
    ("overdose_helped", {"naloxone_doses": 6}, "doses_invalid"),
    ("overdose_helped", {"naloxone_doses": -1}, "doses_invalid"),
    ("overdose_helped", {"outcome": "fine"}, "outcome_invalid"),
    ("overdose_helped", {"outcome": None}, "missing_field"),
    ("supplies_needed", {"supplies": []}, "supplies_invalid"),
    ("supplies_needed", {"supplies": ["needles", "needles"]}, "supplies_invalid"),
    ("supplies_needed", {"supplies": ["cash"]}, "supplies_invalid"),
]


@pytest.mark.parametrize(("kind", "fields", "code"), REFUSALS)
def test_a_bad_report_is_refused_with_its_plain_message_and_nothing_stored(
    app: FastAPI,
    client: TestClient,
    keys: Keys,
    store: SqlStore,
    kind: str,
    fields: dict[str, Any],
    code: str,
) -> None:
    body = report(app, kind)
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    found = problem(send(client, body, keys["peer"]), REPORT_MESSAGES[code][0])
    assert found["code"] == code
    assert "{" not in found["detail"]  # every blank of the table was filled
    for value in fields.values():
        if isinstance(value, str) and len(value) >= 3 and value not in ALLOWED_WORDS:
            assert value not in found["detail"]
    assert_nothing_stored(store)


@pytest.mark.parametrize(
    ("bucket", "code"),
    [
        (lambda: hour_text(-2), "bucket_in_future"),
        (lambda: hour_text(49), "bucket_too_old"),
        (
            lambda: (dt.datetime.now(ZONE).date() + dt.timedelta(days=1)).isoformat(),
            "bucket_in_future",
        ),
        (
            lambda: (dt.datetime.now(ZONE).date() - dt.timedelta(days=2)).isoformat(),
            "bucket_too_old",
        ),
    ],
)
def test_a_future_or_stale_bucket_is_refused(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore, bucket: Any, code: str
) -> None:
    found = problem(send(client, report(app, bucket=bucket()), keys["peer"]), 422)
    assert found["code"] == code
    assert_nothing_stored(store)


def test_47_hours_back_is_still_taken(app: FastAPI, client: TestClient, keys: Keys) -> None:
    assert send(client, report(app, bucket=hour_text(47)), keys["manager"]).status_code == 201


def test_a_square_outside_the_programs_area_is_refused(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    found = problem(send(client, report(app, cell=far_cell(app)), keys["peer"]), 422)
    assert found["code"] == "cell_outside_area"
    assert_nothing_stored(store)


def test_an_idempotency_key_is_required(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    found = problem(send(client, report(app), keys["peer"], key=None), 400)
    assert found["code"] == "idempotency_key_required"
    assert_nothing_stored(store)


def test_planners_may_not_report_and_no_key_is_401(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    assert problem(send(client, report(app), keys["planner"]), 403)["code"] == "forbidden"
    assert problem(send(client, report(app), {}), 401)["code"] == "unauthenticated"
    assert_nothing_stored(store)


def test_csv_or_a_list_of_reports_is_refused(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    headers = {**keys["peer"], "Idempotency-Key": "k1", "Content-Type": "text/csv"}
    assert client.post("/v1/reports", content=b"type\n", headers=headers).status_code == 415
    listed = problem(send(client, [report(app), report(app)], keys["peer"]), 422)
    assert listed["code"] == "not_an_object"
    assert_nothing_stored(store)
