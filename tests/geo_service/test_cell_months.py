"""Per cell and local month aggregates (issue 20): kept equal to the events by every write and
delete, built for events stored before revision 0017, and read by ``event_cells`` for whole
months with the same answer as summing every event."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_service.deployment import Deployment
from geo_service.periods import parse_period
from geo_service.storage.months import local_month_numbers, month_start_s
from geo_service.storage.records import EventCells, EventRows, StoredGeography
from geo_service.storage.schema import cell_months, meta
from geo_service.storage.sql import SqlStore, open_store
from geo_service.storage.sql.cell_month_reads import whole_months
from geo_service.storage.sql.cell_months import COMPLETE_KEY
from tests.conftest import batch_record, make_settings

# Winnipeg and Paris change their clocks; Kolkata is 5:30 from UTC; Lord Howe moves by half
# an hour; Santiago's clock falls back at midnight (24:00 -> 23:00).
ZONES = ["America/Winnipeg", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe",
         "America/Santiago", "UTC"]  # fmt: skip
_NAMES = itertools.count()
SIZES = {"needle_report": 125, "overdose": 250}


def _geography(timezone: str) -> StoredGeography:
    return StoredGeography(
        area_geojson=json.dumps(
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
        ),
        projected_crs="EPSG:32614",
        timezone=timezone,
        grid_origin_x_m=300_000.0,
        grid_origin_y_m=6_000_000.0,
        grid_base_cell_m=125,
        cell_m=dict(SIZES, cleanup=125),
        bucket_hours={"needle_report": 1, "overdose": 6, "cleanup": 1},
    )


def _program(store: SqlStore, timezone: str) -> int:
    program_id = store.add_program(f"p{next(_NAMES)}", _geography(timezone))
    assert program_id is not None
    return program_id


def _rows(kinds: list[str], ix: list[int], iy: list[int], start: list[int],
          count: list[int], late: list[bool] | None = None) -> EventRows:  # fmt: skip
    n = len(kinds)
    return EventRows(
        kind=kinds,
        cell_m=np.array([SIZES[k] for k in kinds], dtype=np.int64),
        cell_ix=np.array(ix, dtype=np.int64),
        cell_iy=np.array(iy, dtype=np.int64),
        bucket_start=np.array(start, dtype=np.int64),
        bucket_hours=np.array([1 if k == "needle_report" else 6 for k in kinds], dtype=np.int64),
        count=np.array(count, dtype=np.int64),
        source=[None] * n,
        fatal=[None] * n,
        naloxone_doses=[None] * n,
        place_type=[None] * n,
        late=None if late is None else np.array(late, dtype=bool),
    )


def _table(store: SqlStore, program_id: int) -> list[tuple[object, ...]]:
    c = cell_months.c
    columns = [c.kind, c.cell_m, c.cell_ix, c.cell_iy, c.month, c.events, c.amount,
               c.first_start, c.last_end]  # fmt: skip
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(c.program_id == program_id)).all()
    return sorted(tuple(r) for r in rows)


def _expected(store: SqlStore, program_id: int, timezone: str) -> list[tuple[object, ...]]:
    """The aggregates computed one event at a time with zoneinfo: the oracle."""
    zone = ZoneInfo(timezone)
    sums: dict[tuple[object, ...], list[int]] = {}
    for e in store.all_events(program_id):
        local = dt.datetime.fromtimestamp(e.bucket_start, zone)
        key = (e.kind, e.cell_m, e.cell_ix, e.cell_iy, local.year * 12 + local.month - 1)
        end = e.bucket_start + e.bucket_hours * 3600
        old = sums.get(key, [0, 0, e.bucket_start, end])
        sums[key] = [old[0] + 1, old[1] + e.count, min(old[2], e.bucket_start), max(old[3], end)]
    return sorted((*k, *v) for k, v in sums.items())


def _cells(found: list[EventCells]) -> dict[tuple[int, int, int], tuple[int, int, int]]:
    return {
        (g.cell_m, int(x), int(y)): (int(n), int(a), int(b))
        for g in found
        for x, y, n, a, b in zip(g.ix, g.iy, g.count, g.first_start, g.last_end, strict=True)
    }


def _both_ways(
    store: SqlStore, program_id: int, kind: str, start: int | None, end: int | None
) -> tuple[dict[tuple[int, int, int], tuple[int, int, int]], ...]:
    fast = store.event_cells(program_id, kind, start=start, end=end)
    store.read_cell_months = False
    try:
        raw = store.event_cells(program_id, kind, start=start, end=end)
    finally:
        store.read_cell_months = True
    return _cells(fast), _cells(raw)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp())


def test_a_report_late_on_the_last_evening_of_may_counts_in_may_in_winnipeg(
    any_store: SqlStore,
) -> None:
    store = any_store
    program_id = _program(store, "America/Winnipeg")
    may_31_2330 = _utc(2025, 6, 1, 4, 30)  # 23:30 CDT on 31 May
    rows = _rows(["needle_report"] * 3, [5, 5, 6], [7, 7, 7],
                 [may_31_2330, _utc(2025, 6, 1, 5, 0), may_31_2330], [4, 2, 1])  # fmt: skip
    store.store_events(batch_record("events", program_id), rows)
    may, june = 2025 * 12 + 4, 2025 * 12 + 5
    hour = 3600
    assert _table(store, program_id) == [
        ("needle_report", 125, 5, 7, may, 1, 4, may_31_2330, may_31_2330 + hour),
        ("needle_report", 125, 5, 7, june, 1, 2, may_31_2330 + 1800, may_31_2330 + 1800 + hour),
        ("needle_report", 125, 6, 7, may, 1, 1, may_31_2330, may_31_2330 + hour),
    ]


def test_month_starts_follow_the_local_clock() -> None:
    # Winnipeg: CDT (UTC-5) in June, CST (UTC-6) in December.
    assert month_start_s(2025 * 12 + 5, "America/Winnipeg") == (_utc(2025, 6, 1, 5),) * 2
    assert month_start_s(2025 * 12 + 11, "America/Winnipeg") == (_utc(2025, 12, 1, 6),) * 2
    # Santiago fell back at 24:00 on Saturday 1 April 2023 (-03 -> -04): its April began
    # once, at 03:00 UTC; its March's last hour came twice.
    april = month_start_s(2023 * 12 + 3, "America/Santiago")
    assert april[0] == april[1]
    assert local_month_numbers(np.array([april[0] - 1, april[0]]), "America/Santiago").tolist() == [
        2023 * 12 + 2,
        2023 * 12 + 3,
    ]


# Instants near local month edges: a month's start in some zone, give or take hours.
_EDGES = [month_start_s(2025 * 12 + m, z)[0] for m in range(0, 5) for z in ZONES]
instants = st.builds(
    lambda edge, hours: edge + hours * 1800,
    st.sampled_from(_EDGES),
    st.integers(min_value=-60, max_value=60),
)
events = st.lists(
    st.tuples(
        st.sampled_from(["needle_report", "overdose"]),
        st.integers(0, 3),
        st.integers(0, 2),
        instants,
        st.integers(1, 5),
        st.booleans(),
    ),
    min_size=1,
    max_size=40,
)
window_ends = st.one_of(st.none(), instants, st.sampled_from(_EDGES))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    zone=st.sampled_from(ZONES),
    batches=st.lists(events, min_size=1, max_size=3),
    start=window_ends,
    end=window_ends,
)
def test_aggregates_give_the_events_answer(
    any_store: SqlStore,
    zone: str,
    batches: list[list[tuple[str, int, int, int, int, bool]]],
    start: int | None,
    end: int | None,
) -> None:
    store = any_store
    program_id = _program(store, zone)
    for batch in batches:
        kinds, ix, iy, starts, count, late = (list(c) for c in zip(*batch, strict=True))
        store.store_events(
            batch_record("events", program_id), _rows(kinds, ix, iy, starts, count, late)
        )
    assert _table(store, program_id) == _expected(store, program_id, zone)
    for kind in SIZES:
        fast, raw = _both_ways(store, program_id, kind, start, end)
        assert fast == raw
    # A whole year: every month from the aggregates, nothing raw.
    fast, raw = _both_ways(store, program_id, "needle_report", _EDGES[0] - 86400 * 40, None)
    assert fast == raw


def test_whole_months_are_read_from_the_aggregates(any_store: SqlStore) -> None:
    """Proof the aggregates are read: change one and the answer follows it."""
    store = any_store
    program_id = _program(store, "America/Winnipeg")
    june = month_start_s(2025 * 12 + 5, "America/Winnipeg")[0]
    rows = _rows(["needle_report"] * 2, [1, 2], [1, 1], [june + 3600, june + 86400 * 20], [3, 4])
    store.store_events(batch_record("events", program_id), rows)
    with store.engine.begin() as conn:
        conn.execute(sa.update(cell_months).values(amount=cell_months.c.amount * 100))
    july = month_start_s(2025 * 12 + 6, "America/Winnipeg")[0]
    fast, raw = _both_ways(store, program_id, "needle_report", june, july)
    assert {k: v[0] for k, v in fast.items()} == {(125, 1, 1): 300, (125, 2, 1): 400}
    assert {k: v[0] for k, v in raw.items()} == {(125, 1, 1): 3, (125, 2, 1): 4}
    # A window short of a month reads the events.
    fast, raw = _both_ways(store, program_id, "needle_report", june, july - 1)
    assert fast == raw


def _many(store: SqlStore, program_id: int, timezone: str, n: int = 300) -> None:
    rng = np.random.default_rng(7)
    first = month_start_s(2024 * 12, timezone)[0]
    starts = (first + rng.integers(0, 86400 * 400, n) // 3600 * 3600).tolist()
    kinds = ["needle_report" if k else "overdose" for k in rng.integers(0, 2, n)]
    rows = _rows(kinds, rng.integers(0, 4, n).tolist(), rng.integers(0, 4, n).tolist(), starts,
                 rng.integers(1, 9, n).tolist())  # fmt: skip
    store.store_events(batch_record("events", program_id), rows)


def test_retention_keeps_the_aggregates_equal_to_the_events(any_store: SqlStore) -> None:
    store = any_store
    zone = "Europe/Paris"
    program_id, other = _program(store, zone), _program(store, "Asia/Kolkata")
    _many(store, program_id, zone)
    _many(store, other, "Asia/Kolkata")
    cutoff = month_start_s(2024 * 12 + 6, zone)[0] + 86400 * 9 + 3600 * 5  # mid-month
    store.roll_up_before(cutoff, tz=zone, chunk_rows=37, program_id=program_id)
    assert _table(store, program_id) == _expected(store, program_id, zone)
    assert min(e.bucket_start for e in store.all_events(program_id)) >= cutoff
    assert _table(store, other) == _expected(store, other, "Asia/Kolkata")  # untouched
    for kind in SIZES:
        fast, raw = _both_ways(store, program_id, kind, None, None)
        assert fast == raw
        fast, raw = _both_ways(store, program_id, kind, cutoff - 86400 * 60, None)
        assert fast == raw


def test_deleting_a_programs_data_deletes_its_aggregates(any_store: SqlStore) -> None:
    store = any_store
    program_id, other = _program(store, "UTC"), _program(store, "UTC")
    _many(store, program_id, "UTC", 50)
    _many(store, other, "UTC", 50)
    kept = _table(store, other)
    store.delete_program_data(program_id)
    assert _table(store, program_id) == []
    assert _table(store, other) == kept != []


@pytest.fixture
def reopenable(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/old.sqlite3"


def test_events_from_before_the_aggregates_are_counted_when_the_store_opens(
    reopenable: str,
) -> None:
    store = open_store(reopenable)
    program_id = _program(store, "America/Winnipeg")
    _many(store, program_id, "America/Winnipeg")
    built = _table(store, program_id)
    # As a database migrated from 0016: events, no aggregates, no mark of completeness.
    with store.engine.begin() as conn:
        conn.execute(sa.delete(cell_months))
        conn.execute(sa.delete(meta).where(meta.c.key == COMPLETE_KEY))
    store.close()
    store = open_store(reopenable)
    try:
        assert (
            _table(store, program_id) == built == _expected(store, program_id, "America/Winnipeg")
        )
        with store.engine.connect() as conn:
            marked = conn.execute(sa.select(meta.c.value).where(meta.c.key == COMPLETE_KEY))
            assert marked.scalar() == "complete"
    finally:
        store.close()


def test_a_grid_record_written_later_recounts_the_months(reopenable: str) -> None:
    """A program with the deployment's geography takes its time zone from the grid record:
    months counted before the record was written are counted again under its zone."""
    store = open_store(reopenable)
    program_id = store.get_or_create_program("old")  # NULL geography: the defaults
    rows = _rows(["needle_report"], [0], [0], [_utc(2025, 6, 1, 2)], [1])  # May in Winnipeg
    store.store_events(batch_record("events", program_id), rows)
    assert [r[4] for r in _table(store, program_id)] == [2025 * 12 + 4]
    store.close()
    record = {"timezone": "Europe/Paris", "projected_crs": "EPSG:32614"}
    store = open_store(reopenable, grid_record=record)
    try:
        assert [r[4] for r in _table(store, program_id)] == [2025 * 12 + 5]  # June in Paris
    finally:
        store.close()


def test_the_benchmark_switch_stops_the_upkeep(any_store: SqlStore) -> None:
    store = any_store
    program_id = _program(store, "UTC")
    store.keep_cell_months = False
    try:
        _many(store, program_id, "UTC", 20)
    finally:
        store.keep_cell_months = True
    assert _table(store, program_id) == []
    assert store.rebuild_cell_months() == 20
    assert _table(store, program_id) == _expected(store, program_id, "UTC")


@pytest.mark.parametrize("timezone", ["America/Winnipeg", "Australia/Lord_Howe"])
def test_the_trend_maps_months_and_quarters_are_read_whole(timezone: str) -> None:
    """The trends map asks for one local month at a time, a peer's period for a month or a
    quarter: each is whole months, so no event of it is read raw."""
    deployment = Deployment(make_settings(Path("/nonexistent"), timezone=timezone))
    for label, first, last in (("2025-03", 2, 2), ("2025-11", 10, 10), ("2025-Q2", 3, 5)):
        period = parse_period(label, deployment)
        months = whole_months(period.start, period.end, timezone)
        assert months is not None
        assert (months.first, months.last) == (2025 * 12 + first, 2025 * 12 + last)
        assert months.low == (period.start, period.start)
        assert months.high == (period.end, period.end)


def test_a_window_to_the_calendars_ends_reads_the_events(any_store: SqlStore) -> None:
    store = any_store
    program_id = _program(store, "America/Winnipeg")
    store.store_events(
        batch_record("events", program_id), _rows(["overdose"], [1], [1], [_utc(2025, 6, 3)], [1])
    )
    year_1 = -62135596800
    last_month_of_9999 = int(dt.datetime(9999, 12, 15, tzinfo=dt.UTC).timestamp())
    for start, end in ((year_1, None), (None, last_month_of_9999), (last_month_of_9999, None)):
        fast, raw = _both_ways(store, program_id, "overdose", start, end)
        assert fast == raw
