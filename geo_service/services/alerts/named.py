"""A steward's named alert areas: checked, stored, and counted from the start. Adding or
deleting one rebuilds the program's daily series, so a new area has its history at once and
a deleted one leaves no rows behind."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shapely.geometry import mapping

from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.services.alerts.areas import check_named_area
from geo_service.services.alerts.series import rebuild_series
from geo_service.storage import Store

MAX_NAME_CHARS = 80


def add_named_area(
    store: Store,
    deployment: Deployment,
    program_id: int,
    name: str,
    geometry: Mapping[str, Any],
    *,
    now: int,
) -> int:
    """Check and store a named area, then rebuild the series; returns the area's id."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InvalidParameter(f"a named area needs a name of 1 to {MAX_NAME_CHARS} characters")
    area = check_named_area(deployment, geometry)
    area_id = store.add_alert_area(program_id, name, json.dumps(mapping(area)), now)
    rebuild_series(store, deployment, program_id)
    return area_id


def delete_named_area(
    store: Store, deployment: Deployment, program_id: int, area_id: int, *, now: int
) -> bool:
    """Delete a named area and rebuild the series; False if there was no such area."""
    if not store.delete_alert_area(program_id, area_id, now):
        return False
    rebuild_series(store, deployment, program_id)
    return True
