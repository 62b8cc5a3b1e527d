"""API keys and the sign-in sessions made from them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from geo_service.storage.records import KeyRecord
from geo_service.storage.schema import api_keys, programs, sessions
from geo_service.storage.sql.engine import SqlBase, inserted_id, today


def _key_select() -> sa.Select[Any]:
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


class KeySql(SqlBase):
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
                    created_on=today(),
                )
            )
            return inserted_id(result)

    def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_key_select().where(api_keys.c.key_hash == key_hash)).first()
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
            _key_select()
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
        query = _key_select().order_by(api_keys.c.id)
        if program is not None:
            query = query.where(programs.c.name == program)
        with self.engine.connect() as conn:
            return [KeyRecord(*row) for row in conn.execute(query)]

    def revoke_key(self, key_id: int) -> bool:
        with self._write() as conn:
            result = conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_on.is_(None))
                .values(revoked_on=today())
            )
            return result.rowcount == 1
