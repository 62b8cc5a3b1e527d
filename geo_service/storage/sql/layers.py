"""Planning layers: candidate sites and exclusion zones (context features)."""

from __future__ import annotations

import sqlalchemy as sa

from geo_service.storage.records import BatchRecord, ContextFeature
from geo_service.storage.schema import context_features
from geo_service.storage.sql.batches import insert_batch
from geo_service.storage.sql.engine import SqlBase


class LayerSql(SqlBase):
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
                insert_batch(conn, batch)
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
