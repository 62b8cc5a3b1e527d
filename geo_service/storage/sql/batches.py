"""Idempotent batches: the deployment's secret, earlier answers, and the batch record that
goes in one transaction with its rows."""

from __future__ import annotations

from secrets import token_hex

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from geo_service.errors import Conflict
from geo_service.storage.records import BatchRecord
from geo_service.storage.schema import batches, meta
from geo_service.storage.sql.engine import SqlBase

# Keys idempotency digests; the migration that hashed older keys made it under this name.
SECRET_META_KEY = "server_secret"  # noqa: S105 (the name of a meta row)


def insert_batch(conn: Connection, batch: BatchRecord) -> None:
    """Record a batch inside the caller's transaction; a twin being stored is a Conflict."""
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


class BatchSql(SqlBase):
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
        """The earlier batch sent to ``target`` (events, sites, a layer) with this key."""
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
