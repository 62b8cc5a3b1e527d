"""Reaching the database: bounded waits, one migrator at a time, start-up errors in one line."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geo_service.errors import ConfigurationError

# The advisory lock that means "a server is migrating this database".
MIGRATION_LOCK_ID = zlib.crc32(b"geo_service.migrate")


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long any database wait may last, so a partition fails fast instead of hanging."""

    connect_s: int = 5
    statement_s: float = 30.0
    pool_s: float = 5.0
    keepalive_idle_s: int = 10
    keepalive_interval_s: int = 5
    keepalive_count: int = 3


def postgres_engine(url: sa.URL, timeouts: DatabaseTimeouts, **pool: Any) -> Engine:
    """A PostgreSQL engine whose connects, statements and dead peers all time out.

    ``pool`` overrides the pool's options (the rate limiter's own small pool)."""
    statement_ms = int(timeouts.statement_s * 1000)
    # Unacknowledged data on a dead link fails after the keepalive budget, not ~15 minutes.
    user_timeout_ms = 1000 * (
        timeouts.keepalive_idle_s + timeouts.keepalive_interval_s * timeouts.keepalive_count
    )
    connect_args = {
        "connect_timeout": timeouts.connect_s,
        "options": f"-c statement_timeout={statement_ms}",
        "keepalives": 1,
        "keepalives_idle": timeouts.keepalive_idle_s,
        "keepalives_interval": timeouts.keepalive_interval_s,
        "keepalives_count": timeouts.keepalive_count,
        "tcp_user_timeout": user_timeout_ms,
    }
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_timeout": timeouts.pool_s} | pool
    return sa.create_engine(url, connect_args=connect_args, **options)


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the database's migration lock: servers starting together migrate one by one."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            # Waiting while another server migrates is fine; LOCAL: the pool gets it back reset.
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})")
                conn.rollback()
        return
    path = engine.url.database
    if not path or path == ":memory:":
        yield
        return
    lock_path = Path(f"{path}.migrate-lock")
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor closes
        yield
    finally:
        os.close(descriptor)


def _unusable_sqlite(url: sa.URL, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"cannot create or open the SQLite database {url.database}: {reason}; point "
        "GEO_SERVICE_DATABASE_URL at a writable path"
    )


def parse_database_url(database_url: str) -> sa.URL:
    try:
        return sa.engine.make_url(database_url)
    except sa.exc.ArgumentError:
        raise ConfigurationError(
            "GEO_SERVICE_DATABASE_URL is not a database URL; use sqlite:///path/to/file.sqlite3 "
            "or postgresql://user@host:5432/database"
        ) from None


# Failures that mean "this database cannot be used from here", as opposed to a bug.
_SQLITE_UNUSABLE = (
    "SQLITE_CANTOPEN",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_NOTADB",
    "SQLITE_PERM",
)
_POSTGRES_UNREACHABLE = ("08", "28", "3D", "57")  # connection, login, no such database, shutdown


def _unusable(exc: sa.exc.DBAPIError) -> bool:
    if isinstance(exc.orig, sqlite3.Error):
        return str(getattr(exc.orig, "sqlite_errorname", "")).startswith(_SQLITE_UNUSABLE)
    state = getattr(exc.orig, "sqlstate", None)
    return state is None or str(state).startswith(_POSTGRES_UNREACHABLE)


@contextmanager
def start_up_errors(url: sa.URL) -> Iterator[None]:
    """Turn an unreachable or unusable database into one clear line, not a traceback."""
    try:
        yield
    except OSError as exc:  # the SQLite file's folder or its lock file
        raise _unusable_sqlite(url, exc.strerror or type(exc).__name__) from None
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        if not _unusable(exc):
            raise
        lines = str(exc.orig).strip().splitlines()
        reason = lines[0] if lines else type(exc.orig).__name__
        if url.get_backend_name() == "sqlite":
            raise _unusable_sqlite(url, reason) from None
        where = url.set(password=None).render_as_string(hide_password=True)
        raise ConfigurationError(
            f"cannot reach the database at {where}: {reason}; check GEO_SERVICE_DATABASE_URL "
            "and that the server is up"
        ) from None
