"""Context layers: candidate sites (for lockers, vending machines or a consumption site) and
exclusion features (schools, daycares, playgrounds) with a buffer in metres.

Both are public places, stored exactly, read from GeoJSON or CSV like service sites: a batch
says which rows were refused and why, and never repeats what was sent.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np
import orjson
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import shape

from analysis.projection import to_metres
from geo_service.deployment import Deployment
from geo_service.ingest.sites import check_point
from geo_service.ingest.tabular import (
    FEATURE_MEMBERS,
    Rejection,
    RowErrors,
    Upload,
    csv_chunks,
    feature_list,
    is_formula,
)
from geo_service.storage import ContextFeature, Store

DEFAULT_BUFFER_M = 200.0  # Ontario's rule for consumption sites near schools and daycares
MAX_BUFFER_M = 2000.0
CANDIDATE_CSV_COLUMNS = (
    "name",
    "candidate_type",
    "power",
    "shelter",
    "host_consent",
    "notes",
    "latitude",
    "longitude",
)
EXCLUSION_CSV_COLUMNS = ("name", "exclusion_type", "buffer_m", "latitude", "longitude")


class CandidateType(enum.StrEnum):
    LOCKER = "locker"
    VENDING_MACHINE = "vending_machine"
    CONSUMPTION_SITE = "consumption_site"
    ANY = "any"


class ExclusionType(enum.StrEnum):
    SCHOOL = "school"
    DAYCARE = "daycare"
    PLAYGROUND = "playground"
    OTHER = "other"


class Feasible(enum.StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def _plain_text(value: str | None) -> str | None:
    if value is not None and is_formula(value):
        raise ValueError("text may not start like a spreadsheet formula")
    return value


class CandidateProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    candidate_type: CandidateType = CandidateType.ANY
    power: Feasible = Feasible.UNKNOWN
    shelter: Feasible = Feasible.UNKNOWN
    host_consent: Feasible = Feasible.UNKNOWN
    notes: str | None = Field(default=None, max_length=300)

    @field_validator("name", "notes")
    @classmethod
    def _no_formula(cls, value: str | None) -> str | None:
        return _plain_text(value)

    def record(self, lon: float, lat: float) -> ContextFeature:
        feasibility = (
            f"power: {self.power}; shelter: {self.shelter}; host consent: {self.host_consent}"
        )
        notes = feasibility + (f"; {self.notes}" if self.notes else "")
        return ContextFeature("candidate", self.candidate_type.value, self.name, lon, lat, notes)


class ExclusionProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    exclusion_type: ExclusionType
    buffer_m: float = Field(default=DEFAULT_BUFFER_M, ge=0, le=MAX_BUFFER_M, allow_inf_nan=False)

    @field_validator("name")
    @classmethod
    def _no_formula(cls, value: str) -> str | None:
        return _plain_text(value)


def _problem(exc: ValidationError, fields: str) -> tuple[str, str]:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "properties"
    if err["type"] == "extra_forbidden":
        return "unknown_field", f"properties may only be {fields}"
    if err["type"] == "missing":
        return "missing_field", f"{where} is required"
    if err["type"] == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        return "invalid_value", f"{where} must be one of {expected}"
    if err["type"] == "value_error":
        return "invalid_value", f"{where}: {err.get('ctx', {}).get('error', 'invalid')}"
    return "invalid_value", f"{where} has the wrong type, length or range"


CANDIDATE_FIELDS = "name, candidate_type, power, shelter, host_consent and notes"
EXCLUSION_FIELDS = "name, exclusion_type and buffer_m"


def _candidate(
    props: Any, lon: Any, lat: Any, deployment: Deployment
) -> ContextFeature | tuple[str, str]:
    problem = check_point(lon, lat, deployment, what="the candidate")
    if problem:
        return problem
    try:
        model = CandidateProperties.model_validate(props)
    except ValidationError as exc:
        return _problem(exc, CANDIDATE_FIELDS)
    return model.record(float(lon), float(lat))


def _exclusion(
    props: Any, geometry: Any, deployment: Deployment
) -> ContextFeature | tuple[str, str]:
    try:
        model = ExclusionProperties.model_validate(props)
    except ValidationError as exc:
        return _problem(exc, EXCLUSION_FIELDS)
    kind = geometry.get("type")
    if kind == "Point":
        coords = geometry.get("coordinates")
        if type(coords) is not list or len(coords) not in (2, 3):
            return "invalid_geometry", "a Point needs [longitude, latitude]"
        problem = check_point(coords[0], coords[1], deployment, what="the feature")
        if problem:
            return problem
        return ContextFeature(
            "exclusion",
            model.exclusion_type.value,
            model.name,
            float(coords[0]),
            float(coords[1]),
            buffer_m=model.buffer_m,
        )
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        return "invalid_geometry", "geometry must be a GeoJSON Point, Polygon or MultiPolygon"
    if polygon.geom_type not in ("Polygon", "MultiPolygon") or polygon.is_empty:
        return "invalid_geometry", "geometry must be a GeoJSON Point, Polygon or MultiPolygon"
    bounds = polygon.bounds
    if (
        not all(math.isfinite(b) for b in bounds)
        or abs(bounds[0]) > 180
        or abs(bounds[2]) > 180
        or abs(bounds[1]) > 90
        or abs(bounds[3]) > 90
    ):
        return "coordinates_out_of_range", "longitude must be within -180..180, latitude -90..90"
    if not polygon.is_valid:
        return "invalid_geometry", "the polygon crosses itself; fix its rings"
    if len(shapely.get_coordinates(polygon)) > 5000:
        return "invalid_geometry", "a polygon may have at most 5,000 vertices"
    inside = polygon.representative_point()
    if not deployment.contains([inside.x], [inside.y])[0] and not polygon.intersects(
        deployment.service_area
    ):
        return "outside_service_area", "the feature lies outside this service's area"
    text = orjson.dumps(shapely.geometry.mapping(polygon)).decode()
    return ContextFeature(
        "exclusion",
        model.exclusion_type.value,
        model.name,
        inside.x,
        inside.y,
        buffer_m=model.buffer_m,
        geometry=text,
    )


def context_from_geojson(
    doc: Any, layer: str, deployment: Deployment, *, max_rows: int
) -> tuple[list[ContextFeature], list[Rejection]]:
    accepted: list[ContextFeature] = []
    rejected: list[Rejection] = []
    for i, feature in enumerate(
        feature_list(doc, max_rows, "the body must be a GeoJSON FeatureCollection")
    ):
        geometry = feature.get("geometry") if type(feature) is dict else None
        if (
            type(feature) is not dict
            or feature.get("type") != "Feature"
            or (feature.keys() - FEATURE_MEMBERS)
            or type(geometry) is not dict
        ):
            rejected.append(
                Rejection(
                    i,
                    "invalid_feature",
                    "each item must be a GeoJSON Feature with geometry and properties only",
                )
            )
            continue
        props = feature.get("properties") or {}
        if layer == "candidate":
            coords = geometry.get("coordinates")
            if (
                geometry.get("type") != "Point"
                or type(coords) is not list
                or len(coords) not in (2, 3)
            ):
                rejected.append(Rejection(i, "invalid_geometry", "a candidate is a GeoJSON Point"))
                continue
            result = _candidate(props, coords[0], coords[1], deployment)
        else:
            result = _exclusion(props, geometry, deployment)
        if isinstance(result, ContextFeature):
            accepted.append(result)
        else:
            rejected.append(Rejection(i, *result))
    return accepted, rejected


def read_layer(
    upload: Upload, layer: str, deployment: Deployment
) -> tuple[list[ContextFeature], list[Rejection]]:
    """Candidates or exclusions from GeoJSON, or from CSV (point exclusions only: polygons
    come as GeoJSON)."""
    if upload.media == "geojson":
        return context_from_geojson(upload.document, layer, deployment, max_rows=upload.row_limit)
    allowed = CANDIDATE_CSV_COLUMNS if layer == "candidate" else EXCLUSION_CSV_COLUMNS
    required = ("name", "latitude", "longitude") + (
        () if layer == "candidate" else ("exclusion_type",)
    )
    accepted: list[ContextFeature] = []
    rejected: list[Rejection] = []
    for chunk in csv_chunks(upload, allowed=allowed, required=required):
        got, bad = _context_from_columns(
            chunk.columns, chunk.errors, chunk.lines, layer, deployment
        )
        accepted += got
        rejected += [Rejection(r.index + chunk.first_index, r.code, r.detail) for r in bad]
    return accepted, rejected


def _context_from_columns(
    columns: dict[str, list[str]],
    errors: RowErrors,
    lines: list[int],
    layer: str,
    deployment: Deployment,
) -> tuple[list[ContextFeature], list[Rejection]]:
    allowed = CANDIDATE_CSV_COLUMNS if layer == "candidate" else EXCLUSION_CSV_COLUMNS
    accepted: list[ContextFeature] = []
    rejected: list[Rejection] = []
    for i, line in enumerate(lines):
        if i in errors:
            code, detail = errors[i]
            rejected.append(Rejection(i, code, f"CSV line {line}: {detail}"))
            continue
        try:
            lat, lon = float(columns["latitude"][i]), float(columns["longitude"][i])
        except ValueError:
            rejected.append(
                Rejection(
                    i,
                    "invalid_coordinates",
                    f"CSV line {line}: latitude and longitude must be numbers",
                )
            )
            continue
        props = {k: columns[k][i] for k in allowed[:-2] if k in columns and columns[k][i] != ""}
        result: ContextFeature | tuple[str, str]
        if layer == "candidate":
            result = _candidate(props, lon, lat, deployment)
        else:
            result = _exclusion(props, {"type": "Point", "coordinates": [lon, lat]}, deployment)
        if isinstance(result, ContextFeature):
            accepted.append(result)
        else:
            rejected.append(Rejection(i, result[0], f"CSV line {line}: {result[1]}"))
    return accepted, rejected


def context_feature(feature: ContextFeature) -> dict[str, Any]:
    """A stored context feature as GeoJSON (polygons as drawn, points as points)."""
    geometry = (
        orjson.loads(feature.geometry)
        if feature.geometry
        else {"type": "Point", "coordinates": [feature.lon, feature.lat]}
    )
    props: dict[str, Any] = {"name": feature.name}
    if feature.layer == "candidate":
        props |= {"candidate_type": feature.feature_type, "notes": feature.notes}
    else:
        props |= {"exclusion_type": feature.feature_type, "buffer_m": feature.buffer_m}
    return {"type": "Feature", "id": feature.id, "geometry": geometry, "properties": props}


def exclusion_zones(
    store: Store, deployment: Deployment, program_id: int
) -> list[tuple[ContextFeature, shapely.Geometry]]:
    """Each exclusion feature with its buffered zone, in the deployment's metres."""
    out = []
    for feature in store.list_context(program_id, "exclusion"):
        if feature.geometry:
            geom = shape(orjson.loads(feature.geometry))
            coords = shapely.get_coordinates(geom)
            x, y = to_metres(coords[:, 0], coords[:, 1], crs=deployment.crs)
            geom_m = shapely.set_coordinates(geom, np.column_stack([x, y]))
        else:
            x, y = to_metres([feature.lon], [feature.lat], crs=deployment.crs)
            geom_m = shapely.Point(float(x[0]), float(y[0]))
        buffer_m = DEFAULT_BUFFER_M if feature.buffer_m is None else feature.buffer_m
        out.append((feature, geom_m.buffer(buffer_m, quad_segs=16)))
    return out
