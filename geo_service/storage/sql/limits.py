"""Request counts and failed invite codes, shared by every worker on every host.

A request is counted with one statement (an upsert that returns the window's count), in
autocommit on PostgreSQL and with a short lock wait on SQLite: the limiter must stay cheaper
than the request it guards, and must never queue behind a long import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from geo_service.storage.connection import DatabaseTimeouts, postgres_engine
from geo_service.storage.schema import join_failures, rate_counts
from geo_service.storage.sql.engine import WRITES, SqlBase, is_locked, sqlite_engine

# How long a count waits for SQLite's write lock before the caller lets the request through
# uncounted: a request during a long import is not held up by its own rate limit. Then the
# worker counts nothing for a second (one probe a second, not one wait per request).
SQLITE_COUNT_WAIT_S = 0.05
SQLITE_BUSY_PAUSE_S = 1.0
# How long a count waits for the other counts of its worker (each well under a millisecond).
SQLITE_TURN_WAIT_S = 0.5
# PostgreSQL connections a worker keeps for counting (and as many more at a peak), and how
# long a count waits for one before its request goes ahead uncounted.
COUNTER_POOL_SIZE = 2
COUNTER_POOL_WAIT_S = 1.0

_UPSERT = (
    'ON CONFLICT (identity, "window") DO UPDATE SET hits = rate_counts.hits + 1 RETURNING hits'
)
_COUNT = sa.text(
    'INSERT INTO rate_counts (identity, "window", hits) VALUES (:identity, :window, 1) ' + _UPSERT
)
# Counts a key only while its marker says it proved valid lately; no row back otherwise.
_KNOWN = 'WHERE EXISTS (SELECT 1 FROM rate_counts WHERE identity = :marker AND "window" >= :since) '
_COUNT_KNOWN = sa.text(
    'INSERT INTO rate_counts (identity, "window", hits) SELECT :identity, :window, 1 '
    + _KNOWN
    + _UPSERT
)
# On PostgreSQL the count's commit does not wait for the disk (a crash may forget the last
# fraction of a second of counts, which is harmless): 5 ms of flush per request, otherwise.
_NO_FLUSH = "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS quick "
_PG_COUNT = sa.text(
    'INSERT INTO rate_counts (identity, "window", hits) SELECT :identity, :window, 1 '
    + _NO_FLUSH
    + _UPSERT
)
_PG_COUNT_KNOWN = sa.text(
    'INSERT INTO rate_counts (identity, "window", hits) SELECT :identity, :window, 1 '
    + _NO_FLUSH
    + _KNOWN
    + _UPSERT
)
_GIVE_BACK = sa.text(
    'UPDATE rate_counts SET hits = hits - 1 WHERE identity = :identity AND "window" = :window '
    "AND hits > 0"
)
_MARK = sa.text(
    'INSERT INTO rate_counts (identity, "window", hits) VALUES (:identity, :window, 0) '
    'ON CONFLICT (identity, "window") DO NOTHING'
)


def known_key_marker(key: str) -> str:
    """The row that says a key (``k:<digest>``) proved valid: ``v:<digest>``, no hits."""
    return "v:" + key.removeprefix("k:")


class LimitSql(SqlBase):
    def __init__(self, engine: Engine, timeouts: DatabaseTimeouts | None = None) -> None:
        super().__init__(engine, timeouts)
        self._count_engine = self._make_counter()
        # SQLite: a worker's threads take turns before they ask for the file's write lock,
        # so a burst of requests queues here briefly instead of timing out on the lock.
        self._count_turn = threading.Lock()
        self._sqlite_busy_until = 0.0  # monotonic seconds

    def _make_counter(self) -> Engine:
        """The engine counts go through. On PostgreSQL a small pool of its own, in
        autocommit and without the ping before each use: one round trip per count (a
        connection gone stale fails one count, which lets its request through). On a SQLite
        file, its own connections, whose lock wait is short."""
        url = self.engine.url
        if self.dialect == "postgresql":
            return postgres_engine(
                url,
                self.timeouts,
                isolation_level="AUTOCOMMIT",
                pool_pre_ping=False,
                pool_size=COUNTER_POOL_SIZE,
                max_overflow=COUNTER_POOL_SIZE,
                pool_timeout=COUNTER_POOL_WAIT_S,
            )
        if url.database in (None, "", ":memory:"):
            return self._writer  # an in-memory database is one per connection: share it
        counter = sqlite_engine(url, lock_wait_s=SQLITE_COUNT_WAIT_S)
        return counter.execution_options(**{WRITES: True})

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """SQLite: this worker's turn to count. While another writer (a long import) was
        found holding the file's lock within the last second, counts are skipped at once
        (their requests go ahead), so requests never queue behind it."""
        if self.dialect != "sqlite":
            yield
            return
        if time.monotonic() < self._sqlite_busy_until or not self._count_turn.acquire(
            timeout=SQLITE_TURN_WAIT_S
        ):
            raise self._busy()
        try:
            yield
        except OperationalError as exc:
            if is_locked(exc):
                self._sqlite_busy_until = time.monotonic() + SQLITE_BUSY_PAUSE_S
                raise self._busy() from None
            raise
        finally:
            self._count_turn.release()

    def _counted(self, statement: sa.TextClause, **values: Any) -> int | None:
        with self._turn(), self._count_engine.connect() as conn:
            hits = conn.execute(statement, values).scalar()
            conn.commit()
        return None if hits is None else int(hits)

    def count_request(self, identity: str, window: int) -> int:
        """Add one request to ``identity``'s window; the window's count with it."""
        statement = _PG_COUNT if self.dialect == "postgresql" else _COUNT
        hits = self._counted(statement, identity=identity, window=window)
        assert hits is not None
        return hits

    def count_known_key(self, key: str, window: int, *, known_since: int) -> int | None:
        """Add one request to a key's window if the key proved valid in a window from
        ``known_since`` on; the count with it, or None (nothing counted) if it did not."""
        return self._counted(
            _PG_COUNT_KNOWN if self.dialect == "postgresql" else _COUNT_KNOWN,
            identity=key,
            window=window,
            marker=known_key_marker(key),
            since=known_since,
        )

    def key_proved(
        self, key: str, window: int, *, address: str | None = None, address_window: int = 0
    ) -> None:
        """A key proved valid: count its request, mark it known from ``window`` on and give
        the request back to ``address`` (which was charged in ``address_window``)."""
        with self._write_counts() as conn:
            if address is not None:
                conn.execute(_GIVE_BACK, {"identity": address, "window": address_window})
            conn.execute(_COUNT, {"identity": key, "window": window})
            conn.execute(_MARK, {"identity": known_key_marker(key), "window": window})

    def forget_key(self, key: str) -> None:
        """The key did not prove valid (revoked, or a route that never checks keys): its next
        request is charged to its address again. Its counts stay."""
        with self._write_counts() as conn:
            conn.execute(
                sa.delete(rate_counts).where(rate_counts.c.identity == known_key_marker(key))
            )

    def forget_counts_before(self, window: int) -> None:
        with self._write_counts() as conn:
            conn.execute(sa.delete(rate_counts).where(rate_counts.c.window < window))

    def dispose_counter(self) -> None:
        self._count_engine.engine.dispose()

    @contextmanager
    def _write_counts(self) -> Iterator[Connection]:
        """One transaction for several count changes: on PostgreSQL a plain one (the counter
        is in autocommit), on SQLite the counter's own, with its short lock wait."""
        if self.dialect == "postgresql":
            with self.engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield conn
            return
        with self._turn(), self._count_engine.begin() as conn:
            yield conn

    # -- failed invite codes ---------------------------------------------------------------

    def add_join_failure(self, address: str, at: float, *, forget_before: float) -> None:
        """Record a wrong code from ``address`` (a digest) and forget failures that are
        older than ``forget_before``."""
        with self._write() as conn:
            conn.execute(sa.delete(join_failures).where(join_failures.c.at < forget_before))
            conn.execute(sa.insert(join_failures).values(at=at, address=address))

    def join_failure_times(
        self, address: str, since: float, *, per_address: int, overall: int
    ) -> tuple[float | None, float | None]:
        """When the ``per_address``-th latest failure of ``address``, and the ``overall``-th
        latest of anyone, happened after ``since``; None where there are fewer."""
        f = join_failures.c
        recent = sa.select(f.at).where(f.at > since).order_by(f.at.desc())
        mine = recent.where(f.address == address).offset(per_address - 1).limit(1)
        everyone = recent.offset(overall - 1).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(mine.scalar_subquery(), everyone.scalar_subquery())).one()
        return _seconds(row[0]), _seconds(row[1])


def _seconds(value: object) -> float | None:
    return None if value is None else float(str(value))
