"""PostGIS squares of the cell months (issue 20): each a cell's square in its program's
projected CRS, indexed with GiST, and a layer a GIS analyst can open in QGIS. Also: the
migrated ``cell_months`` is the declared one, on both databases, apart from PostGIS's column."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from analysis.grid import Grid, cell_centres
from geo_service.storage.schema import metadata
from geo_service.storage.sql import SqlStore, open_store
from geo_service.storage.sql.postgis import SQUARE_COLUMN, SQUARE_INDEX, SQUARE_VIEW
from tests.conftest import batch_record, fresh_postgres_database
from tests.geo_service.test_cell_months import _geography, _rows

POSTGRES = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
GRID = Grid(origin_x_m=300_000.0, origin_y_m=6_000_000.0, base_cell_m=125)


def test_the_migrated_cell_months_table_is_the_declared_one(any_store: SqlStore) -> None:
    with any_store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    touching = [d for d in diffs if "cell_months" in repr(d)]
    # PostGIS's square is not in schema.py on purpose: SQLite has no geometry type, and a
    # PostgreSQL server without PostGIS runs without it (geo_service/storage/sql/postgis.py).
    declared_elsewhere = [
        d for d in touching if f"'{SQUARE_COLUMN}'" in repr(d) or SQUARE_INDEX in repr(d)
    ]
    assert [d for d in touching if d not in declared_elsewhere] == []


@pytest.fixture
def postgis() -> Iterator[SqlStore]:
    if not POSTGRES:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    with fresh_postgres_database(POSTGRES) as url:
        store = open_store(url)
        with store.engine.connect() as conn:
            missing = not store.cell_squares(conn)
        if missing:
            store.close()
            if os.environ.get("GEO_SERVICE_REQUIRE_POSTGIS") == "1":
                pytest.fail("GEO_SERVICE_REQUIRE_POSTGIS=1 but cell_months has no PostGIS squares")
            pytest.skip("PostGIS is not installed on this PostgreSQL server")
        yield store
        store.close()


def _program_with_cells(store: SqlStore, n_x: int, n_y: int) -> int:
    program_id = store.add_program(f"squares{n_x}x{n_y}", _geography("America/Winnipeg"))
    assert program_id is not None
    gx, gy = np.meshgrid(np.arange(-(n_x // 2), n_x - n_x // 2), np.arange(n_y))
    n = gx.size
    kinds = ["needle_report" if i % 3 else "overdose" for i in range(n)]
    rows = _rows(kinds, gx.ravel().tolist(), gy.ravel().tolist(), [1_750_000_000] * n, [1] * n)
    store.store_events(batch_record("events", program_id), rows)
    return program_id


@pytest.mark.postgres
def test_each_square_is_its_cell_in_the_programs_crs(postgis: SqlStore) -> None:
    program_id = _program_with_cells(postgis, 6, 4)
    with postgis.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT cell_m, cell_ix, cell_iy, ST_Area(cell), ST_SRID(cell), "
            "ST_XMin(cell), ST_YMin(cell) FROM cell_months WHERE program_id = %(p)s",
            {"p": program_id},
        ).all()
        assert len(rows) == 24
        for size, ix, iy, area, srid, xmin, ymin in rows:
            assert area == size * size
            assert srid == 32614
            assert (xmin, ymin) == (GRID.origin_x_m + ix * size, GRID.origin_y_m + iy * size)
            x, y = cell_centres([ix], [iy], grid=GRID, cell_m=size)
            inside = conn.exec_driver_sql(
                "SELECT bool_and(ST_Contains(cell, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 32614))) "
                "FROM cell_months WHERE program_id = %(p)s AND cell_ix = %(ix)s "
                "AND cell_iy = %(iy)s AND cell_m = %(m)s",
                {
                    "x": float(x[0]),
                    "y": float(y[0]),
                    "p": program_id,
                    "ix": ix,
                    "iy": iy,
                    "m": size,
                },
            ).scalar()
            assert inside is True


@pytest.mark.postgres
def test_a_bbox_query_uses_the_gist_index(postgis: SqlStore) -> None:
    program_id = _program_with_cells(postgis, 60, 60)  # 3,600 cell months
    with postgis.engine.connect() as conn:
        indexdef = conn.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %(i)s", {"i": SQUARE_INDEX}
        ).scalar()
        assert indexdef is not None and "USING gist (cell)" in indexdef
        conn.exec_driver_sql("ANALYZE cell_months")
        conn.exec_driver_sql("SET enable_seqscan = off")
        box = "ST_MakeEnvelope(300000, 6000000, 301000, 6001000, 32614)"
        plan = "\n".join(
            r[0]
            for r in conn.exec_driver_sql(f"EXPLAIN SELECT * FROM cell_months WHERE cell && {box}")
        )
        assert SQUARE_INDEX in plan
        found = conn.exec_driver_sql(
            f"SELECT count(*) FROM cell_months WHERE program_id = %(p)s AND cell && {box}",
            {"p": program_id},
        ).scalar()
        # Cells 0..8 along x (125 m and 250 m cells touching the 1 km box, edges included).
        assert found and found > 0


@pytest.mark.postgres
def test_qgis_sees_one_typed_layer_in_wgs84(postgis: SqlStore) -> None:
    program_id = _program_with_cells(postgis, 3, 2)
    with postgis.engine.connect() as conn:
        column = conn.exec_driver_sql(
            "SELECT type, srid FROM geometry_columns WHERE f_table_name = %(v)s",
            {"v": SQUARE_VIEW},
        ).one()
        assert tuple(column) == ("POLYGON", 4326)
        rows = conn.exec_driver_sql(
            f"SELECT program, month, events, cell_m, "
            f"ST_Area(ST_Transform(square, 32614)) FROM {SQUARE_VIEW} WHERE program_id = %(p)s",
            {"p": program_id},
        ).all()
    assert len(rows) == 6
    for name, month, events, size, area in rows:
        assert name == "squares3x2" and month == "2025-06" and events == 1
        assert area == pytest.approx(size * size, rel=1e-6)


@pytest.mark.postgres
def test_squares_added_later_are_filled_for_rows_already_stored(postgis: SqlStore) -> None:
    program_id = _program_with_cells(postgis, 3, 3)
    url = postgis.engine.url.render_as_string(hide_password=False)
    with postgis.engine.begin() as conn:  # as a server that got PostGIS after the events
        conn.exec_driver_sql(f"DROP VIEW {SQUARE_VIEW}")
        conn.exec_driver_sql(f"ALTER TABLE cell_months DROP COLUMN {SQUARE_COLUMN}")
    reopened = open_store(url)
    try:
        with reopened.engine.connect() as conn:
            filled = conn.exec_driver_sql(
                "SELECT count(*), count(cell) FROM cell_months WHERE program_id = %(p)s",
                {"p": program_id},
            ).one()
        assert tuple(filled) == (9, 9)
    finally:
        reopened.close()


@pytest.mark.postgres
def test_without_postgis_the_store_works_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """A role that may not install extensions: no squares, a warning, the same answers."""
    if not POSTGRES:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    role, name = "geo_service_test_plain", f"geo_service_test_plain_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(
        sa.engine.make_url(POSTGRES).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        if conn.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").first() is None:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" OWNER {role}')
    url = sa.engine.make_url(POSTGRES).set(database=name, username=role)
    try:
        with caplog.at_level("WARNING", logger="geo_service.storage.sql.postgis"):
            store = open_store(url.render_as_string(hide_password=False))
        try:
            assert "PostGIS is not installed in this database" in caplog.text
            with store.engine.connect() as conn:
                assert not store.cell_squares(conn)
            program_id = _program_with_cells(store, 2, 2)
            found = store.event_cells(program_id, "needle_report", start=None, end=None)
            assert sum(int(g.count.sum()) for g in found) == 2  # two of four are needles
        finally:
            store.close()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()
