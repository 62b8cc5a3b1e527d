"""Service-site ingest: public places with their services and weekly opening hours."""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
import opening_hours
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geo_service.deployment import Deployment
from geo_service.ingest.tabular import (
    FEATURE_MEMBERS,
    Rejection,
    RowErrors,
    Upload,
    csv_chunks,
    feature_list,
    is_formula,
)
from geo_service.storage import SiteRecord

SITE_CSV_COLUMNS = (
    "name",
    "site_type",
    "services",
    "opening_hours",
    "address",
    "latitude",
    "longitude",
)
SITE_CSV_REQUIRED = ("name", "site_type", "services", "latitude", "longitude")


class SiteType(enum.StrEnum):
    HR_SUPPLY = "hr_supply"
    PHARMACY = "pharmacy"
    ER = "er"
    LOCKER = "locker"
    VENDING_MACHINE = "vending_machine"
    CONSUMPTION_SITE = "consumption_site"
    DISPOSAL_BOX = "disposal_box"
    OUTREACH_STOP = "outreach_stop"


class Service(enum.StrEnum):
    NEEDLES = "needles"
    NALOXONE = "naloxone"
    DRUG_CHECKING = "drug_checking"
    SUPERVISED_CONSUMPTION = "supervised_consumption"
    DISPOSAL = "disposal"
    TESTING = "testing"


def check_opening_hours(value: str) -> str:
    """Return the value if the OSM ``opening_hours`` library can parse it, else raise."""
    try:
        opening_hours.OpeningHours(value)
    except (opening_hours.ParserError, ValueError, TypeError):  # type: ignore[attr-defined]
        raise ValueError(
            "opening_hours is not valid OpenStreetMap opening_hours syntax "
            "(for example 'Mo-Fr 09:00-17:00; Sa 10:00-14:00' or '24/7')"
        ) from None
    return value


class SiteProperties(BaseModel):
    """The properties of one service site. Unknown members are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    site_type: SiteType
    services: list[Service] = Field(min_length=1)
    opening_hours: str | None = Field(default=None, max_length=500)
    address: str | None = Field(default=None, max_length=200)

    @field_validator("opening_hours")
    @classmethod
    def _parsable_hours(cls, value: str | None) -> str | None:
        return None if not value else check_opening_hours(value)

    @field_validator("name", "address")
    @classmethod
    def _no_formula(cls, value: str | None) -> str | None:
        if value is not None and is_formula(value):
            raise ValueError("text may not start like a spreadsheet formula")
        return value


def _site_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "properties"
    if err["type"] == "extra_forbidden":
        return "unknown_field", (
            "properties may only be name, site_type, services, opening_hours and address"
        )
    if err["type"] == "missing":
        return "missing_field", f"{where} is required"
    if where == "opening_hours" or err["type"] == "value_error":
        message = str(err.get("ctx", {}).get("error", "the value is invalid"))
        return "invalid_value", f"{where}: {message}"
    if where == "site_type":
        return "invalid_value", f"site_type must be one of: {', '.join(SiteType)}"
    if where == "services":
        return "invalid_value", f"services must be a non-empty list of: {', '.join(Service)}"
    return "invalid_value", f"{where} has the wrong type or length"


def check_point(
    lon: Any, lat: Any, deployment: Deployment, *, what: str = "the site"
) -> tuple[str, str] | None:
    if type(lon) not in (int, float) or type(lat) not in (int, float):
        return "invalid_geometry", "geometry must be a GeoJSON Point with [longitude, latitude]"
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return "non_finite_coordinates", "coordinates must be finite numbers"
    if abs(lon) > 180 or abs(lat) > 90:
        return "coordinates_out_of_range", "longitude must be within -180..180, latitude -90..90"
    if not deployment.contains([lon], [lat])[0]:
        if abs(lon) <= 90 and deployment.contains([lat], [lon])[0]:
            return "coordinates_swapped", "latitude and longitude look swapped"
        return "outside_service_area", f"{what} lies outside this service's area"
    return None


def _validate_site(
    props: Any, lon: Any, lat: Any, deployment: Deployment
) -> SiteRecord | tuple[str, str]:
    problem = check_point(lon, lat, deployment)
    if problem:
        return problem
    try:
        model = SiteProperties.model_validate(props)
    except ValidationError as exc:
        return _site_error(exc)
    return SiteRecord(
        name=model.name,
        site_type=model.site_type.value,
        services=tuple(sorted({s.value for s in model.services})),
        opening_hours=model.opening_hours,
        address=model.address or None,
        lon=float(lon),
        lat=float(lat),
    )


def sites_from_geojson(
    doc: Any, deployment: Deployment, *, max_rows: int
) -> tuple[list[SiteRecord], list[Rejection]]:
    features = feature_list(
        doc, max_rows, "the body must be a GeoJSON FeatureCollection of Point features"
    )
    accepted: list[SiteRecord] = []
    rejected: list[Rejection] = []
    for i, feature in enumerate(features):
        geometry = feature.get("geometry") if type(feature) is dict else None
        coords = geometry.get("coordinates") if type(geometry) is dict else None
        if (
            type(feature) is not dict
            or feature.get("type") != "Feature"
            or feature.keys() - FEATURE_MEMBERS
        ):
            rejected.append(
                Rejection(
                    i,
                    "invalid_feature",
                    "each item must be a GeoJSON Feature with geometry and properties only",
                )
            )
            continue
        if (
            type(geometry) is not dict
            or geometry.get("type") != "Point"
            or type(coords) is not list
            or len(coords) not in (2, 3)
        ):
            rejected.append(Rejection(i, "invalid_geometry", "geometry must be a GeoJSON Point"))
            continue
        result = _validate_site(feature.get("properties") or {}, coords[0], coords[1], deployment)
        if isinstance(result, SiteRecord):
            accepted.append(result)
        else:
            rejected.append(Rejection(i, *result))
    return accepted, rejected


def read_sites(upload: Upload, deployment: Deployment) -> tuple[list[SiteRecord], list[Rejection]]:
    """Sites from GeoJSON or CSV; in CSV, ``services`` is a list separated by ';' or spaces."""
    if upload.media == "geojson":
        return sites_from_geojson(upload.document, deployment, max_rows=upload.row_limit)
    accepted: list[SiteRecord] = []
    rejected: list[Rejection] = []
    for chunk in csv_chunks(upload, allowed=SITE_CSV_COLUMNS, required=SITE_CSV_REQUIRED):
        got, bad = sites_from_columns(chunk.columns, chunk.errors, chunk.lines, deployment)
        accepted += got
        rejected += [Rejection(r.index + chunk.first_index, r.code, r.detail) for r in bad]
    return accepted, rejected


def sites_from_columns(
    columns: dict[str, list[str]],
    errors: RowErrors,
    lines: list[int],
    deployment: Deployment,
) -> tuple[list[SiteRecord], list[Rejection]]:
    accepted: list[SiteRecord] = []
    rejected: list[Rejection] = []
    for i, line in enumerate(lines):
        if i in errors:
            code, detail = errors[i]
            rejected.append(Rejection(i, code, f"CSV line {line}: {detail}"))
            continue
        lat_text, lon_text = columns["latitude"][i], columns["longitude"][i]
        if not lat_text or not lon_text:
            rejected.append(
                Rejection(
                    i,
                    "missing_coordinates",
                    f"CSV line {line}: latitude and longitude are required",
                )
            )
            continue
        try:
            lat, lon = float(lat_text), float(lon_text)
        except ValueError:
            rejected.append(
                Rejection(
                    i,
                    "invalid_coordinates",
                    f"CSV line {line}: latitude and longitude must be numbers",
                )
            )
            continue
        props = {
            "name": columns["name"][i],
            "site_type": columns["site_type"][i],
            "services": [s for s in columns["services"][i].replace(";", " ").split() if s],
            "opening_hours": columns["opening_hours"][i] or None,
            "address": columns["address"][i] or None,
        }
        result = _validate_site(props, lon, lat, deployment)
        if isinstance(result, SiteRecord):
            accepted.append(result)
        else:
            rejected.append(Rejection(i, result[0], f"CSV line {line}: {result[1]}"))
    return accepted, rejected
