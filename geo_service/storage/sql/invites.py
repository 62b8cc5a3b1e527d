"""One-time invites, and the join that turns one into a phone's own key and session."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from geo_service.storage.records import (
    AuditEntry,
    InviteRecord,
    JsonObject,
    NewInvite,
    Redemption,
)
from geo_service.storage.schema import api_keys, invites, programs, sessions
from geo_service.storage.sql.audit import AuditSql
from geo_service.storage.sql.engine import inserted_id, today


def _invite_select() -> sa.Select[Any]:
    return sa.select(
        invites.c.id,
        programs.c.name,
        invites.c.program_id,
        invites.c.role,
        invites.c.session_days,
        invites.c.created_at,
        invites.c.expires_at,
        invites.c.created_by,
        invites.c.used_at,
        invites.c.used_key_id,
        invites.c.revoked_at,
        invites.c.label,
    ).join(programs, programs.c.id == invites.c.program_id)


class InviteSql(AuditSql):
    def add_invite(self, invite: NewInvite) -> int:
        with self._write() as conn:
            result = conn.execute(
                sa.insert(invites).values(
                    program_id=invite.program_id,
                    role=invite.role,
                    code_hash=invite.code_hash,
                    session_days=invite.session_days,
                    created_at=invite.created_at,
                    expires_at=invite.expires_at,
                    created_by=invite.created_by,
                    label=invite.label,
                )
            )
            return inserted_id(result)

    def list_invites(self, program_id: int | None = None) -> list[InviteRecord]:
        query = _invite_select().order_by(invites.c.id)
        if program_id is not None:
            query = query.where(invites.c.program_id == program_id)
        with self.engine.connect() as conn:
            return [InviteRecord(*row) for row in conn.execute(query)]

    def revoke_invite(self, invite_id: int, now: int, program_id: int | None = None) -> bool:
        """Revoke an invite not yet revoked; if a phone already joined with it, that phone's
        key is revoked too (its sessions end with it). One transaction."""
        where = [invites.c.id == invite_id, invites.c.revoked_at.is_(None)]
        if program_id is not None:
            where.append(invites.c.program_id == program_id)
        with self._write() as conn:
            used_key = conn.execute(sa.select(invites.c.used_key_id).where(*where)).first()
            if used_key is None:
                return False
            conn.execute(sa.update(invites).where(*where).values(revoked_at=now))
            if used_key[0] is not None:
                conn.execute(
                    sa.update(api_keys)
                    .where(api_keys.c.id == used_key[0], api_keys.c.revoked_on.is_(None))
                    .values(revoked_on=today())
                )
                conn.execute(sa.delete(sessions).where(sessions.c.key_id == used_key[0]))
            return True

    def redeem_invite(self, join: Redemption) -> tuple[InviteRecord, int] | None:
        """Use an open invite once: mark it used, make the phone's key and its session and
        write the ``invite.use`` audit row, all in one transaction. The conditional UPDATE is
        the lock: of two joins racing for one code, exactly one sees a row change. Returns
        the invite and the session's expiry."""
        open_invite = (
            invites.c.code_hash == join.code_hash,
            invites.c.used_at.is_(None),
            invites.c.revoked_at.is_(None),
            invites.c.expires_at > join.now,
        )
        with self._write() as conn:
            claimed = conn.execute(
                sa.update(invites).where(*open_invite).values(used_at=join.now)
            ).rowcount
            if claimed != 1:
                return None
            row = conn.execute(_invite_select().where(invites.c.code_hash == join.code_hash)).one()
            invite = InviteRecord(*row)
            key_id = inserted_id(
                conn.execute(
                    sa.insert(api_keys).values(
                        program_id=invite.program_id,
                        role=invite.role,
                        key_hash=join.key_hash,
                        prefix=join.key_prefix,
                        label=f"phone (invite {invite.id})",
                        created_on=today(),
                    )
                )
            )
            conn.execute(
                sa.update(invites).where(invites.c.id == invite.id).values(used_key_id=key_id)
            )
            expires_at = join.now + invite.session_days * 86400
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at < join.now))
            conn.execute(
                sa.insert(sessions).values(
                    token_hash=join.token_hash, key_id=key_id, expires_at=expires_at
                )
            )
            used: JsonObject = {"invite_id": invite.id, "session_days": invite.session_days}
            entry = AuditEntry("invite.use", "join page", invite.program_id, key_id, used)
            self._append_audit(conn, entry)
        return replace(invite, used_key_id=key_id), expires_at
