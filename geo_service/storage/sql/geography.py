"""Programs' geography: created with one, read with its version, changed as one row."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from geo_service.storage.records import ProgramSummary, StoredGeography
from geo_service.storage.schema import events, monthly_aggregates, programs
from geo_service.storage.sql.engine import SqlBase, inserted_id, today

_GEOGRAPHY = (
    programs.c.area,
    programs.c.projected_crs,
    programs.c.timezone,
    programs.c.grid_origin_x_m,
    programs.c.grid_origin_y_m,
    programs.c.grid_base_cell_m,
    programs.c.cell_m,
    programs.c.bucket_hours,
)


def geography_values(geography: StoredGeography) -> dict[str, Any]:
    """The programs row's columns for ``geography``."""
    return {
        "area": geography.area_geojson,
        "projected_crs": geography.projected_crs,
        "timezone": geography.timezone,
        "grid_origin_x_m": geography.grid_origin_x_m,
        "grid_origin_y_m": geography.grid_origin_y_m,
        "grid_base_cell_m": geography.grid_base_cell_m,
        "cell_m": json.dumps(geography.cell_m, sort_keys=True),
        "bucket_hours": json.dumps(geography.bucket_hours, sort_keys=True),
    }


def _from_row(row: Any) -> StoredGeography | None:
    if row.area is None:
        return None  # from before revision 0011: the deployment's defaults
    return StoredGeography(
        area_geojson=row.area,
        projected_crs=row.projected_crs,
        timezone=row.timezone,
        grid_origin_x_m=float(row.grid_origin_x_m),
        grid_origin_y_m=float(row.grid_origin_y_m),
        grid_base_cell_m=int(row.grid_base_cell_m),
        cell_m={str(k): int(v) for k, v in json.loads(row.cell_m).items()},
        bucket_hours={str(k): int(v) for k, v in json.loads(row.bucket_hours).items()},
    )


class GeographySql(SqlBase):
    def add_program(self, name: str, geography: StoredGeography) -> int | None:
        """Create a program with its geography; ``None`` if the name is taken."""
        try:
            with self._write() as conn:
                result = conn.execute(
                    sa.insert(programs).values(
                        name=name, created_on=today(), **geography_values(geography)
                    )
                )
                return inserted_id(result)
        except IntegrityError:
            return None

    def geography_version(self, program_id: int) -> int:
        with self.engine.connect() as conn:
            version = conn.execute(
                sa.select(programs.c.geography_version).where(programs.c.id == program_id)
            ).scalar()
        return int(version or 0)

    def program_geography(self, program_id: int) -> tuple[int, StoredGeography | None]:
        """The geography's version and the geography (``None``: the deployment's defaults)."""
        select = sa.select(programs.c.geography_version, *_GEOGRAPHY).where(
            programs.c.id == program_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(select).one()
        return int(row.geography_version), _from_row(row)

    def set_geography(self, program_id: int, geography: StoredGeography) -> None:
        """Replace the geography; cached deployments and analyses of the program go stale."""
        with self._write() as conn:
            conn.execute(
                sa.update(programs)
                .where(programs.c.id == program_id)
                .values(
                    **geography_values(geography),
                    geography_version=programs.c.geography_version + 1,
                    data_version=programs.c.data_version + 1,
                )
            )

    def list_programs(self) -> list[ProgramSummary]:
        counted = (
            sa.select(events.c.program_id, sa.func.count().label("n"))
            .group_by(events.c.program_id)
            .subquery()
        )
        select = (
            sa.select(
                programs.c.id,
                programs.c.name,
                programs.c.created_on,
                programs.c.area.is_not(None).label("own"),
                sa.func.coalesce(counted.c.n, 0).label("n"),
            )
            .outerjoin(counted, counted.c.program_id == programs.c.id)
            .order_by(programs.c.name)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(select).all()
        return [ProgramSummary(r.id, r.name, r.created_on, bool(r.own), int(r.n)) for r in rows]

    def stored_cells(self, program_id: int) -> list[tuple[int, int, int]]:
        """Every ``(cell_m, ix, iy)`` holding a stored event or monthly aggregate."""
        cells: set[tuple[int, int, int]] = set()
        with self.engine.connect() as conn:
            for table in (events, monthly_aggregates):
                select = (
                    sa.select(table.c.cell_m, table.c.cell_ix, table.c.cell_iy)
                    .where(table.c.program_id == program_id)
                    .distinct()
                )
                cells.update((int(m), int(x), int(y)) for m, x, y in conn.execute(select))
        return sorted(cells)

    def has_events(self, program_id: int) -> bool:
        with self.engine.connect() as conn:
            for table in (events, monthly_aggregates):
                found = conn.execute(
                    sa.select(table.c.program_id).where(table.c.program_id == program_id).limit(1)
                ).first()
                if found is not None:
                    return True
        return False
