"""Request-body schemas for the OpenAPI document (the routes parse bodies themselves)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo_service.ingest.sites import SiteProperties
from geo_service.settings import EventKind


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(
        min_length=2, max_length=3, description="[longitude, latitude] in WGS 84"
    )


class EventProperties(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: EventKind
    observed_at: str = Field(
        description="RFC 3339 date-time with offset, or a date alone (then the whole local day)"
    )
    count: int = Field(default=1, ge=1, le=10_000)
    source: Literal["peer", "outreach", "ems", "er", "city", "other"] | None = None
    fatal: bool | None = Field(default=None, description="overdoses only")
    naloxone_doses: int | None = Field(default=None, ge=0, description="overdoses only")
    naloxone_given: bool | None = Field(default=None, description="overdoses only")
    place_type: (
        Literal["street", "park", "playground", "school", "transit", "private", "other"] | None
    ) = Field(default=None, description="needle reports only")


class PhoneReport(BaseModel):
    """One report from the phone: a grid square and a time bucket, never a position.

    Fields other than ``type``, ``cell`` and ``bucket`` belong to one type each (see their
    descriptions); any other field, a position above all, is refused."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["needles_here", "cleanup_done", "overdose_helped", "supplies_needed"]
    cell: str = Field(
        pattern=r"^\d{1,6}:-?\d{1,9}:-?\d{1,9}$",
        description="the square the phone snapped to: cell size in metres:column:row of the "
        "program's grid (the size of the type's kind: needles, clean-ups and supplies on the "
        "needle grid, overdoses on the overdose grid)",
        examples=["125:2524:48577"],
    )
    bucket: str = Field(
        description="the start of a local hour with its offset (2026-05-01T14:00-05:00), or a "
        "date for 'earlier today' or 'yesterday' (the whole local day); at most 48 hours back",
    )
    count: Literal["1", "2-5", "6-20", "more"] | None = Field(
        default=None,
        description="needles_here, cleanup_done: the stepper; stored as 1, 3, 13 and 21",
    )
    picked_up: bool | None = Field(default=None, description="needles_here")
    place: Literal["park", "lane", "stairwell", "building", "other"] | None = Field(
        default=None, description="needles_here"
    )
    minutes: int | None = Field(default=None, ge=1, le=480, description="cleanup_done")
    naloxone_doses: int | None = Field(
        default=None, ge=0, le=5, description="overdose_helped: 5 means five or more"
    )
    outcome: Literal["ok", "hospital", "died"] | None = Field(
        default=None, description="overdose_helped"
    )
    supplies: list[Literal["needles", "naloxone", "pipes", "sharps_bin"]] | None = Field(
        default=None, min_length=1, description="supplies_needed"
    )


class EventFeature(BaseModel):
    type: Literal["Feature"]
    geometry: PointGeometry
    properties: EventProperties


class EventFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[EventFeature]


class SiteFeature(BaseModel):
    type: Literal["Feature"]
    geometry: PointGeometry
    properties: SiteProperties


class SiteFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[SiteFeature]


def _body(model: type[BaseModel], csv_columns: str) -> dict[str, Any]:
    # A reference: the model and the schemas it uses are added to the document's components
    # (geo_service.models.components), so every reference in the document resolves.
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    file_part = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
    return {
        "required": True,
        "content": {
            "application/geo+json": {"schema": schema},
            "text/csv": {"schema": {"type": "string", "description": f"columns: {csv_columns}"}},
            "multipart/form-data": {"schema": file_part},
        },
    }


EVENTS_REQUEST_BODY = _body(
    EventFeatureCollection,
    "kind, observed_at, latitude, longitude, count, source, fatal, naloxone_doses, "
    "naloxone_given, place_type",
)
SITES_REQUEST_BODY = _body(
    SiteFeatureCollection,
    "name, site_type, services (separated by ';'), opening_hours, address, latitude, longitude",
)
REPORTS_REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PhoneReport"}}},
}
