"""Insider attacks on the frozen releases, round 2 (DESIGN §4.4, §4.5).

Each test is an attack by someone holding a peer or planner key who can also send reports.
Two colluding keys under the default rule are stopped only by the steward's
``drop_top_keys=2`` (tests/geo_service/test_insiders.py); the README says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from analysis.projection import to_metres
from geo_service.auth import Role, create_key
from tests.conftest import bearer, feature
from tests.geo_service.test_insiders import HOT, VICTIM, store_as

Headers = dict[str, str]


def peers(app: FastAPI, n: int, role: Role = Role.PEER) -> list[Headers]:
    return [bearer(create_key(app.state.store, program="town", role=role)[1]) for _ in range(n)]


def stop_id(app: FastAPI, point: tuple[float, float]) -> str:
    """The clean-up stop id ("cell_m:ix:iy") of the 125 m cell holding a point."""
    deployment = app.state.deployment
    x, y = to_metres(np.array([point[0]]), np.array([point[1]]), crs=deployment.crs)
    ix = int(np.floor((float(x[0]) - deployment.grid.origin_x_m) / 125))
    iy = int(np.floor((float(y[0]) - deployment.grid.origin_y_m) / 125))
    return f"125:{ix}:{iy}"


def published(client: TestClient, headers: Headers, kind: str, period: str) -> Any:
    response = client.get("/v1/published", params={"kind": kind, "period": period}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# -- clean-ups: the one way a peer sends events without the history bound ---------------------


def test_a_peer_cannot_backdate_clean_ups_into_a_published_period(
    app: FastAPI, client: TestClient
) -> None:
    """Attack: POST /v1/cleanups takes any ``finished_at`` in the past. Clean-ups are events
    (kind ``cleanup``) released under the same rule, yet this route had neither the peers'
    history bound (the grace window) nor the late-row hold-back of POST /v1/events. So after
    May's clean-up layer was published, crews (here three keys, as with drop_top_keys=1 any
    three senders do) could slip May clean-ups in, watch them appear in the quarter, and pad a
    quarter's residual while knowing the month layer, i.e. choose what they add after seeing
    what was hidden. Backdated rows must be refused for peers (older than the grace window)
    and never enter a release.

    Fixed in ``cleanup.log_cleanup``: peers log clean-ups from the grace window only, no one
    beyond the retention period, and a clean-up in a released month is held back (late)."""
    crews = peers(app, 3)
    assert published(client, crews[0], "cleanup", "2025-05")["features"] == []
    stop = stop_id(app, VICTIM)
    for headers in crews:
        log = {"stops": [{"stop": stop, "needles": 1}] * 3, "finished_at": "2025-05-14T12:00:00Z"}
        response = client.post("/v1/cleanups", json=log, headers=headers)
        assert response.status_code in (201, 400, 422), response.text
    quarter = published(client, crews[0], "cleanup", "2025-Q2")
    assert quarter["features"] == []
    assert quarter["summary"]["counts"]["events_shown"] == 0


def test_a_peers_clean_up_log_is_bounded_like_its_reports(app: FastAPI, client: TestClient) -> None:
    """Attack: the same missing bound let a peer store a clean-up dated years back (a period
    nobody has asked for yet, so not even 'late'), or at a date the clock cannot hold."""
    (crew,) = peers(app, 1)
    stop = stop_id(app, VICTIM)
    for when in ("2021-03-01T12:00:00Z", "0001-01-01T00:00:00Z"):
        log = {"stops": [{"stop": stop, "needles": 1}], "finished_at": when}
        response = client.post("/v1/cleanups", json=log, headers=crew)
        assert 400 <= response.status_code < 500, response.text


def test_a_managers_backdated_clean_up_is_held_back(app: FastAPI, client: TestClient) -> None:
    """The manager may log an old clean-up (history), but once its month is published it is
    kept for managers and enters no release, the quarter made later included."""
    crews = peers(app, 3, Role.MANAGER)
    assert published(client, crews[0], "cleanup", "2025-05")["features"] == []
    for headers in crews:
        log = {
            "stops": [{"stop": stop_id(app, VICTIM), "needles": 1}] * 3,
            "finished_at": "2025-05-14T12:00:00Z",
        }
        response = client.post("/v1/cleanups", json=log, headers=headers)
        assert response.status_code == 201, response.text
        assert [n["code"] for n in response.json()["held_back"]] == ["period_already_published"] * 3
    assert published(client, crews[0], "cleanup", "2025-Q2")["features"] == []


# -- the release-wide hour profile ------------------------------------------------------------


def one_square_town(app: FastAPI, program: str, victim_hour: str) -> Headers:
    """A town whose release is one square: ten keys report there on a Wednesday noon, six on
    a Thursday evening (local time), and the victim once at ``victim_hour``. Returns a
    planner's key."""
    store = app.state.store
    for n in range(17):
        headers = bearer(create_key(store, program=program, role=Role.PEER)[1])
        when = (
            "2025-05-14T12:00:00-05:00"
            if n < 10
            else ("2025-05-15T18:00:00-05:00" if n < 16 else victim_hour)
        )
        store_as(app, headers, [feature(*HOT, observed_at=when)], program=program)
    return bearer(create_key(store, program=program, role=Role.PLANNER)[1])


def locker_gain(client: TestClient, headers: Headers, hours: str) -> Any:
    ask = {"p": 1, "period": "2025-05", "kinds": ["needle_report"], "opening_hours": hours}
    response = client.post("/v1/siting/lockers", json=ask, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    return answer["chosen"][0]["adds"], answer["coverage_after"], answer["by_hour"]


def test_locker_hours_do_not_reveal_when_one_person_reported(
    app: FastAPI, client: TestClient
) -> None:
    """Attack: the release's hour-of-week profile weighs every released cell in coverage and
    siting. A new locker's gain is (reports it reaches) × (profile share of its open hours),
    shown to three decimals, so asking with and without one hour gives that hour's count
    exactly. In a release of one square (common for a small town's month) the profile is
    that square's hours: a planner learned that exactly one report in that square was made
    on a Tuesday at 03:00 (a count of 1 in a place and hour: one person's report). Two towns
    that differ only in the victim's hour must get the same answers.

    Fixed in ``releases.making._hour_profile``: an hour-of-week slot is shown only where the cell
    rule holds for it; the rest are pooled (under the same rule) and spread over the week."""
    tuesday = one_square_town(app, "tue", "2025-05-13T03:00:00-05:00")
    friday = one_square_town(app, "fri", "2025-05-16T20:00:00-05:00")
    for hours in ("We 12:00-13:00", "We 12:00-13:00; Tu 03:00-04:00", "Tu 03:00-04:00", "24/7"):
        assert locker_gain(client, tuesday, hours) == locker_gain(client, friday, hours), hours


# -- one period, one release ------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["2025-05\n", "\uff12\uff10\uff12\uff15-05"])
def test_a_period_has_one_spelling_so_it_has_one_release(
    app: FastAPI, client: TestClient, spelling: str
) -> None:
    """Attack: the period pattern ended in ``$``, which also matches before a final newline,
    and its ``\\d`` took any Unicode digit (full-width ２０２５), so ``2025-05%0A`` or
    ``２０２５-05`` was accepted as a period of its own: its own frozen release, stored under
    another label. Late rows are held back by the canonical label only, so history a manager
    sends after that first release is not held back, and the canonical month, asked for
    later, releases it: two releases of one month, and their difference shows a count that
    was hidden in the first (here five reports in a quiet square)."""
    reporters = peers(app, 5)  # five keys, one report each: 4 remain without one, hidden
    for headers in reporters:
        store_as(app, headers, [feature(*VICTIM, observed_at="2025-05-14T12:00:00Z")])
    (manager,) = peers(app, 1, Role.MANAGER)
    spelled = client.get(
        "/v1/published",
        params={"kind": "needle_report", "period": spelling},
        headers=reporters[0],
    )
    if spelled.status_code != 200:  # refused: a period has one spelling, so one release
        assert spelled.status_code in (400, 422), spelled.text
        return
    history = [feature(*VICTIM, observed_at="2025-05-20T12:00:00Z")]
    response = client.post(
        "/v1/events", json={"type": "FeatureCollection", "features": history}, headers=manager
    )
    assert response.status_code == 201, response.text
    canonical = published(client, reporters[0], "needle_report", "2025-05")
    assert canonical["features"] == spelled.json()["features"] == []


# -- a batch racing the release -----------------------------------------------------------------


def test_a_batch_racing_its_months_release_enters_no_release(
    app: FastAPI, client: TestClient
) -> None:
    """Attack (a race): a peer sends reports dated in the last hours of the month just as
    the grace window ends. ``hold_back_late`` runs before the write; if the month's release
    is made between the check and the commit, the rows are stored as not late: the frozen
    month never saw them, yet the quarter made later releases them, so reports arriving after
    a month was published still reach a number peers see. Simulated here by making the
    release between the check and the write, as a second worker would.

    Fixed in ``releases``: a month's release keeps the largest event row id it read
    (``read_to``), and its quarter reads that month's rows only as far.
    (Row ids follow commit order on SQLite; on PostgreSQL a sequence does not quite.)"""
    import time as clock
    import uuid

    import pandas as pd

    from geo_service.ingest.event_input import events_from_geojson
    from geo_service.ingest.events import validate_events
    from geo_service.periods import parse_period
    from geo_service.services.releases import get_release, hold_back_late
    from geo_service.settings import EventKind
    from geo_service.storage import BatchRecord
    from tests.conftest import collection
    from tests.geo_service.test_insiders import key_id

    store, deployment = app.state.store, app.state.deployment
    program_id = store.get_or_create_program("town")
    crews = peers(app, 3)
    checked = []
    for headers in crews:  # validated and checked at 2025-06-07 23:59 local: still open
        rows = [feature(*VICTIM, observed_at="2025-05-31T23:59:30-05:00") for _ in range(3)]
        batch = validate_events(
            events_from_geojson(collection(*rows), max_rows=100),
            deployment,
            now=pd.Timestamp("2025-06-08T04:59:00Z"),
            history_days=7,
        )
        assert not batch.rejected
        checked.append((headers, hold_back_late(store, deployment, program_id, batch)[0]))
    get_release(
        store, deployment, app.state.settings, program_id=program_id,
        kind=EventKind.NEEDLE_REPORT, period=parse_period("2025-05", deployment), now=clock.time(),
    )  # fmt: skip
    for headers, batch in checked:  # the writes commit after the release was made
        record = BatchRecord(
            uuid.uuid4().hex, program_id, key_id(store, headers), "events", None, "x", "2025-06-08"
        )
        store.store_events(record, batch.rows)
    assert published(client, crews[0], "needle_report", "2025-05")["features"] == []
    assert published(client, crews[0], "needle_report", "2025-Q2")["features"] == []


# -- clean-up routes: "last cleaned" is the one live number -----------------------------------


def route_stops(app: FastAPI, client: TestClient, program: str, cleaned_at: str) -> Any:
    """A peer's clean-up route over a one-square release, after a clean-up of that square
    logged at ``cleaned_at``: each stop's properties."""
    store = app.state.store
    for _ in range(6):
        headers = bearer(create_key(store, program=program, role=Role.PEER)[1])
        store_as(app, headers, [feature(*HOT, observed_at="2025-05-14T12:00:00Z")], program)
    crew = bearer(create_key(store, program=program, role=Role.PEER)[1])
    log = {"stops": [{"stop": stop_id(app, HOT), "needles": 2}], "finished_at": cleaned_at}
    assert client.post("/v1/cleanups", json=log, headers=crew).status_code == 201
    ask = {"budget_minutes": 120, "start": {"lon": HOT[0], "lat": HOT[1]}, "period": "2025-05"}
    response = client.post("/v1/routes/cleanup", json=ask, headers=crew)
    assert response.status_code == 200, response.text
    stops = [
        f["properties"] for f in response.json()["features"] if f["properties"]["kind"] == "stop"
    ]
    assert stops
    return stops


def test_a_clean_up_route_tells_the_day_of_the_last_clean_up_not_its_hour(
    app: FastAPI, client: TestClient
) -> None:
    """Attack: the documented exception is that a route says how many *days* ago a released
    square was last cleaned. But the stop's ``value`` and ``expected_needles`` were the
    reported rate times the exact fractional days since the clean-up's hour, to two decimals:
    a peer read the hour a crew member logged a clean-up (even one the clean-up layer hides,
    being under k) and, polling, the moment it arrived. Two clean-ups on the same local day
    must give the same route.

    Fixed in ``cleanup._last_cleaned``: whole local days between the clean-up's date and
    today's."""
    import datetime as dt

    tz = app.state.deployment.tz
    yesterday = dt.datetime.now(tz).date() - dt.timedelta(days=1)
    early = dt.datetime.combine(yesterday, dt.time(1, 30), tz).isoformat()
    late = dt.datetime.combine(yesterday, dt.time(21, 30), tz).isoformat()
    assert route_stops(app, client, "early", early) == route_stops(app, client, "late", late)
