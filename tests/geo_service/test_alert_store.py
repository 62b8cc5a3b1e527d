"""The alert tables (revision 0015) on SQLite and PostgreSQL: the migrated schema is the one
``schema.py`` declares, the daily series adds up inside the batch's transaction, an alert is
drafted once per rule, area and day, and a draft is decided once."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from geo_service.storage.alert_records import DailyTally, NewAlert, NewAlertRule
from geo_service.storage.records import BatchRecord, EventRows
from geo_service.storage.schema import metadata
from geo_service.storage.sql import SqlStore
from tests.geo_service.alerting import REF

ALERT_TABLES = {
    "daily_counts",
    "alert_areas",
    "alert_rules",
    "alerts",
    "alert_subscribers",
    "alert_deliveries",
}


def _rows(n: int) -> EventRows:
    return EventRows(
        kind=["overdose"] * n,
        cell_m=np.full(n, 250),
        cell_ix=np.arange(n),
        cell_iy=np.zeros(n, dtype=np.int64),
        bucket_start=np.full(n, 1_700_000_000),
        bucket_hours=np.full(n, 6),
        count=np.ones(n, dtype=np.int64),
        source=[None] * n,
        fatal=[None] * n,
        naloxone_doses=[2] * n,
        place_type=[None] * n,
    )


def _tally(rows: EventRows) -> DailyTally:
    n = len(rows)
    return DailyTally(
        kind=["overdose", "overdose"],
        area=["all", "cell:1000:0:0"],
        day=["2026-11-30", "2026-11-30"],
        events=np.array([n, n]),
        amount=np.array([n, n]),
        naloxone=np.array([2 * n, 2 * n]),
    )


def _batch(program_id: int, batch_id: str) -> BatchRecord:
    return BatchRecord(
        batch_id=batch_id,
        program_id=program_id,
        key_id=None,
        target="events",
        idempotency_key=None,
        fingerprint=batch_id,
        received_on="2026-11-30",
        response={},
    )


def test_the_migrated_alert_tables_are_the_declared_ones(any_store: SqlStore) -> None:
    store = any_store
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(sa.inspect(conn).get_table_names())
    assert tables >= ALERT_TABLES
    touching = [d for d in diffs if any(name in repr(d) for name in ALERT_TABLES | {"alert_phone"})]
    assert touching == []


def test_the_daily_series_adds_up_with_its_batches(any_store: SqlStore) -> None:
    store = any_store
    program_id = store.get_or_create_program("town")
    store.store_events(_batch(program_id, "a" * 32), _rows(3), _tally)
    store.store_event_stream(_batch(program_id, "b" * 32), [_rows(2), _rows(1)], _tally)
    series = store.daily_series(program_id, "overdose", first_day="2026-11-01")
    assert [(s.area, s.day, s.events, s.naloxone) for s in series] == [
        ("all", "2026-11-30", 6, 12),
        ("cell:1000:0:0", "2026-11-30", 6, 12),
    ]
    assert store.daily_series(program_id, "overdose", first_day="2026-12-01") == []


def test_a_failed_batch_adds_nothing_to_the_series(any_store: SqlStore) -> None:
    store = any_store
    program_id = store.get_or_create_program("town")
    store.store_events(_batch(program_id, "a" * 32), _rows(1), _tally)
    tallied: list[int] = []

    def failing(rows: EventRows) -> DailyTally:
        tallied.append(len(rows))
        if len(tallied) == 2:
            raise RuntimeError("the second chunk fails")
        return _tally(rows)

    with pytest.raises(RuntimeError):
        store.store_event_stream(_batch(program_id, "b" * 32), [_rows(5), _rows(2)], failing)
    series = store.daily_series(program_id, "overdose", first_day="2026-11-01", areas=["all"])
    assert [s.events for s in series] == [1]
    assert store.count_rows(program_id)["events"] == 1


def test_an_alert_is_drafted_once_and_decided_once(any_store: SqlStore) -> None:
    store = any_store
    program_id = store.get_or_create_program("town")
    rule_id = store.add_alert_rule(
        NewAlertRule(program_id, "3 in 24h", "overdose", "count", 24, 3, "all", False, "{}", 1)
    )
    alert = NewAlert(
        program_id, rule_id, "all", "the whole town", "2026-11-30", 0, 86400, 4, None, None, 2,
        None, "drafted", 5,
    )  # fmt: skip
    first = store.draft_alert(alert)
    assert first is not None
    assert store.draft_alert(alert) is None
    sent = store.decide_alert(program_id, first, status="sent", now=9, key_id=None)
    assert sent is not None
    assert (sent.status, sent.decided_at) == ("sent", 9)
    assert store.decide_alert(program_id, first, status="dismissed", now=10, key_id=None) is None
    other = store.get_or_create_program("other")
    assert store.alert(other, first) is None
    assert store.set_poster_public(other, first, True) is False
    assert store.set_poster_public(program_id, first, True) is True
    # Its reference finds it in its own program only; its id, as text, finds nothing.
    ref = sent.ref
    assert re.fullmatch(REF, ref)
    by_ref = store.alert_by_ref(program_id, ref)
    assert by_ref is not None and (by_ref.id, by_ref.poster_public) == (first, True)
    assert store.alert_by_ref(other, ref) is None
    assert store.alert_by_ref(program_id, str(first)) is None
    store.delete_program_data(program_id)
    assert store.list_alerts(program_id) == []


def test_retention_takes_the_daily_series_with_the_events(any_store: SqlStore) -> None:
    store = any_store
    program_id = store.get_or_create_program("town")
    store.store_events(_batch(program_id, "a" * 32), _rows(2), _tally)  # day 2026-11-30
    winnipeg = ZoneInfo("America/Winnipeg")
    before = int(dt.datetime(2026, 11, 30, tzinfo=winnipeg).timestamp())
    store.roll_up_before(before, tz="America/Winnipeg", program_id=program_id)
    assert len(store.daily_series(program_id, "overdose", first_day="2000-01-01")) == 2
    after = int(dt.datetime(2026, 12, 1, tzinfo=winnipeg).timestamp())
    store.roll_up_before(after, tz="America/Winnipeg", program_id=program_id)
    assert store.daily_series(program_id, "overdose", first_day="2000-01-01") == []
