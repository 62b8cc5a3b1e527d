"""The SQLAlchemy store: SQLite by default (WAL), PostgreSQL/PostGIS for production."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from secrets import token_hex
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from geo_service.audit import AUDIT_HEAD_KEY, chain_hash, detail_text
from geo_service.errors import ConfigurationError, Conflict, StoreBusy
from geo_service.periods import month_of_buckets
from geo_service.storage import (
    AuditEntry,
    AuditRow,
    BatchRecord,
    ContextFeature,
    EventAtoms,
    EventBuckets,
    EventCells,
    EventQuery,
    EventRows,
    KeyRecord,
    MonthlyAggregate,
    NetworkInfo,
    NetworkRows,
    ProgramPublication,
    RetentionResult,
    SiteRecord,
    StoredEvent,
    StoredRelease,
    StoredSite,
)
from geo_service.storage.connection import (
    DatabaseTimeouts,
    migration_lock,
    parse_database_url,
    postgres_engine,
    start_up_errors,
)
from geo_service.storage.schema import (
    api_keys,
    audit_log,
    batches,
    context_features,
    events,
    meta,
    monthly_aggregates,
    network_edges,
    network_nodes,
    programs,
    releases,
    sessions,
    sites,
    walking_networks,
)

MIGRATIONS = Path(__file__).parent / "migrations"
GRID_KEY = "grid"
# Keys idempotency digests; the migration that hashed older keys made it under this name.
SECRET_META_KEY = "server_secret"  # noqa: S105 (the name of a meta row)
_EVENT_COLUMNS = (
    "program_id",
    "batch_id",
    "kind",
    "cell_m",
    "cell_ix",
    "cell_iy",
    "bucket_start",
    "bucket_hours",
    "count",
    "source",
    "fatal",
    "naloxone_doses",
    "place_type",
    "late",
)


# Execution option marking a transaction that will write: on SQLite it begins IMMEDIATE.
WRITES = "geo_service_writes"
# How long one SQLite statement waits for a lock before the writer's own back-off takes over.
SQLITE_BUSY_TIMEOUT_S = 0.5
SQLITE_BUSY, SQLITE_LOCKED = 5, 6
RETENTION_CHUNK_ROWS = 10_000  # ids per DELETE: under SQLite's 32,766 bound parameters
RETENTION_ATTEMPTS = 3
_AGGREGATE_KEY = ("program_id", "kind", "month", "cell_m", "cell_ix", "cell_iy")


class _ChunkChanged(Exception):
    """A retention chunk's rows changed between reading and deleting them."""


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
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


def _is_locked(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only; SQLite gives its -wal and -shm
    files the same mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def make_engine(database_url: str, timeouts: DatabaseTimeouts | None = None) -> Engine:
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            _create_private(Path(url.database))
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return postgres_engine(url, timeouts or DatabaseTimeouts())
    raise ConfigurationError("GEO_SERVICE_DATABASE_URL must start with sqlite:/// or postgresql://")


def _compiled(select: sa.Select[Any], conn: Connection) -> tuple[str, Any]:
    """A select as driver SQL and parameters: plain tuples come back, not Rows."""
    compiled = select.compile(dialect=conn.dialect)
    if compiled.positional:  # SQLite: ?-placeholders take a tuple
        return str(compiled), tuple(compiled.params[n] for n in compiled.positiontup or [])
    return str(compiled), dict(compiled.params)  # PostgreSQL: %(name)s takes a mapping


def _int_table(rows: Sequence[Any]) -> npt.NDArray[np.int64]:
    # Plain tuples first: numpy probing SQLAlchemy Row objects costs microseconds per cell.
    return np.array([tuple(row) for row in rows], dtype=np.int64)


class SqlStore:
    """Store on any SQLAlchemy engine; dialect-specific parts are the bulk event insert."""

    # How long a write waits for SQLite's write lock before answering StoreBusy (503).
    write_wait_s = 10.0
    retry_after_s = 5

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
            if _is_locked(exc):
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
                if not _is_locked(exc):
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

    # -- lifecycle -------------------------------------------------------------------------
    def migrate(self, grid_record: dict[str, Any] | None = None) -> None:
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

    # -- programs and keys -----------------------------------------------------------------
    def program_id(self, name: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(programs.c.id).where(programs.c.name == name)).scalar()

    def get_or_create_program(self, name: str) -> int:
        found = self.program_id(name)
        if found is not None:
            return found
        try:
            with self._write() as conn:
                result = conn.execute(sa.insert(programs).values(name=name, created_on=_today()))
                return int(result.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:
            found = self.program_id(name)
            assert found is not None
            return found

    def add_key(
        self, program_id: int, role: str, key_hash: str, prefix: str, label: str | None
    ) -> int:
        with self._write() as conn:
            result = conn.execute(
                sa.insert(api_keys).values(
                    program_id=program_id,
                    role=role,
                    key_hash=key_hash,
                    prefix=prefix,
                    label=label,
                    created_on=_today(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _key_select(self) -> sa.Select[Any]:
        return sa.select(
            api_keys.c.id,
            programs.c.name,
            api_keys.c.program_id,
            api_keys.c.role,
            api_keys.c.prefix,
            api_keys.c.label,
            api_keys.c.created_on,
            api_keys.c.revoked_on,
        ).join(programs, programs.c.id == api_keys.c.program_id)

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._key_select().where(api_keys.c.key_hash == key_hash)).first()
        return KeyRecord(*row) if row else None

    def add_session(self, token_hash: str, key_id: int, expires_at: int, now: int) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(
                sa.insert(sessions).values(
                    token_hash=token_hash, key_id=key_id, expires_at=expires_at
                )
            )

    def key_by_session(self, token_hash: str, now: int) -> KeyRecord | None:
        query = (
            self._key_select()
            .join(sessions, sessions.c.key_id == api_keys.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return KeyRecord(*row) if row else None

    def end_session(self, token_hash: str) -> None:
        with self._write() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.token_hash == token_hash))

    def list_keys(self, program: str | None = None) -> list[KeyRecord]:
        query = self._key_select().order_by(api_keys.c.id)
        if program is not None:
            query = query.where(programs.c.name == program)
        with self.engine.connect() as conn:
            return [KeyRecord(*row) for row in conn.execute(query)]

    def revoke_key(self, key_id: int) -> bool:
        with self._write() as conn:
            result = conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_on.is_(None))
                .values(revoked_on=_today())
            )
            return result.rowcount == 1

    # -- batches ---------------------------------------------------------------------------
    def server_secret(self) -> str:
        """The deployment's random secret, made on first use and shared by every worker."""
        where = meta.c.key == SECRET_META_KEY
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(meta.c.value).where(where)).scalar()
        if found is not None:
            return str(found)
        try:
            with self._write() as conn:
                conn.execute(sa.insert(meta).values(key=SECRET_META_KEY, value=token_hex(32)))
        except IntegrityError:
            pass  # another worker made it first; theirs is the one
        with self.engine.connect() as conn:
            return str(conn.execute(sa.select(meta.c.value).where(where)).scalar_one())

    def find_batch(
        self, program_id: int, target: str, key_id: int | None, idempotency_key: str
    ) -> BatchRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(batches).where(
                    batches.c.program_id == program_id,
                    batches.c.target == target,
                    batches.c.key_id.is_(None) if key_id is None else batches.c.key_id == key_id,
                    batches.c.idempotency_key == idempotency_key,
                )
            ).first()
        if row is None:
            return None
        return BatchRecord(
            batch_id=row.id,
            program_id=row.program_id,
            key_id=row.key_id,
            target=row.target,
            idempotency_key=row.idempotency_key,
            fingerprint=row.fingerprint,
            received_on=row.received_on,
            response=orjson.loads(row.response),
        )

    def _insert_batch(self, conn: Connection, batch: BatchRecord) -> None:
        try:
            with conn.begin_nested():
                conn.execute(
                    sa.insert(batches).values(
                        id=batch.batch_id,
                        program_id=batch.program_id,
                        key_id=batch.key_id,
                        target=batch.target,
                        idempotency_key=batch.idempotency_key,
                        fingerprint=batch.fingerprint,
                        received_on=batch.received_on,
                        response=orjson.dumps(batch.response).decode(),
                    )
                )
        except IntegrityError:
            raise Conflict(
                "another request with this Idempotency-Key is being stored; retry shortly"
            ) from None

    def store_events(self, batch: BatchRecord, rows: EventRows) -> None:
        """Store the batch record and all its events in one transaction."""
        self.store_event_stream(batch, [rows])

    def store_event_stream(self, batch: BatchRecord, chunks: Iterable[EventRows]) -> None:
        """Like ``store_events`` for many chunks, still in one transaction."""
        with self._write() as conn:
            self._insert_batch(conn, batch)
            for rows in chunks:
                if len(rows):
                    self._bulk_insert_events(conn, batch, rows)
            self._bump_version(conn, batch.program_id)

    def _event_tuples(self, batch: BatchRecord, rows: EventRows) -> list[tuple[Any, ...]]:
        n = len(rows)
        return list(
            zip(
                [batch.program_id] * n,
                [batch.batch_id] * n,
                rows.kind,
                rows.cell_m.tolist(),
                rows.cell_ix.tolist(),
                rows.cell_iy.tolist(),
                rows.bucket_start.tolist(),
                rows.bucket_hours.tolist(),
                rows.count.tolist(),
                rows.source,
                rows.fatal,
                rows.naloxone_doses,
                rows.place_type,
                [False] * n if rows.late is None else rows.late.tolist(),
                strict=True,
            )
        )

    def _bulk_insert_events(self, conn: Connection, batch: BatchRecord, rows: EventRows) -> None:
        tuples = self._event_tuples(batch, rows)
        if self.dialect == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor:
                copy_sql = f"COPY events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN"
                with cursor.copy(copy_sql) as copy:
                    for row in tuples:
                        copy.write_row(row)
            return
        placeholders = ", ".join("?" for _ in _EVENT_COLUMNS)
        conn.exec_driver_sql(
            f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({placeholders})", tuples
        )

    def store_sites(self, batch: BatchRecord, records: list[SiteRecord]) -> None:
        with self._write() as conn:
            self._insert_batch(conn, batch)
            if records:
                conn.execute(
                    sa.insert(sites),
                    [
                        {
                            "program_id": batch.program_id,
                            "batch_id": batch.batch_id,
                            "name": s.name,
                            "site_type": s.site_type,
                            "services": " ".join(s.services),
                            "opening_hours": s.opening_hours,
                            "address": s.address,
                            "lon": s.lon,
                            "lat": s.lat,
                        }
                        for s in records
                    ],
                )

    @staticmethod
    def _bump_version(conn: Connection, program_id: int) -> None:
        # Last before commit: the program row stays locked only for the commit, so batches
        # for one program insert side by side, yet the new version shows with the new rows.
        conn.execute(
            sa.update(programs)
            .where(programs.c.id == program_id)
            .values(data_version=programs.c.data_version + 1)
        )

    # -- audit -----------------------------------------------------------------------------
    def append_audit(self, entry: AuditEntry) -> AuditRow:
        """Append a row to the hash chain, in one transaction with the head's update."""
        at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        detail = detail_text(entry.detail)
        head = meta.c.key == AUDIT_HEAD_KEY
        with self._write() as conn:
            # Lock the head row before reading it, so two writers cannot chain onto one hash.
            conn.execute(sa.update(meta).where(head).values(value=meta.c.value))
            prev = conn.execute(sa.select(meta.c.value).where(head)).scalar_one()
            digest = chain_hash(
                prev,
                at=at,
                program_id=entry.program_id,
                key_id=entry.key_id,
                actor=entry.actor,
                action=entry.action,
                detail=detail,
            )
            values = {
                "at": at,
                "program_id": entry.program_id,
                "key_id": entry.key_id,
                "actor": entry.actor,
                "action": entry.action,
                "detail": detail,
                "prev_hash": prev,
                "hash": digest,
            }
            inserted = conn.execute(sa.insert(audit_log).values(**values)).inserted_primary_key
            assert inserted is not None
            row_id = inserted[0]
            conn.execute(sa.update(meta).where(head).values(value=digest))
        return AuditRow(id=int(row_id), **values)

    def audit_rows(
        self, program_id: int | None = None, *, after_id: int = 0, limit: int | None = None
    ) -> list[AuditRow]:
        query = sa.select(audit_log).where(audit_log.c.id > after_id).order_by(audit_log.c.id)
        if program_id is not None:
            query = query.where(audit_log.c.program_id == program_id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [AuditRow(**row._mapping) for row in conn.execute(query)]

    def audit_head(self) -> str:
        with self.engine.connect() as conn:
            head = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == AUDIT_HEAD_KEY)
            ).scalar_one()
        return str(head)

    # -- retention and export --------------------------------------------------------------
    def roll_up_before(
        self, cutoff: int, *, tz: str, chunk_rows: int = RETENTION_CHUNK_ROWS
    ) -> RetentionResult:
        """Fold events whose bucket starts before ``cutoff`` into monthly aggregates and
        delete them (DESIGN §4.7), a chunk at a time: each chunk's rows are folded and then
        deleted by their ids in one transaction, so only counted rows go. Events stored
        after the run began wait for the next run, so a busy ingest cannot keep it going."""
        with self.engine.connect() as conn:
            last_id = conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
        span = (0, int(last_id))
        removed, touched = 0, set[tuple[Any, ...]]()
        while True:
            chunk = self._roll_up_chunk(cutoff, tz=tz, span=span, limit=chunk_rows)
            if chunk is None:
                return RetentionResult(removed, len(touched))
            after_id, deleted, keys = chunk
            span = (after_id, span[1])
            removed += deleted
            touched |= keys

    def _roll_up_chunk(
        self, cutoff: int, *, tz: str, span: tuple[int, int], limit: int
    ) -> tuple[int, int, set[tuple[Any, ...]]] | None:
        for _ in range(RETENTION_ATTEMPTS):
            try:
                return self._fold_and_delete(cutoff, tz=tz, span=span, limit=limit)
            except _ChunkChanged:
                continue  # rolled back; the next attempt reads the chunk afresh
        raise RuntimeError("retention: events kept changing under one chunk; run it again")

    def _fold_and_delete(
        self, cutoff: int, *, tz: str, span: tuple[int, int], limit: int
    ) -> tuple[int, int, set[tuple[Any, ...]]] | None:
        """Fold and delete the oldest-id ``limit`` old events with ids in ``span``
        (exclusive, inclusive); ``None`` once there are none."""
        c = events.c
        with self._write() as conn:
            rows = conn.execute(
                sa.select(
                    c.id, c.program_id, c.kind, c.cell_m, c.cell_ix, c.cell_iy, c.bucket_start,
                    c.count,
                )
                .where(c.bucket_start < cutoff, c.id > span[0], c.id <= span[1])
                .order_by(c.id)
                .limit(limit)
            ).all()  # fmt: skip
            if not rows:
                return None
            frame = pd.DataFrame(
                rows,
                columns=["id", "program_id", "kind", "cell_m", "cell_ix", "cell_iy", "start",
                         "count"],
            )  # fmt: skip
            keys = self._fold(conn, frame, tz=tz)
            ids = frame["id"].tolist()
            removed = conn.execute(sa.delete(events).where(c.id.in_(ids))).rowcount
            if removed != len(ids):
                raise _ChunkChanged  # someone deleted some of them meanwhile: roll back
            for program_id in frame["program_id"].unique().tolist():
                self._bump_version(conn, int(program_id))
        return int(ids[-1]), int(removed), keys

    @staticmethod
    def _fold(conn: Connection, frame: pd.DataFrame, *, tz: str) -> set[tuple[Any, ...]]:
        """Add a chunk's counts to the monthly aggregates (one UPDATE and one INSERT for
        all rows, not a statement per cell); returns the aggregate keys it touched."""
        frame = frame.assign(month=month_of_buckets(frame["start"].to_numpy(), tz))
        summed = frame.groupby(list(_AGGREGATE_KEY), as_index=False).agg(n=("count", "sum"))
        sums = {
            (int(p), str(kind), str(month), int(m), int(x), int(y)): int(n)
            for p, kind, month, m, x, y, n in summed.itertuples(index=False)
        }
        a = monthly_aggregates.c
        existing = {
            tuple(row)
            for row in conn.execute(
                sa.select(*(a[name] for name in _AGGREGATE_KEY)).where(
                    a.program_id.in_(summed["program_id"].unique().tolist()),
                    a.month.in_(summed["month"].unique().tolist()),
                )
            )
        }
        rows = [dict(zip(_AGGREGATE_KEY, key, strict=True)) | {"n": n} for key, n in sums.items()]
        old = [r for r, key in zip(rows, sums, strict=True) if key in existing]
        new = [r for r, key in zip(rows, sums, strict=True) if key not in existing]
        if old:
            conn.execute(
                sa.update(monthly_aggregates)
                .where(*(a[name] == sa.bindparam(f"key_{name}") for name in _AGGREGATE_KEY))
                .values(count=a.count + sa.bindparam("n")),
                [{f"key_{k}": v for k, v in r.items() if k != "n"} | {"n": r["n"]} for r in old],
            )
        if new:
            conn.execute(
                sa.insert(monthly_aggregates),
                [{k: v for k, v in r.items() if k != "n"} | {"count": r["n"]} for r in new],
            )
        return set(sums)

    def aggregates(self, program_id: int) -> list[MonthlyAggregate]:
        a = monthly_aggregates.c
        query = (
            sa.select(monthly_aggregates)
            .where(a.program_id == program_id)
            .order_by(a.month, a.kind, a.cell_iy, a.cell_ix)
        )
        with self.engine.connect() as conn:
            return [MonthlyAggregate(**row._mapping) for row in conn.execute(query)]

    def all_events(self, program_id: int) -> list[StoredEvent]:
        return self.query_events(
            EventQuery(program_id=program_id, limit=2**62), grid_origin=(0.0, 0.0)
        )

    # -- publication -----------------------------------------------------------------------
    def publication(self, program_id: int) -> ProgramPublication:
        c = programs.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    c.k_peer, c.k_planner, c.k_public, c.public_enabled, c.bucket, c.grace_days,
                    c.drop_top_keys,
                ).where(c.id == program_id)
            ).one()  # fmt: skip
        return ProgramPublication(**row._mapping)

    def set_publication(self, program_id: int, choice: ProgramPublication) -> None:
        with self._write() as conn:
            conn.execute(
                sa.update(programs)
                .where(programs.c.id == program_id)
                .values(
                    k_peer=choice.k_peer,
                    k_planner=choice.k_planner,
                    k_public=choice.k_public,
                    public_enabled=choice.public_enabled,
                    bucket=choice.bucket,
                    grace_days=choice.grace_days,
                    drop_top_keys=choice.drop_top_keys,
                    data_version=programs.c.data_version + 1,  # cached layers are now stale
                )
            )

    def event_atoms(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventAtoms]:
        """A period's reports with their reporting key, late rows left out; rows imported
        without a key each count as their own reporter (they come from many reports)."""
        c = events.c
        where = [c.program_id == program_id, c.kind == kind, c.late == sa.false()]
        if start is not None:
            where.append(c.bucket_start >= start)
        if end is not None:
            where.append(c.bucket_start < end)
        # Plain rows (the caller groups them in numpy, faster than SQLite's GROUP BY), with the
        # submitting key looked up per batch rather than joined per event.
        select = sa.select(
            c.cell_m, c.cell_ix, c.cell_iy, c.bucket_start, c.id, c.count, c.bucket_hours,
            c.batch_id,
        ).where(*where)  # fmt: skip
        with self.engine.connect() as conn:
            keys = dict(
                conn.execute(
                    sa.select(batches.c.id, batches.c.key_id).where(
                        batches.c.program_id == program_id
                    )
                ).all()
            )
            result = conn.exec_driver_sql(*_compiled(select, conn))
            rows = result.fetchall()
        if not rows:
            return []
        batch_ids = [row[7] for row in rows]
        key_of_batch = np.array([keys.get(b) or 0 for b in batch_ids], dtype=np.int64)
        table = np.array([row[:7] for row in rows], dtype=np.int64)
        row_id = table[:, 4].copy()
        # A key-less (imported) row counts as its own reporter: a unique negative id.
        table[:, 4] = np.where(key_of_batch > 0, key_of_batch, -table[:, 4])
        out = []
        for size in np.unique(table[:, 0]):
            pick = table[:, 0] == size
            p = table[pick]
            out.append(
                EventAtoms(
                    int(size), p[:, 1], p[:, 2], p[:, 3], p[:, 4], p[:, 5], p[:, 6], row_id[pick]
                )
            )
        return out

    def release(self, program_id: int, kind: str, period: str) -> StoredRelease | None:
        r = releases.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(r.kind, r.period, r.made_on, r.rule, r.body, r.content_hash).where(
                    r.program_id == program_id, r.kind == kind, r.period == period
                )
            ).first()
        return StoredRelease(*row) if row else None

    def add_release(self, program_id: int, release: StoredRelease) -> bool:
        """Store a release once; False if another worker stored this period's first."""
        try:
            with self._write() as conn:
                conn.execute(sa.insert(releases).values(program_id=program_id, **vars(release)))
        except IntegrityError:
            return False
        return True

    def released_periods(self, program_id: int) -> set[tuple[str, str]]:
        r = releases.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r.kind, r.period).where(r.program_id == program_id))
            return {(str(kind), str(period)) for kind, period in rows}

    # -- reads -----------------------------------------------------------------------------
    def data_version(self, program_id: int) -> int:
        with self.engine.connect() as conn:
            version = conn.execute(
                sa.select(programs.c.data_version).where(programs.c.id == program_id)
            ).scalar()
        return int(version or 0)

    def event_cells(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventCells]:
        """Events of one kind in a window, summed per cell by the database."""
        c = events.c
        bucket_end = c.bucket_start + c.bucket_hours * 3600
        where = [c.program_id == program_id, c.kind == kind]
        if start is not None:
            where.append(bucket_end > start)
        if end is not None:
            where.append(c.bucket_start < end)
        select = (
            sa.select(
                c.cell_m,
                c.cell_ix,
                c.cell_iy,
                sa.func.sum(c.count),
                sa.func.min(c.bucket_start),
                sa.func.max(bucket_end),
            )
            .where(*where)
            .group_by(c.cell_m, c.cell_ix, c.cell_iy)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(select).all()
        if not rows:
            return []
        table = _int_table(rows)
        return [
            EventCells(
                cell_m=int(size),
                ix=table[table[:, 0] == size, 1],
                iy=table[table[:, 0] == size, 2],
                count=table[table[:, 0] == size, 3],
                first_start=table[table[:, 0] == size, 4],
                last_end=table[table[:, 0] == size, 5],
            )
            for size in np.unique(table[:, 0])
        ]

    def query_events(
        self, query: EventQuery, *, grid_origin: tuple[float, float]
    ) -> list[StoredEvent]:
        c = events.c
        where = [c.program_id == query.program_id, c.id > query.after_id]
        if query.kinds:
            where.append(c.kind.in_(query.kinds))
        if query.start is not None:
            where.append(c.bucket_start + c.bucket_hours * 3600 > query.start)
        if query.end is not None:
            where.append(c.bucket_start < query.end)
        if query.envelope_m is not None:
            xmin, ymin, xmax, ymax = query.envelope_m
            ox, oy = grid_origin
            where += [
                (c.cell_ix + 1) * c.cell_m > xmin - ox,
                c.cell_ix * c.cell_m < xmax - ox,
                (c.cell_iy + 1) * c.cell_m > ymin - oy,
                c.cell_iy * c.cell_m < ymax - oy,
            ]
        select = (
            sa.select(
                c.id,
                c.batch_id,
                c.kind,
                c.cell_m,
                c.cell_ix,
                c.cell_iy,
                c.bucket_start,
                c.bucket_hours,
                c.count,
                c.source,
                c.fatal,
                c.naloxone_doses,
                c.place_type,
            )
            .where(*where)
            .order_by(c.id)
            .limit(query.limit)
        )
        with self.engine.connect() as conn:
            return [StoredEvent(**row._mapping) for row in conn.execute(select)]

    def list_sites(self, program_id: int) -> list[StoredSite]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(sites).where(sites.c.program_id == program_id).order_by(sites.c.id)
            )
            return [
                StoredSite(
                    id=r.id,
                    name=r.name,
                    site_type=r.site_type,
                    services=tuple(r.services.split()),
                    opening_hours=r.opening_hours,
                    address=r.address,
                    lon=r.lon,
                    lat=r.lat,
                )
                for r in rows
            ]

    def store_context(
        self,
        program_id: int,
        features: list[ContextFeature],
        *,
        batch: BatchRecord | None = None,
        replace_layer: str | None = None,
    ) -> None:
        """Add context features (in one transaction with their batch record); with
        ``replace_layer``, that layer's earlier features go in the same transaction."""
        with self._write() as conn:
            if batch is not None:
                self._insert_batch(conn, batch)
            if replace_layer is not None:
                c = context_features.c
                conn.execute(
                    sa.delete(context_features).where(
                        c.program_id == program_id, c.layer == replace_layer
                    )
                )
            if features:
                conn.execute(
                    sa.insert(context_features),
                    [
                        {
                            "program_id": program_id,
                            "batch_id": batch.batch_id if batch else None,
                            **{k: v for k, v in vars(f).items() if k != "id"},
                        }
                        for f in features
                    ],
                )

    def list_context(self, program_id: int, layer: str) -> list[ContextFeature]:
        c = context_features.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(context_features)
                .where(c.program_id == program_id, c.layer == layer)
                .order_by(c.id)
            )
            return [
                ContextFeature(
                    layer=r.layer,
                    feature_type=r.feature_type,
                    name=r.name,
                    lon=r.lon,
                    lat=r.lat,
                    notes=r.notes,
                    buffer_m=r.buffer_m,
                    geometry=r.geometry,
                    id=r.id,
                )
                for r in rows
            ]

    def event_buckets(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventBuckets]:
        """Events of one kind per stored cell and time bucket (buckets starting in the
        window), summed by the database."""
        c = events.c
        where = [c.program_id == program_id, c.kind == kind]
        if start is not None:
            where.append(c.bucket_start >= start)
        if end is not None:
            where.append(c.bucket_start < end)
        select = (
            sa.select(
                c.cell_m, c.cell_ix, c.cell_iy, c.bucket_start, c.bucket_hours, sa.func.sum(c.count)
            )
            .where(*where)
            .group_by(c.cell_m, c.cell_ix, c.cell_iy, c.bucket_start, c.bucket_hours)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(select).all()
        if not rows:
            return []
        table = _int_table(rows)
        out = []
        for size in np.unique(table[:, 0]).tolist():
            part = table[table[:, 0] == size]
            out.append(EventBuckets(int(size), part[:, 1], part[:, 2], part[:, 3], part[:, 4],
                                    part[:, 5]))  # fmt: skip
        return out

    # -- walking network -------------------------------------------------------------------
    def replace_network(
        self,
        program_id: int,
        *,
        source: str,
        rows: NetworkRows,
        area_share: float,
        progress: Callable[[int], None] | None = None,
    ) -> NetworkInfo:
        """Swap in a program's walking network in one transaction (routes never see half)."""
        chunk = 20_000
        with self._write() as conn:
            old = conn.execute(
                sa.select(walking_networks.c.version).where(
                    walking_networks.c.program_id == program_id
                )
            ).scalar()
            for table in (network_edges, network_nodes, walking_networks):
                conn.execute(sa.delete(table).where(table.c.program_id == program_id))
            info = NetworkInfo(
                version=int(old or 0) + 1,
                source=source[:200],
                imported_on=_today(),
                nodes=len(rows.lon),
                edges=len(rows.u),
                length_km=round(float(rows.length_m.sum()) / 1000.0, 3),
                area_share=round(area_share, 4),
            )
            conn.execute(sa.insert(walking_networks), [{"program_id": program_id, **vars(info)}])
            for begin in range(0, len(rows.lon), chunk):
                part = slice(begin, begin + chunk)
                conn.execute(
                    sa.insert(network_nodes),
                    [
                        {"program_id": program_id, "node": begin + i, "lon": lo, "lat": la}
                        for i, (lo, la) in enumerate(
                            zip(rows.lon[part].tolist(), rows.lat[part].tolist(), strict=True)
                        )
                    ],
                )
                if progress:
                    progress(len(rows.lon[part]))
            for begin in range(0, len(rows.u), chunk):
                part = slice(begin, begin + chunk)
                conn.execute(
                    sa.insert(network_edges),
                    [
                        {"program_id": program_id, "u": a, "v": b, "length_m": w}
                        for a, b, w in zip(
                            rows.u[part].tolist(),
                            rows.v[part].tolist(),
                            rows.length_m[part].tolist(),
                            strict=True,
                        )
                    ],
                )
                if progress:
                    progress(len(rows.u[part]))
        return info

    def network_info(self, program_id: int) -> NetworkInfo | None:
        w = walking_networks.c
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    w.version, w.source, w.imported_on, w.nodes, w.edges, w.length_km,
                    w.area_share,
                ).where(w.program_id == program_id)
            ).first()  # fmt: skip
        return NetworkInfo(*row) if row else None

    def load_network(self, program_id: int) -> tuple[NetworkInfo, NetworkRows] | None:
        with self.engine.connect() as conn:
            info = self.network_info(program_id)
            if info is None:
                return None
            nodes = conn.execute(
                sa.select(network_nodes.c.lon, network_nodes.c.lat)
                .where(network_nodes.c.program_id == program_id)
                .order_by(network_nodes.c.node)
            ).all()
            edges = conn.execute(
                sa.select(network_edges.c.u, network_edges.c.v, network_edges.c.length_m).where(
                    network_edges.c.program_id == program_id
                )
            ).all()
        node_table = np.array(nodes, dtype=np.float64).reshape(-1, 2)
        edge_table = np.array(edges, dtype=np.float64).reshape(-1, 3)
        return info, NetworkRows(
            node_table[:, 0],
            node_table[:, 1],
            edge_table[:, 0].astype(np.int64),
            edge_table[:, 1].astype(np.int64),
            edge_table[:, 2],
        )

    def count_rows(self, program_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for name, table in (
                ("events", events),
                ("monthly_aggregates", monthly_aggregates),
                ("sites", sites),
                ("context", context_features),
                ("network_edges", network_edges),
            ):
                counts[name] = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(table.c.program_id == program_id)
                ).scalar_one()
        return counts

    def delete_program_data(self, program_id: int) -> None:
        """Delete a program's events, sites, context layers, network and batches (keys stay)."""
        with self._write() as conn:
            for table in (
                events,
                releases,
                monthly_aggregates,
                sites,
                context_features,
                batches,
                network_edges,
                network_nodes,
                walking_networks,
            ):
                conn.execute(sa.delete(table).where(table.c.program_id == program_id))
            self._bump_version(conn, program_id)


def open_store(
    database_url: str,
    *,
    grid_record: dict[str, Any] | None = None,
    timeouts: DatabaseTimeouts | None = None,
) -> SqlStore:
    """Connect, bring the schema to the newest migration and check the grid parameters."""
    url = parse_database_url(database_url)
    with start_up_errors(url):
        store = SqlStore(make_engine(database_url, timeouts))
    try:
        with start_up_errors(url):
            store.migrate(grid_record)
    except Exception:
        store.close()
        raise
    return store
