"""POST /v1/reports: one phone report as a square and a time bucket, never a position."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.ingest.privacy import blur_locations
from geo_service.ingest.reports import (
    OUTCOMES,
    PLACES,
    REPORT_MESSAGES,
    STEPPER,
    SUPPLIES,
)
from geo_service.services.reports import THANKS
from geo_service.settings import EventKind
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN, problem

Keys = dict[str, dict[str, str]]
ZONE = ZoneInfo("America/Winnipeg")


def cell_of(app: FastAPI, kind: EventKind, lon: float = TOWN[0], lat: float = TOWN[1]) -> str:
    """The square the phone would send for a point: the service's own snapping."""
    m, ix, iy = blur_locations([lon], [lat], [kind.value], app.state.deployment)
    return f"{m[0]}:{ix[0]}:{iy[0]}"


def hour_start(hours_back: int = 0) -> dt.datetime:
    now = dt.datetime.now(ZONE).replace(minute=0, second=0, microsecond=0)
    return now - dt.timedelta(hours=hours_back)


def hour_text(hours_back: int = 0) -> str:
    return hour_start(hours_back).isoformat(timespec="minutes")


ANSWERS: dict[str, dict[str, Any]] = {
    "needles_here": {"count": "2-5", "picked_up": True, "place": "stairwell"},
    "cleanup_done": {"count": "6-20", "minutes": 90},
    "overdose_helped": {"naloxone_doses": 2, "outcome": "hospital"},
    "supplies_needed": {"supplies": ["sharps_bin", "naloxone"]},
}


def report(app: FastAPI, kind: str = "needles_here", **fields: Any) -> dict[str, Any]:
    grid = EventKind.OVERDOSE if kind == "overdose_helped" else EventKind.NEEDLE_REPORT
    body: dict[str, Any] = {"type": kind, "cell": cell_of(app, grid), "bucket": hour_text(1)}
    body.update(ANSWERS.get(kind, {}))
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def send(client: TestClient, body: object, headers: dict[str, str], key: str | None = "new") -> Any:
    extra = {} if key is None else {"Idempotency-Key": uuid.uuid4().hex if key == "new" else key}
    return client.post("/v1/reports", json=body, headers={**headers, **extra})


def stored(client: TestClient, keys: Keys) -> list[dict[str, Any]]:
    """Every stored event as a manager reads it."""
    response = client.get("/v1/events", headers=keys["manager"])
    assert response.status_code == 200, response.text
    features: list[dict[str, Any]] = response.json()["features"]
    return [f["properties"] for f in features]


def utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


EXPECTED: dict[str, dict[str, Any]] = {
    "needles_here": {
        "kind": "needle_report",
        "count": 3,
        "picked_up": True,
        "place_type": "stairwell",
        "source": "peer",
    },
    "cleanup_done": {"kind": "cleanup", "count": 13, "minutes": 90},
    "overdose_helped": {
        "kind": "overdose",
        "count": 1,
        "naloxone_doses": 2,
        "naloxone_given": True,
        "fatal": False,
        "outcome": "hospital",
    },
    "supplies_needed": {"kind": "supplies_needed", "count": 1, "supplies": "naloxone,sharps_bin"},
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_type_is_stored_as_its_square_kind_bucket_and_answers(
    app: FastAPI, client: TestClient, keys: Keys, kind: str
) -> None:
    body = report(app, kind)
    response = send(client, body, keys["peer"])
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "stored"
    [row] = stored(client, keys)
    assert row["cell"] == body["cell"]
    assert {k: row.get(k) for k in EXPECTED[kind]} == EXPECTED[kind]
    hours = 6 if kind == "overdose_helped" else 1
    start = hour_start(1)
    block = start.replace(hour=start.hour - start.hour % hours)
    assert row["bucket_start"] == utc(block)
    assert row["bucket_end"] == utc(block + dt.timedelta(hours=hours))
    assert row["time_precision"] == "hour"


@pytest.mark.parametrize("back", [0, 1])
def test_earlier_today_and_yesterday_are_the_whole_local_day(
    app: FastAPI, client: TestClient, keys: Keys, back: int
) -> None:
    day = dt.datetime.now(ZONE).date() - dt.timedelta(days=back)
    response = send(client, report(app, bucket=day.isoformat()), keys["peer"])
    assert response.status_code == 201, response.text
    [row] = stored(client, keys)
    midnight = dt.datetime.combine(day, dt.time(), ZONE)
    assert row["time_precision"] == "day"
    assert row["bucket_start"] == utc(midnight)
    assert row["bucket_end"] == utc(midnight + dt.timedelta(days=1))


def test_every_step_of_the_stepper_stores_its_number(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    for step in STEPPER:
        assert send(client, report(app, count=step), keys["peer"]).status_code == 201
    assert sorted(r["count"] for r in stored(client, keys)) == sorted(STEPPER.values())


def test_the_answer_thanks_links_and_never_counts(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    answers = [send(client, report(app), keys["peer"]).json() for _ in range(3)]
    # The third answer is the first: nothing in it grows with what a key has sent.
    assert (
        answers[0]
        == answers[2]
        == {
            "status": "stored",
            "thanks": THANKS,
            "map": "/maps/hotspots?kind=needle_report",
        }
    )
    assert len(stored(client, keys)) == 3


# -- refusals: a 4xx naming the fault, never its value, and nothing stored --------------


def assert_nothing_stored(store: SqlStore) -> None:
    import sqlalchemy as sa

    assert store.count_rows(store.program_id("town") or 0)["events"] == 0
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ingest_batches")).scalar() == 0


SECRET_NUMBER = 54.7682123
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


# -- exactly once -------------------------------------------------------------------------


def test_a_replay_gets_the_first_answer_and_stores_nothing_more(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    body = report(app)
    first = send(client, body, keys["peer"], key="r-1")
    again = send(client, body, keys["peer"], key="r-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(stored(client, keys)) == 1


def test_another_report_under_the_same_key_is_409(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    assert send(client, report(app), keys["peer"], key="r-2").status_code == 201
    found = problem(send(client, report(app, count="more"), keys["peer"], key="r-2"), 409)
    assert found["code"] == "idempotency_key_reused"
    assert [r["count"] for r in stored(client, keys)] == [3]


def test_the_same_idempotency_key_from_another_key_is_another_report(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    """Scoped to the sending key: a peer cannot replay, confirm or block another's report."""
    body = report(app)
    assert send(client, body, keys["peer"], key="shared").status_code == 201
    other = send(client, report(app, count="1"), keys["manager"], key="shared")
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert sorted(r["count"] for r in stored(client, keys)) == [1, 3]


def test_concurrent_posts_under_one_key_store_once(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    assert concurrent_posts(client, report(app), keys["peer"]) == 1
    assert len(stored(client, keys)) == 1


def concurrent_posts(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> int:
    """Eight same-key posts at once: each answers 201 (stored or replayed) or 409 (a twin is
    being stored), and a retry after them all is a replay. Returns how many said stored."""
    import threading

    barrier = threading.Barrier(8)
    answers: list[Any] = []

    def post() -> None:
        barrier.wait()
        answers.append(send(client, body, headers, key="same"))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} <= {201, 409}
    fresh = [a for a in answers if a.status_code == 201 and "Idempotent-Replayed" not in a.headers]
    retry = send(client, body, headers, key="same")
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    return len(fresh)


# -- privacy of what is kept and logged ---------------------------------------------------


def test_the_stored_row_holds_the_square_and_nothing_finer(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    """Two reports of one square give identical rows: no trace of where in the square, no
    position column, no float anywhere."""
    import sqlalchemy as sa

    base = cell_of(app, EventKind.NEEDLE_REPORT)
    for _ in range(2):
        assert send(client, report(app, cell=base), keys["peer"]).status_code == 201
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM events"))]
    assert len(rows) == 2
    for row in rows:
        row.pop("id"), row.pop("batch_id")
        assert not any(isinstance(v, float) for v in row.values())
    assert rows[0] == rows[1]
    assert not {"lon", "lat", "x", "y", "geometry", "position"} & set(rows[0])
    assert f"{rows[0]['cell_m']}:{rows[0]['cell_ix']}:{rows[0]['cell_iy']}" == base


def test_logs_carry_no_square_bucket_key_or_body(
    app: FastAPI, client: TestClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    body = report(app, count="more")
    caplog.set_level("DEBUG")
    assert send(client, body, keys["peer"], key="log-key-1").status_code == 201
    send(client, body, keys["peer"], key="log-key-1")
    send(client, report(app, lon=SECRET_NUMBER), keys["peer"])
    send(client, report(app, count="9"), keys["peer"])
    text = caplog.text
    assert "/v1/reports" in text  # the request log ran: the check below checks something
    _, ix, iy = body["cell"].split(":")
    for secret in (body["cell"], ix, iy, body["bucket"], "log-key-1", "54.768", "stairwell"):
        assert secret not in text
    token = keys["peer"]["Authorization"].split()[1]
    assert token not in text


def test_a_report_raises_the_data_version_and_a_refusal_does_not(
    app: FastAPI, client: TestClient, keys: Keys, store: SqlStore
) -> None:
    """Caches key on the data version: a report must move it, like any batch of events."""
    program = store.program_id("town") or 0
    before = store.data_version(program)
    assert send(client, report(app, count="1"), keys["peer"]).status_code == 201
    after = store.data_version(program)
    assert after > before
    assert send(client, report(app, count="9"), keys["peer"]).status_code == 422
    assert store.data_version(program) == after
    # Peers still read no event: a report reaches them only through a release.
    assert client.get("/v1/events", headers=keys["peer"]).status_code == 403


# -- PostgreSQL: the same answers, and still exactly once under concurrent posts ----------


@pytest.fixture
def postgres_app() -> Any:
    import os

    from geo_service.main import create_app
    from geo_service.settings import Settings
    from tests.conftest import fresh_postgres_database

    server = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    with fresh_postgres_database(server) as url:
        yield create_app(Settings(database_url=url))


@pytest.mark.postgres
def test_postgres_stores_each_type_once_under_concurrent_posts(postgres_app: FastAPI) -> None:
    from geo_service.auth import Role, create_key
    from tests.conftest import bearer

    with TestClient(postgres_app) as client:
        store = postgres_app.state.store
        keys = {r.value: bearer(create_key(store, program="town", role=r)[1]) for r in Role}
        assert concurrent_posts(client, report(postgres_app), keys["peer"]) == 1
        for kind in list(EXPECTED)[1:]:
            assert send(client, report(postgres_app, kind), keys["peer"]).status_code == 201
        found = problem(send(client, report(postgres_app, lon=SECRET_NUMBER), keys["peer"]), 422)
        assert found["code"] == "position_refused"
        rows = stored(client, keys)
        assert sorted(r["kind"] for r in rows) == sorted(e["kind"] for e in EXPECTED.values())
        for row in rows:
            expected = next(e for e in EXPECTED.values() if e["kind"] == row["kind"])
            assert {k: row.get(k) for k in expected} == expected


def test_a_stewards_export_carries_every_answer_of_a_report(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    """The program's whole record: what only a phone report holds comes out too."""
    import csv
    import io

    for kind in EXPECTED:
        assert send(client, report(app, kind), keys["peer"]).status_code == 201
    table = client.get("/v1/export?format=csv", headers=keys["steward"])
    assert table.status_code == 200, table.text
    rows = {r["kind"]: r for r in csv.DictReader(io.StringIO(table.text))}
    assert rows["needle_report"]["picked_up"] == "true"
    assert rows["cleanup"]["minutes"] == "90"
    assert rows["overdose"]["outcome"] == "hospital"
    assert rows["supplies_needed"]["supplies"] == "naloxone,sharps_bin"
    assert rows["cleanup"]["outcome"] == rows["cleanup"]["supplies"] == ""
