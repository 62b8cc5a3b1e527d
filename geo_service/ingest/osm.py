"""OpenStreetMap context layers from a ``.osm.pbf`` extract, through pyrosm.

Schools, daycares and playgrounds become exclusions (polygons where OSM draws them);
pharmacies, clinics, doctors, health centres and homeless shelters become candidate sites
with their OSM tags in the notes. The result is two GeoJSON FeatureCollections that the
import service checks like any upload, so a feature outside the program's area is refused
by the same rule as a file's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import shapely

from geo_service.errors import Unprocessable

# OSM tag -> our exclusion type. amenity=kindergarten and =childcare are both daycares.
EXCLUDE = {
    ("amenity", "school"): "school",
    ("amenity", "kindergarten"): "daycare",
    ("amenity", "childcare"): "daycare",
    ("leisure", "playground"): "playground",
}
# Candidate hosts. Not amenity=shelter: in OSM that is a bus or picnic shelter; a homeless
# shelter is social_facility=shelter.
CANDIDATE = {
    ("amenity", "pharmacy"): "pharmacy",
    ("healthcare", "pharmacy"): "pharmacy",
    ("amenity", "clinic"): "clinic",
    ("amenity", "doctors"): "doctors",
    ("healthcare", "clinic"): "clinic",
    ("healthcare", "doctor"): "doctors",
    ("healthcare", "centre"): "health centre",
    ("social_facility", "shelter"): "shelter",
}
NOTE_TAGS = ("amenity", "healthcare", "social_facility", "operator", "opening_hours")
FILTER = {
    "amenity": ["school", "kindergarten", "childcare", "pharmacy", "clinic", "doctors"],
    "leisure": ["playground"],
    "healthcare": ["pharmacy", "clinic", "doctor", "centre"],
    "social_facility": ["shelter"],
}


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _match(row: Any, table: dict[tuple[str, str], str]) -> str | None:
    for (key, value), what in table.items():
        if _text(getattr(row, key, None)) == value:
            return what
    return None


def _name(row: Any, what: str) -> str:
    name = _text(getattr(row, "name", None))
    return name[:200] if name else f"{what} (OSM {_text(row.osm_type)} {_text(row.id)})"


def _notes(row: Any) -> str:
    tags = [
        f"{k}={_text(getattr(row, k, None))}" for k in NOTE_TAGS if _text(getattr(row, k, None))
    ]
    return ("OSM " + "; ".join([f"{_text(row.osm_type)}/{_text(row.id)}", *tags]))[:300]


def _feature(geometry: Any, props: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": orjson.loads(shapely.to_geojson(geometry)),
        "properties": props,
    }


def osm_layers(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(exclusion features, candidate features) of the extract, in WGS 84."""
    import pyrosm  # heavy (geopandas); only this command needs it

    try:
        pois = pyrosm.OSM(str(path)).get_pois(custom_filter=FILTER)
    except Exception as exc:  # pyrosm raises plain errors for a file it cannot parse
        raise Unprocessable(
            f"{path.name}: pyrosm cannot read this extract ({type(exc).__name__}); give an "
            "OpenStreetMap .osm.pbf file, such as one from a regional extract service",
            code="unreadable_file",
        ) from None
    exclusions: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    if pois is None:
        return exclusions, candidates
    for column in ("amenity", "leisure", "healthcare", "social_facility", "name"):
        if column not in pois.columns:
            pois[column] = None
    for row in pois.itertuples():
        geometry = row.geometry
        if geometry is None or geometry.is_empty:
            continue
        excluded = _match(row, EXCLUDE)
        if excluded:
            props = {"name": _name(row, excluded), "exclusion_type": excluded}
            exclusions.append(_feature(geometry, props))
            continue
        what = _match(row, CANDIDATE)
        if what:
            point = geometry if geometry.geom_type == "Point" else geometry.representative_point()
            props = {"name": _name(row, what), "candidate_type": "any", "notes": _notes(row)}
            candidates.append(_feature(point, props))
    return exclusions, candidates
