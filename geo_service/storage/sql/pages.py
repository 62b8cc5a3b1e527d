"""Peers' pages, stored once by a digest of what they are made of and served by every
worker on every host (the first writer wins: two builds of one key are the same page)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from geo_service.storage.schema import stored_pages
from geo_service.storage.sql.engine import SqlBase


class PageSql(SqlBase):
    def stored_page(self, key: str) -> bytes | None:
        """The page stored under ``key`` (a sha256 hex digest), if any."""
        p = stored_pages.c
        with self.engine.connect() as conn:
            body = conn.execute(sa.select(p.body).where(p.key == key)).scalar()
        return None if body is None else bytes(body)

    def store_page(self, key: str, program_id: int, body: bytes, made_at: int) -> bool:
        """Keep a page once; False if another worker stored this key first."""
        row = {"key": key, "program_id": program_id, "body": body, "made_at": made_at}
        try:
            with self._write() as conn:
                conn.execute(sa.insert(stored_pages).values(**row))
        except IntegrityError:
            return False
        return True

    def delete_pages(self, program_id: int) -> int:
        """Forget a program's stored pages; how many there were."""
        with self._write() as conn:
            gone = conn.execute(
                sa.delete(stored_pages).where(stored_pages.c.program_id == program_id)
            )
        return int(gone.rowcount or 0)

    def prune_pages(self, made_before: int) -> int:
        """Forget pages stored before ``made_before`` (epoch s); how many."""
        with self._write() as conn:
            gone = conn.execute(sa.delete(stored_pages).where(stored_pages.c.made_at < made_before))
        return int(gone.rowcount or 0)
