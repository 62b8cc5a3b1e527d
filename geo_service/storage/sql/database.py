"""The database as a whole: migrations to head, the frozen grid check, ping and close."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from geo_service.errors import ConfigurationError
from geo_service.storage.connection import migration_lock
from geo_service.storage.schema import meta
from geo_service.storage.sql.cell_month_store import CellMonthSql
from geo_service.storage.sql.cell_months import COMPLETE_KEY

MIGRATIONS = Path(__file__).parent.parent / "migrations"
GRID_KEY = "grid"


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


class DatabaseSql(CellMonthSql):
    def migrate(self, grid_record: Mapping[str, object] | None = None) -> None:
        """Bring the schema to head (and check the grid), one process at a time."""
        with migration_lock(self.engine):
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":  # an index on a big table may take a while
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                # Reading the revision first spares every start at head from loading each
                # migration script (tens of milliseconds, growing with each migration).
                if MigrationContext.configure(conn).get_current_revision() != _head_revision():
                    command.upgrade(alembic_config(conn), "head")
            if grid_record is not None:
                self.check_grid(grid_record)
            self.ensure_cell_months()

    def check_at_head(self) -> None:
        """Refuse a database whose schema is older or newer than this version's."""
        with self.engine.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
        if revision != _head_revision():
            raise ConfigurationError(
                f"the database schema is at revision {revision}, this version needs "
                f"{_head_revision()}; run 'geo-service migrate' first"
            )

    def ping(self) -> str:
        """Ask the database for its schema revision; raises if it cannot answer."""
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())

    def close(self) -> None:
        self.engine.dispose()

    def check_grid(self, record: Mapping[str, object]) -> None:
        """Write the grid parameters on first start; refuse to start if they changed."""
        wanted = json.dumps(record, sort_keys=True)
        with self.engine.begin() as conn:
            stored = conn.execute(sa.select(meta.c.value).where(meta.c.key == GRID_KEY)).scalar()
            if stored is None:
                conn.execute(sa.insert(meta).values(key=GRID_KEY, value=wanted))
                # Months counted before the grid record (and its time zone) was known are
                # counted again under it.
                conn.execute(sa.delete(meta).where(meta.c.key == COMPLETE_KEY))
                return
        if stored == wanted:
            return
        old = json.loads(stored)
        changed = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
        lines = [
            f"  {k}: database has {old.get(k)!r}, settings say {record.get(k)!r}" for k in changed
        ]
        raise ConfigurationError(
            "This database was created with other grid settings, and events already stored "
            "would snap differently from new ones:\n" + "\n".join(lines) + "\n"
            "Start with the database's settings (set the GEO_SERVICE_* variables back), or point "
            "GEO_SERVICE_DATABASE_URL at a new database."
        )
