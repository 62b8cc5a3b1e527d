"""PostGIS on PostgreSQL: each cell month's square, a GiST index and a layer for QGIS.

Outside the declared schema on purpose: SQLite has no geometry, and a PostgreSQL server
without PostGIS still runs the service (the squares are then missing, said once in the log).
Setting GEO_SERVICE_REQUIRE_POSTGIS=1 makes their absence an error in the tests.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import UserDefinedType

log = logging.getLogger(__name__)


class Geometry(UserDefinedType[object]):
    """PostGIS's geometry, named so that reflecting ``cell_months`` (alembic's schema
    comparison) knows the column instead of warning about an unknown type."""

    cache_ok = True

    def __init__(self, *typmod: object, **_: object) -> None:
        self.typmod = typmod  # reflected as ("Polygon",): kept, not enforced here

    def get_col_spec(self, **_: Any) -> str:
        return "geometry"


ischema_names.setdefault("geometry", Geometry)

SQUARE_COLUMN = "cell"
SQUARE_INDEX = "ix_cell_months_cell"
SQUARE_VIEW = "cell_month_squares"

# One layer for every program, in WGS 84 so QGIS draws programs of several projected CRSs
# together; the table's ``cell`` keeps each program's own CRS (and its SRID) for analysis.
_VIEW = f"""
CREATE OR REPLACE VIEW {SQUARE_VIEW} AS
SELECT cm.program_id, p.name AS program, cm.kind, cm.cell_m, cm.cell_ix, cm.cell_iy,
       cm.month AS month_number,
       to_char(make_date(div(cm.month, 12)::int, mod(cm.month, 12) + 1, 1), 'YYYY-MM') AS month,
       cm.events, cm.amount,
       to_timestamp(cm.first_start) AS first_start, to_timestamp(cm.last_end) AS last_end,
       ST_SRID(cm.cell) AS projected_srid,
       ST_Transform(cm.cell, 4326)::geometry(Polygon, 4326) AS square
FROM cell_months cm JOIN programs p ON p.id = cm.program_id
WHERE cm.cell IS NOT NULL
"""


def has_squares(conn: Connection) -> bool:
    """Whether ``cell_months`` carries the PostGIS squares."""
    if conn.dialect.name != "postgresql":
        return False
    found = conn.exec_driver_sql(
        "SELECT 1 FROM information_schema.columns "
        "WHERE table_name = 'cell_months' AND column_name = %(column)s "
        "AND table_schema = current_schema()",
        {"column": SQUARE_COLUMN},
    ).first()
    return found is not None


def add_squares(conn: Connection) -> bool:
    """Install PostGIS if it is available and give ``cell_months`` its squares; ``True`` if
    the column was added now (rows already stored need their squares filled)."""
    if conn.dialect.name != "postgresql" or has_squares(conn):
        return False
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    except DBAPIError:
        log.warning(
            "PostGIS is not installed in this database and could not be (the server lacks it "
            "or this role may not create it): the service works, but cell_months has no "
            "squares for GIS clients"
        )
        return False
    conn.exec_driver_sql(
        f"ALTER TABLE cell_months ADD COLUMN IF NOT EXISTS {SQUARE_COLUMN} geometry(Polygon)"
    )
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {SQUARE_INDEX} ON cell_months USING gist ({SQUARE_COLUMN})"
    )
    conn.exec_driver_sql(_VIEW)
    return True
