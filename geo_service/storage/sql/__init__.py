"""The SQLAlchemy store: SQLite by default (WAL), PostgreSQL/PostGIS for production.

``SqlStore`` is assembled from one class per aggregate; all share ``SqlBase``'s engine and
write path, so every write is one transaction that waits for SQLite's lock or says busy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from geo_service.errors import ConfigurationError
from geo_service.storage.connection import DatabaseTimeouts, parse_database_url, start_up_errors
from geo_service.storage.sql.alert_windows import AlertWindowSql
from geo_service.storage.sql.alerts import AlertSql
from geo_service.storage.sql.audit import AuditSql
from geo_service.storage.sql.batches import SECRET_META_KEY, BatchSql
from geo_service.storage.sql.database import GRID_KEY, MIGRATIONS, DatabaseSql, alembic_config
from geo_service.storage.sql.engine import (
    SQLITE_BUSY_TIMEOUT_S,
    WRITES,
    SqlBase,
    make_engine,
)
from geo_service.storage.sql.events import EventSql
from geo_service.storage.sql.geography import GeographySql
from geo_service.storage.sql.invites import InviteSql
from geo_service.storage.sql.keys import KeySql
from geo_service.storage.sql.layers import LayerSql
from geo_service.storage.sql.limits import LimitSql
from geo_service.storage.sql.networks import NetworkSql
from geo_service.storage.sql.pages import PageSql
from geo_service.storage.sql.programs import ProgramSql
from geo_service.storage.sql.releases import ReleaseSql
from geo_service.storage.sql.retention import RETENTION_ATTEMPTS, RETENTION_CHUNK_ROWS, RetentionSql
from geo_service.storage.sql.sites import SiteSql

__all__ = [
    "GRID_KEY",
    "MIGRATIONS",
    "RETENTION_ATTEMPTS",
    "RETENTION_CHUNK_ROWS",
    "SECRET_META_KEY",
    "SQLITE_BUSY_TIMEOUT_S",
    "WRITES",
    "SqlBase",
    "SqlStore",
    "alembic_config",
    "make_engine",
    "open_existing_store",
    "open_store",
]


class SqlStore(
    DatabaseSql,
    ProgramSql,
    GeographySql,
    KeySql,
    InviteSql,
    BatchSql,
    EventSql,
    RetentionSql,
    ReleaseSql,
    AuditSql,
    SiteSql,
    LayerSql,
    NetworkSql,
    AlertSql,
    AlertWindowSql,
    LimitSql,
    PageSql,
):
    """Store on any SQLAlchemy engine; dialect-specific parts are the bulk event insert."""

    def close(self) -> None:
        self.dispose_counter()
        super().close()


def open_store(
    database_url: str,
    *,
    grid_record: Mapping[str, object] | None = None,
    timeouts: DatabaseTimeouts | None = None,
) -> SqlStore:
    """Connect, bring the schema to the newest migration and check the grid parameters."""
    url = parse_database_url(database_url)
    with start_up_errors(url):
        store = SqlStore(make_engine(database_url, timeouts), timeouts)
    try:
        with start_up_errors(url):
            store.migrate(grid_record)
    except Exception:
        store.close()
        raise
    return store


def open_existing_store(database_url: str, *, timeouts: DatabaseTimeouts | None = None) -> SqlStore:
    """Open a database for reading only: it must exist and be at the newest revision.

    Nothing is created, migrated or pinned, so a read-only command changes no database."""
    url = parse_database_url(database_url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).is_file():
        raise ConfigurationError(
            f"there is no database at {url.database} yet; 'geo-service migrate' creates it"
        )
    with start_up_errors(url):
        store = SqlStore(make_engine(database_url, timeouts), timeouts)
    try:
        with start_up_errors(url):
            store.check_at_head()
    except Exception:
        store.close()
        raise
    return store
