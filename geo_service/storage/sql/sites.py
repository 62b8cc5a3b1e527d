"""Service sites, stored in one transaction with their batch record."""

from __future__ import annotations

import sqlalchemy as sa

from geo_service.storage.records import BatchRecord, SiteRecord, StoredSite
from geo_service.storage.schema import sites
from geo_service.storage.sql.batches import insert_batch
from geo_service.storage.sql.engine import SqlBase


class SiteSql(SqlBase):
    def store_sites(self, batch: BatchRecord, records: list[SiteRecord]) -> None:
        with self._write() as conn:
            insert_batch(conn, batch)
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
