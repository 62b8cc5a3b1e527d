"""A program's own geography: made from an area, changed within the rules that keep stored
events where they are (grid and time zone fixed once events exist; the area may grow, never
leave a stored event outside)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from geo_service.audit import record
from geo_service.deployment import Deployment
from geo_service.errors import Conflict
from geo_service.geography import Geography, default_crs
from geo_service.ingest.areas import area_timezone, checked_crs, checked_timezone
from geo_service.ingest.osm_area import read_any_area
from geo_service.services.program import program_deployment
from geo_service.storage import Store


@dataclass(frozen=True)
class AreaChoice:
    """What ``program create|update`` was given; ``None``: keep (update) or default (create)."""

    area_file: Path | None = None
    crs: str | None = None
    timezone: str | None = None
    boundary: str | None = None  # area_file is an OpenStreetMap extract: this boundary


def new_geography(defaults: Deployment, choice: AreaChoice) -> Geography:
    """A new program's geography: its area, the UTM zone of the area's centroid unless
    ``crs``, the area's time zone unless ``timezone``; grid from the deployment's defaults."""
    assert choice.area_file is not None
    crs = checked_crs(choice.crs) if choice.crs else None
    timezone = checked_timezone(choice.timezone) if choice.timezone else None
    area = read_any_area(choice.area_file, choice.boundary)
    return defaults.geography.replace(
        area=area,
        crs=crs or default_crs(area),
        timezone=timezone or area_timezone(choice.area_file, area),
    )


def create_program(store: Store, name: str, geography: Geography) -> int:
    program_id = store.add_program(name, geography.stored())
    if program_id is None:
        raise Conflict(
            f"a program named {name} exists already; 'geo-service program update' changes it"
        )
    record(
        store, "program.create", actor="cli", program_id=program_id, geography=_described(geography)
    )
    return program_id


def update_geography(
    store: Store, defaults: Deployment, program_id: int, choice: AreaChoice
) -> Geography:
    """Apply ``choice`` to the program's geography, or refuse and change nothing."""
    current = program_deployment(store, defaults, program_id).geography
    crs = checked_crs(choice.crs) if choice.crs else current.crs
    timezone = checked_timezone(choice.timezone) if choice.timezone else current.timezone
    area = read_any_area(choice.area_file, choice.boundary) if choice.area_file else current.area
    if (crs, timezone) != (current.crs, current.timezone) and store.has_events(program_id):
        raise Conflict(
            "the program has stored events, so its CRS and time zone are fixed (events already "
            "stored would snap and bucket differently from new ones); create a new program for "
            "another grid, or export and delete this one's data first"
        )
    changed = current.replace(area=area, crs=crs, timezone=timezone)
    if choice.area_file is not None:
        moved = Deployment(defaults.settings, changed)
        _keeps_stored_events(store, program_id, moved, choice.area_file)
    store.set_geography(program_id, changed.stored())
    record(
        store, "program.update", actor="cli", program_id=program_id, geography=_described(changed)
    )
    return changed


def _keeps_stored_events(store: Store, program_id: int, changed: Deployment, file: Path) -> None:
    """Refuse an area that would leave a cell holding stored events outside it."""
    cells = np.asarray(store.stored_cells(program_id), dtype=np.int64).reshape(-1, 3)
    if not len(cells):
        return
    size, grid = cells[:, 0].astype(np.float64), changed.grid
    xmin = grid.origin_x_m + cells[:, 1] * size
    ymin = grid.origin_y_m + cells[:, 2] * size
    boxes = shapely.box(xmin, ymin, xmin + size, ymin + size)
    outside = int((~shapely.intersects(changed.service_area_m, boxes)).sum())
    if outside:
        raise Conflict(
            f"{file}: the new area leaves out {outside} cells holding stored events; an area "
            "may grow but not shrink past stored events (export and delete the data first "
            "to start over)"
        )


def _described(geography: Geography) -> dict[str, str]:
    """An audit row's detail: the CRS, zone and size, never the boundary itself."""
    return {"crs": geography.crs, "timezone": geography.timezone, "grid": geography.stamp}
