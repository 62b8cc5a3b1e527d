"""The daily series kept at ingest: equal to a pandas groupby of the stored events, local days
in the program's time zone (23:00 and the DST change days in Winnipeg), every event counted
once in "all" and once in a coarse cell, and rebuilt exactly from the events table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from analysis.grid import Grid
from analysis.projection import to_metres
from geo_service.services.alerts.areas import AlertAreas, coarse_cell_m
from geo_service.services.alerts.series import local_day_numbers, rebuild_series, tally_rows
from geo_service.storage.alert_records import PROGRAM_AREA
from tests.geo_service.alert_fixtures import (
    DAY,
    HOUR,
    NOW,
    ZONE,
    Town,
    alert_town,
    cell,
    rows,
    square_around,
    store_rows,
)


@pytest.fixture
def town(tmp_path: Path) -> Iterator[Town]:
    with alert_town(tmp_path) as opened:
        yield opened


def _name_area(town: Town, name: str, east_m: float, north_m: float, half_m: float) -> int:
    geometry = square_around(town.deployment, east_m, north_m, half_m)
    return town.store.add_alert_area(town.program_id, name, json.dumps(geometry), NOW)


def _mixed_batch(town: Town, seed: int, n: int = 300) -> None:
    rng = np.random.default_rng(seed)
    for kind in ("overdose", "needle_report"):
        where = [
            cell(town.deployment, kind, float(e), float(nn))
            for e, nn in zip(rng.uniform(-1500, 1500, n), rng.uniform(-1200, 1200, n), strict=True)
        ]
        hours = 6 if kind == "overdose" else 1
        starts = (NOW - rng.integers(0, 240, n) * HOUR) // (hours * HOUR) * (hours * HOUR)
        naloxone = [int(d) if d >= 0 else None for d in rng.integers(-1, 4, n)]
        counts = rng.integers(1, 6, n) if kind == "needle_report" else np.ones(n, dtype=int)
        store_rows(
            town,
            rows(
                kind,
                starts.tolist(),
                where,
                counts=counts.tolist(),
                naloxone=naloxone if kind == "overdose" else None,
            ),
        )


def _expected_series(town: Town) -> pd.DataFrame:
    """The series computed the slow, obvious way from the stored events."""
    events = pd.DataFrame([e.__dict__ for e in town.store.all_events(town.program_id)])
    events["day"] = (
        pd.to_datetime(events["bucket_start"], unit="s", utc=True)
        .dt.tz_convert(ZONE)
        .dt.strftime("%Y-%m-%d")
    )
    events["naloxone"] = events["naloxone_doses"].fillna(0).astype(int)
    coarse = coarse_cell_m(town.deployment.grid)
    factor = coarse // events["cell_m"]
    parts = [
        events.assign(area=PROGRAM_AREA),
        events.assign(
            area="cell:"
            + str(coarse)
            + ":"
            + (events["cell_ix"] // factor).astype(str)
            + ":"
            + (events["cell_iy"] // factor).astype(str)
        ),
    ]
    grid = town.deployment.grid
    x = grid.origin_x_m + (events["cell_ix"] + 0.5) * events["cell_m"]
    y = grid.origin_y_m + (events["cell_iy"] + 0.5) * events["cell_m"]
    for area in town.store.alert_areas(town.program_id):
        ring = np.array(json.loads(area.geometry)["coordinates"][0])
        rx, ry = to_metres(ring[:, 0], ring[:, 1], crs=town.deployment.crs)
        inside = shapely.contains_xy(shapely.Polygon(np.column_stack([rx, ry])), x, y)
        parts.append(events[inside].assign(area=f"area:{area.id}"))
    table = pd.concat(parts).assign(events=1)
    return (
        table.groupby(["kind", "area", "day"])[["events", "count", "naloxone"]]
        .sum()
        .rename(columns={"count": "amount"})
        .sort_index()
    )


def _stored_series(town: Town) -> pd.DataFrame:
    frames = []
    for kind in ("overdose", "needle_report"):
        stored = town.store.daily_series(town.program_id, kind, first_day="2000-01-01")
        frames.append(pd.DataFrame([r.__dict__ for r in stored]).assign(kind=kind))
    return pd.concat(frames).set_index(["kind", "area", "day"]).sort_index()


def test_the_series_equals_a_groupby_of_the_stored_events(town: Town) -> None:
    _name_area(town, "Lakeview", 400, -300, 600)
    _name_area(town, "Downtown", 0, 0, 400)  # overlaps Lakeview: an event may count in both
    _mixed_batch(town, seed=1)
    _mixed_batch(town, seed=2)  # a second batch adds to the same days
    expected = _expected_series(town)
    stored = _stored_series(town)[["events", "amount", "naloxone"]]
    assert len(expected) > 50
    assert {a for _, a, _ in expected.index if a.startswith("area:")} == {"area:1", "area:2"}
    pd.testing.assert_frame_equal(stored, expected, check_dtype=False)


def test_rebuild_adds_a_new_named_area_and_matches_ingest(town: Town) -> None:
    _mixed_batch(town, seed=3)
    at_ingest = _stored_series(town)
    assert rebuild_series(town.store, town.deployment, town.program_id) == len(at_ingest)
    pd.testing.assert_frame_equal(_stored_series(town), at_ingest)
    _name_area(town, "Lakeview", 400, -300, 600)
    rebuild_series(town.store, town.deployment, town.program_id)
    rebuilt = _stored_series(town)[["events", "amount", "naloxone"]]
    assert "area:1" in set(rebuilt.index.get_level_values("area"))
    pd.testing.assert_frame_equal(rebuilt, _expected_series(town), check_dtype=False)


def test_events_stored_before_the_series_existed_are_rebuilt(town: Town) -> None:
    from tests.conftest import batch_record

    where = cell(town.deployment, "overdose")
    town.store.store_events(batch_record("events", town.program_id), rows("overdose", [NOW], where))
    assert town.store.daily_series(town.program_id, "overdose", first_day="2000-01-01") == []
    rebuild_series(town.store, town.deployment, town.program_id)
    days = town.store.daily_series(town.program_id, "overdose", first_day="2000-01-01")
    assert {(d.area == PROGRAM_AREA, d.day, d.events) for d in days} == {
        (True, "2026-06-15", 1),
        (False, "2026-06-15", 1),
    }


# -- local days ---------------------------------------------------------------------------------


def _utc(text: str) -> int:
    return int(pd.Timestamp(text).timestamp())


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        ("2026-06-15T04:00:00Z", "2026-06-14"),  # 23:00 CDT: still the 14th locally
        ("2026-06-15T05:00:00Z", "2026-06-15"),  # local midnight
        ("2026-03-08T05:30:00Z", "2026-03-07"),  # 23:30 CST, the night the clocks go forward
        ("2026-03-08T23:00:00Z", "2026-03-08"),  # 18:00 CDT, the DST day's last 6-hour block
        ("2026-11-02T05:00:00Z", "2026-11-01"),  # 23:00 CST, the day the clocks go back
        ("2026-11-02T06:00:00Z", "2026-11-02"),
    ],
)
def test_local_days_in_winnipeg(town: Town, moment: str, day: str) -> None:
    assert town.deployment.timezone == ZONE
    number = local_day_numbers(np.array([_utc(moment)]), ZONE)[0]
    assert str(np.datetime64(int(number), "D")) == day
    store_rows(town, rows("overdose", [_utc(moment)], cell(town.deployment, "overdose")))
    (stored,) = town.store.daily_series(
        town.program_id, "overdose", first_day="2000-01-01", areas=[PROGRAM_AREA]
    )
    assert (stored.day, stored.events) == (day, 1)


def test_a_six_hour_bucket_counts_on_the_day_it_starts(town: Town) -> None:
    evening = _utc("2026-06-15T23:00:00Z")  # the 18:00 CDT block
    late = _utc("2026-06-16T04:00:00Z")  # a block from 23:00 CDT: it runs into the 16th
    where = cell(town.deployment, "overdose")
    store_rows(town, rows("overdose", [evening, late], where, hours=6))
    days = town.store.daily_series(
        town.program_id, "overdose", first_day="2000-01-01", areas=[PROGRAM_AREA]
    )
    assert [(d.day, d.events) for d in days] == [("2026-06-15", 2)]


# -- invariants ---------------------------------------------------------------------------------

_GRID = Grid(origin_x_m=0.0, origin_y_m=0.0, base_cell_m=125)
_AREAS = AlertAreas(_GRID, coarse_cell_m(_GRID), ())


@given(
    st.lists(
        st.tuples(
            st.sampled_from([125, 250, 500, 1000, 2000]),
            st.integers(-50, 50),
            st.integers(-50, 50),
            st.integers(1_600_000_000, 1_800_000_000),
            st.integers(1, 30),
            st.one_of(st.none(), st.integers(0, 5)),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_every_event_counts_once_in_all_and_once_in_a_coarse_cell(
    events: list[tuple[int, int, int, int, int, int | None]],
) -> None:
    n = len(events)
    table = rows(
        "needle_report",
        [e[3] for e in events],
        [(e[0], e[1], e[2]) for e in events],
        counts=[e[4] for e in events],
        naloxone=[e[5] for e in events],
    )
    tally = tally_rows(table, _AREAS, ZONE)
    area = np.array(tally.area)
    whole, cells = area == PROGRAM_AREA, np.char.startswith(area.astype(str), "cell:")
    assert whole.sum() == len(set(local_day_numbers(table.bucket_start, ZONE).tolist()))
    for column, total in (
        (tally.events, n),
        (tally.amount, sum(e[4] for e in events)),
        (tally.naloxone, sum(e[5] or 0 for e in events)),
    ):
        assert column[whole].sum() == total
        assert column[cells].sum() == total
    # A cell coarser than 1 km is its own coarse cell; finer ones roll up by floor division.
    for key in area[cells].tolist():
        assert int(key.split(":")[1]) >= 1000


def test_coarse_cells_are_the_smallest_size_of_a_square_kilometre() -> None:
    assert coarse_cell_m(Grid(0.0, 0.0, 125)) == 1000
    assert coarse_cell_m(Grid(0.0, 0.0, 100)) == 1600
    assert coarse_cell_m(Grid(0.0, 0.0, 1500)) == 1500
    areas = AlertAreas(_GRID, 1000, ())
    size, ix, iy = areas.coarse_cells([250, 250, 125], [-1, 4, 8], [3, -5, 7])
    assert (size.tolist(), ix.tolist(), iy.tolist()) == ([1000] * 3, [-1, 1, 1], [0, -2, 0])


def test_no_event_lands_on_a_day_it_did_not_start(town: Town) -> None:
    # A week of single needle reports at 23:00 local: each on its own local date.
    starts = [_utc("2026-06-01T04:00:00Z") + d * DAY for d in range(7)]
    store_rows(town, rows("needle_report", starts, cell(town.deployment, "needle_report")))
    days = town.store.daily_series(
        town.program_id, "needle_report", first_day="2000-01-01", areas=[PROGRAM_AREA]
    )
    assert [(d.day, d.events) for d in days] == [(f"2026-05-{31:02d}", 1)] + [
        (f"2026-06-{d:02d}", 1) for d in range(1, 7)
    ]


# -- every ingest path --------------------------------------------------------------------------


def test_events_phone_reports_and_cleanups_all_add_to_the_series(
    app: object, client: object, store: object, keys: dict[str, dict[str, str]]
) -> None:
    import datetime as dt
    import uuid

    from fastapi.testclient import TestClient

    from geo_service.ingest.privacy import blur_locations
    from geo_service.storage.sql import SqlStore
    from tests.conftest import TOWN, collection, feature

    assert isinstance(client, TestClient) and isinstance(store, SqlStore)
    deployment = app.state.deployment  # type: ignore[attr-defined]
    program_id = store.program_id("town") or 0
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=90)
    events = collection(feature(kind="overdose", observed_at=at.isoformat(), naloxone_doses=1))
    assert client.post("/v1/events", json=events, headers=keys["manager"]).status_code == 201
    m, ix, iy = blur_locations([TOWN[0]], [TOWN[1]], ["overdose"], deployment)
    hour = at.astimezone(deployment.tz).replace(minute=0, second=0, microsecond=0)
    phone = {
        "type": "overdose_helped",
        "cell": f"{m[0]}:{ix[0]}:{iy[0]}",
        "bucket": hour.isoformat(timespec="minutes"),
        "naloxone_doses": 2,
        "outcome": "hospital",
    }
    sent = client.post(
        "/v1/reports", json=phone, headers={**keys["peer"], "Idempotency-Key": uuid.uuid4().hex}
    )
    assert sent.status_code in (200, 201), sent.text
    c, cx, cy = blur_locations([TOWN[0]], [TOWN[1]], ["cleanup"], deployment)
    log = {"stops": [{"stop": f"{c[0]}:{cx[0]}:{cy[0]}", "needles": 7}]}
    logged = client.post("/v1/cleanups", json=log, headers=keys["peer"])
    assert logged.status_code == 201, logged.text

    def whole(kind: str) -> list[tuple[int, int, int]]:
        rows = store.daily_series(program_id, kind, first_day="2000-01-01", areas=[PROGRAM_AREA])
        return [(r.events, r.amount, r.naloxone) for r in rows]

    stored = {e.kind: e for e in store.all_events(program_id)}
    assert set(stored) == {"overdose", "cleanup"}
    assert sum(e for e, _, _ in whole("overdose")) == 2
    assert sum(n for _, _, n in whole("overdose")) == 3
    assert whole("cleanup") == [(1, 7, 0)]


def test_a_batch_of_many_chunks_is_tallied_once_with_the_same_sums(town: Town) -> None:
    from geo_service.services.alerts.series import program_tally, whole_batch_tally
    from tests.conftest import batch_record

    where = cell(town.deployment, "overdose")
    chunks = [rows("overdose", [NOW - d * DAY] * (d + 1), where) for d in range(4)]
    tally = program_tally(town.store, town.deployment, town.program_id)
    calls: list[int] = []

    def counted(chunk: object) -> object:
        calls.append(1)
        return tally(chunk)  # type: ignore[arg-type]

    once = whole_batch_tally(counted, chunks)  # type: ignore[arg-type]
    town.store.store_event_stream(batch_record("events", town.program_id), chunks, once)
    assert len(calls) == 1  # the whole batch at once, not a tally per chunk
    days = town.store.daily_series(
        town.program_id, "overdose", first_day="2000-01-01", areas=[PROGRAM_AREA]
    )
    assert [(d.day, d.events) for d in days] == [
        ("2026-06-12", 4),
        ("2026-06-13", 3),
        ("2026-06-14", 2),
        ("2026-06-15", 1),
    ]
