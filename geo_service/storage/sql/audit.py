"""The audit log: a hash chain whose head lives in the meta table."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from geo_service.audit import AUDIT_HEAD_KEY, chain_hash, detail_text
from geo_service.storage.records import AuditEntry, AuditRow
from geo_service.storage.schema import audit_log, meta
from geo_service.storage.sql.engine import SqlBase, inserted_id


class AuditSql(SqlBase):
    def append_audit(self, entry: AuditEntry) -> AuditRow:
        """Append a row to the hash chain, in one transaction with the head's update."""
        with self._write() as conn:
            return self._append_audit(conn, entry)

    def _append_audit(self, conn: sa.Connection, entry: AuditEntry) -> AuditRow:
        """Append a row inside the caller's write transaction (so a change and its row are
        written together, or neither is)."""
        at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        detail = detail_text(entry.detail)
        head = meta.c.key == AUDIT_HEAD_KEY
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
        row_id = inserted_id(conn.execute(sa.insert(audit_log).values(**values)))
        conn.execute(sa.update(meta).where(head).values(value=digest))
        return AuditRow(id=row_id, **values)

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
