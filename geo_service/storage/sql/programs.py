"""Programs: their names, publication choices, data version, and deleting their data."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from geo_service.storage.records import ProgramPublication, StoredGeography
from geo_service.storage.schema import (
    alert_areas,
    alert_deliveries,
    alert_rules,
    alert_subscribers,
    alerts,
    batches,
    cell_months,
    context_features,
    daily_counts,
    events,
    monthly_aggregates,
    network_edges,
    network_nodes,
    programs,
    releases,
    sites,
    stored_pages,
    walking_networks,
)
from geo_service.storage.sql.engine import SqlBase, bump_version, inserted_id, today
from geo_service.storage.sql.geography import geography_values


class ProgramSql(SqlBase):
    def program_id(self, name: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(programs.c.id).where(programs.c.name == name)).scalar()

    def get_or_create_program(self, name: str, geography: StoredGeography | None = None) -> int:
        """The program's id; a new program takes ``geography`` (the deployment's defaults,
        pinned at creation) and keeps it."""
        found = self.program_id(name)
        if found is not None:
            return found
        values = geography_values(geography) if geography is not None else {}
        try:
            with self._write() as conn:
                result = conn.execute(
                    sa.insert(programs).values(name=name, created_on=today(), **values)
                )
                return inserted_id(result)
        except IntegrityError:
            found = self.program_id(name)
            assert found is not None
            return found

    def data_version(self, program_id: int) -> int:
        with self.engine.connect() as conn:
            version = conn.execute(
                sa.select(programs.c.data_version).where(programs.c.id == program_id)
            ).scalar()
        return int(version or 0)

    def publication(self, program_id: int) -> ProgramPublication:
        c = programs.c
        select = sa.select(
            c.k_peer,
            c.k_planner,
            c.k_public,
            c.public_enabled,
            c.bucket,
            c.grace_days,
            c.drop_top_keys,
        ).where(c.id == program_id)
        with self.engine.connect() as conn:
            row = conn.execute(select).one()
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
        """Delete a program's events, alerts, sites, context layers, network and batches (keys
        stay)."""
        with self._write() as conn:
            deliveries = sa.select(alerts.c.id).where(alerts.c.program_id == program_id)
            conn.execute(
                sa.delete(alert_deliveries).where(alert_deliveries.c.alert_id.in_(deliveries))
            )
            for table in (
                alerts,
                alert_rules,
                alert_areas,
                alert_subscribers,
                daily_counts,
                cell_months,
                events,
                releases,
                monthly_aggregates,
                sites,
                context_features,
                batches,
                network_edges,
                network_nodes,
                walking_networks,
                stored_pages,
            ):
                conn.execute(sa.delete(table).where(table.c.program_id == program_id))
            bump_version(conn, program_id)
