"""Revision 0014 on a database holding events from before it (SQLite and PostgreSQL): old
rows read with no phone answers, and the downgrade drops the four columns."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from geo_service.storage.sql.database import alembic_config
from tests.conftest import fresh_postgres_database

NEW = {"picked_up", "minutes", "outcome", "supplies"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/m.sqlite3"
        return
    server = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    with fresh_postgres_database(server) as fresh:
        yield fresh


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("events")}


def test_0014_adds_the_phone_answers_empty_and_drops_them_again(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0013")
            conn.exec_driver_sql(
                "INSERT INTO programs (name, created_on) VALUES ('p', '2025-05-01')"
            )
            conn.exec_driver_sql(
                "INSERT INTO ingest_batches (id, program_id, target, fingerprint, received_on, "
                "response) VALUES ('b', 1, 'events', 'x', '2025-05-01', '{}')"
            )
            conn.exec_driver_sql(
                "INSERT INTO events (program_id, batch_id, kind, cell_m, cell_ix, cell_iy, "
                "bucket_start, bucket_hours, count) VALUES (1, 'b', 'cleanup', 125, 1, 2, 0, 1, 4)"
            )
        assert not NEW & _columns(engine)
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0014")
        with engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT count, picked_up, minutes, outcome, supplies FROM events"
            ).one()
        assert tuple(row) == (4, None, None, None, None)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0013")
        assert not NEW & _columns(engine)
    finally:
        engine.dispose()
