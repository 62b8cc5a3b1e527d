"""Named alert areas a steward draws or imports (a neighbourhood, a shelter's block): checked
here for the API and the CLI alike, stored as GeoJSON in WGS 84.

An area alerts are told about must be large enough that naming it does not point at a door:
at least 0.25 km² measured in the program's own projected CRS, inside the program's area.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from analysis.projection import to_metres
from geo_service.audit import record
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.services.alerts.areas import check_named_area
from geo_service.services.alerts.rules import Caller, check_name, iso
from geo_service.services.alerts.series import rebuild_series
from geo_service.storage import Store
from geo_service.storage.alert_records import AlertArea

MIN_AREA_KM2 = 0.25
MAX_AREAS_PER_UPLOAD = 50
MAX_AREAS_PER_PROGRAM = 200  # each one is a daily series per kind, rebuilt when added
MAX_VERTICES = 20_000
# Drawn along the program's boundary, an area may stray past it by rounding: up to a square
# metre outside counts as inside.
OUTSIDE_TOLERANCE_M2 = 1.0
WGS84_NAMES = frozenset(
    {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326"}
)


@dataclass(frozen=True)
class NamedArea:
    name: str
    geometry: BaseGeometry  # WGS 84


def _refuse(detail: str) -> InvalidParameter:
    return InvalidParameter(detail, code="invalid_area")


def _check_crs(body: Mapping[str, Any]) -> None:
    crs = body.get("crs")
    if crs is None:
        return
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if name not in WGS84_NAMES:
        raise _refuse(
            "GeoJSON is longitude/latitude in WGS 84 (RFC 7946); save the file in EPSG:4326"
        )


def _feature_area(feature: Any) -> NamedArea:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _refuse("each area is a GeoJSON Feature with a polygon and a 'name' property")
    properties = feature.get("properties")
    name = properties.get("name") if isinstance(properties, dict) else None
    if not isinstance(name, str):
        raise _refuse("each area needs a 'name' property: the words alerts will use for it")
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise _refuse("an area is a Polygon or MultiPolygon")
    try:
        polygon = shape(geometry)
    except Exception:  # shapely's messages quote the coordinates; say it in our words
        raise _refuse("an area's coordinates could not be read as a polygon") from None
    return NamedArea(check_name(name, "an area's name"), polygon)


def areas_from_geojson(body: Any) -> list[NamedArea]:
    """The areas of a GeoJSON Feature or FeatureCollection, each with its ``name``."""
    if not isinstance(body, dict):
        raise _refuse("send a GeoJSON Feature or FeatureCollection")
    _check_crs(body)
    if body.get("type") == "Feature":
        features: Any = [body]
    elif body.get("type") == "FeatureCollection":
        features = body.get("features")
    else:
        raise _refuse("send a GeoJSON Feature or FeatureCollection")
    if not isinstance(features, list) or not 1 <= len(features) <= MAX_AREAS_PER_UPLOAD:
        raise _refuse(f"send 1 to {MAX_AREAS_PER_UPLOAD} areas at a time")
    return [_feature_area(f) for f in features]


def _metres(geometry: BaseGeometry, crs: str) -> BaseGeometry:
    def project(lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = to_metres(lonlat[:, 0], lonlat[:, 1], crs=crs)
        return np.column_stack([x, y])

    # Densified first, so a long straight edge bends as the projection bends it.
    return shapely.transform(shapely.segmentize(geometry, max_segment_length=0.001), project)


def check_area(deployment: Deployment, area: NamedArea) -> NamedArea:
    """An area alerts may name: valid WGS 84 polygons inside the program, >= 0.25 km²
    (what the file or body must be here; the geometry itself is checked where the engine
    checks it, services.alerts.areas.check_named_area)."""
    geometry = area.geometry
    if shapely.get_num_coordinates(geometry) > MAX_VERTICES:
        raise _refuse(f"an area may have at most {MAX_VERTICES} points; simplify it")
    coordinates = shapely.get_coordinates(geometry)
    if not np.isfinite(coordinates).all() or geometry.is_empty:
        raise _refuse("an area's coordinates could not be read as a polygon")
    lon, lat = coordinates[:, 0], coordinates[:, 1]
    if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        raise _refuse("GeoJSON is longitude/latitude in WGS 84 (RFC 7946): [longitude, latitude]")
    check_named_area(deployment, mapping(geometry))
    return area


def add_named_areas(
    store: Store, deployment: Deployment, caller: Caller, areas: Sequence[NamedArea]
) -> list[AlertArea]:
    """Check every area first, then store them all (none if any is refused); audited."""
    checked = [check_area(deployment, a) for a in areas]
    if len(store.alert_areas(caller.program_id)) + len(checked) > MAX_AREAS_PER_PROGRAM:
        raise _refuse(f"a program may have at most {MAX_AREAS_PER_PROGRAM} named areas")
    added = []
    for area in checked:
        text = shapely.to_geojson(area.geometry)
        area_id = store.add_alert_area(caller.program_id, area.name, text, caller.now)
        added.append(AlertArea(area_id, caller.program_id, area.name, text, caller.now))
    # A new area is counted from the events already stored, so its rules have a history.
    rebuild_series(store, deployment, caller.program_id)
    record(
        store,
        "alert_area.add",
        actor=caller.actor,
        program_id=caller.program_id,
        key_id=caller.key_id,
        area_ids=[a.id for a in added],
    )
    return added


def delete_named_area(store: Store, deployment: Deployment, caller: Caller, area_id: int) -> bool:
    """Remove one of the program's areas (alerts already about it keep its name; its series
    goes); audited."""
    if not store.delete_alert_area(caller.program_id, area_id, caller.now):
        return False
    rebuild_series(store, deployment, caller.program_id)
    record(
        store,
        "alert_area.delete",
        actor=caller.actor,
        program_id=caller.program_id,
        key_id=caller.key_id,
        area_id=area_id,
    )
    return True


def areas_collection(areas: Sequence[AlertArea]) -> dict[str, Any]:
    """The areas as a GeoJSON FeatureCollection (WGS 84)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": a.id,
                "geometry": orjson.loads(a.geometry),
                "properties": {"id": a.id, "name": a.name, "created_at": iso(a.created_at)},
            }
            for a in areas
        ],
    }
