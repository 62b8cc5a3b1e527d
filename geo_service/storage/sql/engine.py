"""The engine and the write path every aggregate shares: SQLite's pragmas and BEGIN
IMMEDIATE, the lock back-off, StoreBusy (503) on a lock timeout, PostgreSQL's engine."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from geo_service.errors import ConfigurationError, StoreBusy
from geo_service.storage.connection import DatabaseTimeouts, postgres_engine
from geo_service.storage.schema import programs

# Execution option marking a transaction that will write: on SQLite it begins IMMEDIATE.
WRITES = "geo_service_writes"
# How long one SQLite statement waits for a lock before the writer's own back-off takes over.
SQLITE_BUSY_TIMEOUT_S = 0.5
SQLITE_BUSY, SQLITE_LOCKED = 5, 6


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
    # SQLAlchemy's recipe for pysqlite: the driver's own implicit BEGIN comes only before DML,
    # so a savepoint opened a transaction by itself and its release committed it. We begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten, not left in free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the one write lock up front, so any wait for it comes before work is done
    # and can be retried; a deferred writer could fail halfway on upgrading its lock.
    writes = conn.get_execution_options().get(WRITES, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def is_locked(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only; SQLite gives its -wal and -shm
    files the same mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def sqlite_engine(url: sa.URL, *, lock_wait_s: float) -> Engine:
    """An engine on a SQLite file whose statements wait ``lock_wait_s`` for a lock."""
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": lock_wait_s}
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def make_engine(database_url: str, timeouts: DatabaseTimeouts | None = None) -> Engine:
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            _create_private(Path(url.database))
        return sqlite_engine(url, lock_wait_s=SQLITE_BUSY_TIMEOUT_S)
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return postgres_engine(url, timeouts or DatabaseTimeouts())
    raise ConfigurationError("GEO_SERVICE_DATABASE_URL must start with sqlite:/// or postgresql://")


def compiled(
    select: sa.Select[Any], conn: Connection
) -> tuple[str, tuple[object, ...] | dict[str, object]]:
    """A select as driver SQL and parameters: plain tuples come back, not Rows."""
    statement = select.compile(dialect=conn.dialect)
    if statement.positional:  # SQLite: ?-placeholders take a tuple
        return str(statement), tuple(statement.params[n] for n in statement.positiontup or [])
    return str(statement), dict(statement.params)  # PostgreSQL: %(name)s takes a mapping


def int_table(rows: Sequence[Sequence[object]]) -> npt.NDArray[np.int64]:
    # Plain tuples first: numpy probing SQLAlchemy Row objects costs microseconds per cell.
    return np.array([tuple(row) for row in rows], dtype=np.int64)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The id an INSERT of one row made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def bump_version(conn: Connection, program_id: int) -> None:
    # Last before commit: the program row stays locked only for the commit, so batches
    # for one program insert side by side, yet the new version shows with the new rows.
    conn.execute(
        sa.update(programs)
        .where(programs.c.id == program_id)
        .values(data_version=programs.c.data_version + 1)
    )


class SqlBase:
    """An engine, and write transactions on it that wait for SQLite's lock or say busy."""

    # How long a write waits for SQLite's write lock before answering StoreBusy (503).
    write_wait_s = 10.0
    retry_after_s = 5

    def __init__(self, engine: Engine, timeouts: DatabaseTimeouts | None = None) -> None:
        self.engine = engine
        self.timeouts = timeouts or DatabaseTimeouts()
        self.dialect = engine.dialect.name
        self._writer = engine.execution_options(**{WRITES: True})

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction: committed whole at the end, or rolled back whole."""
        conn = self._begin_write()
        try:
            yield conn
            conn.commit()
        except OperationalError as exc:
            if is_locked(exc):
                raise self._busy() from None
            raise
        finally:
            conn.close()  # rolls back whatever was not committed

    def _begin_write(self) -> Connection:
        """Begin a write transaction, retrying SQLite's lock with back-off until
        ``write_wait_s`` has passed. Nothing is done before the lock is held, so a retry
        is always safe."""
        deadline = time.monotonic() + self.write_wait_s
        pause_s = 0.05
        while True:
            conn = self._writer.connect()
            try:
                conn.begin()
                return conn
            except OperationalError as exc:
                conn.close()
                left_s = deadline - time.monotonic()
                if not is_locked(exc):
                    raise
                if left_s <= 0:
                    raise self._busy() from None
            # Jitter keeps waiting writers from retrying in step.
            time.sleep(min(pause_s * random.uniform(0.5, 1.5), left_s))
            pause_s = min(pause_s * 2, 1.0)

    def _busy(self) -> StoreBusy:
        return StoreBusy(
            "the database is busy with another write (such as a long import); nothing from "
            "this request was stored. Send it again after the Retry-After delay",
            retry_after_s=self.retry_after_s,
        )
