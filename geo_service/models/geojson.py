"""The GeoJSON answers' schemas: events as grid cells, sites, context layers, releases and
hot spots. Coordinates are WGS 84 longitude, latitude; nothing finer than a cell is sent."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from geo_service.models.basis import AnswerBasis
from geo_service.settings import EventKind


class Geometry(BaseModel):
    """A GeoJSON geometry: cells are Polygons, sites and stops Points, paths LineStrings."""

    type: Literal["Point", "LineString", "Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(description="GeoJSON coordinates, [longitude, latitude]")


class Link(BaseModel):
    rel: str = Field(description="'next': the following page")
    type: str
    href: str


class EventCellProperties(BaseModel):
    kind: EventKind | Literal["supplies_needed"] = Field(
        description="supplies_needed: a phone report asking for supplies in that square"
    )
    cell: str = Field(description="cell_m:ix:iy")
    cell_m: int
    bucket_start: str = Field(description="RFC 3339, UTC")
    bucket_end: str = Field(description="RFC 3339, UTC")
    count: int
    source: str | None
    batch_id: str | None
    fatal: bool | None = Field(default=None, description="overdoses only")
    naloxone_doses: int | None = Field(default=None, description="overdoses only")
    naloxone_given: bool | None = Field(default=None, description="overdoses only")
    place_type: str | None = Field(default=None, description="needle reports only")
    time_precision: Literal["hour", "day"] = Field(
        default="hour", description="day: a date only, the bucket is the whole local day"
    )
    picked_up: bool | None = Field(default=None, description="phone needle reports only")
    minutes: int | None = Field(default=None, description="phone clean-up reports only")
    outcome: Literal["ok", "hospital", "died"] | None = Field(
        default=None, description="phone overdose reports only"
    )
    supplies: str | None = Field(
        default=None, description="supplies_needed: kinds, comma-separated"
    )


class EventCell(BaseModel):
    """One stored event: its grid cell and time bucket, never a finer place or time."""

    type: Literal["Feature"]
    id: int
    geometry: Geometry
    properties: EventCellProperties


class EventCellCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[EventCell]
    numberReturned: int  # noqa: N815 (the OGC API name)
    links: list[Link] = Field(description="a 'next' link while more pages follow")


class AggregateCellProperties(BaseModel):
    record: Literal["monthly_aggregate"]
    kind: EventKind
    cell: str
    month: str = Field(description="YYYY-MM")
    count: int


class AggregateCell(BaseModel):
    """A monthly aggregate that retention left in place of older events."""

    type: Literal["Feature"]
    geometry: Geometry
    properties: AggregateCellProperties


class ExportCollection(BaseModel):
    """Every stored event as its cell and bucket, then the monthly aggregates."""

    type: Literal["FeatureCollection"]
    features: list[EventCell | AggregateCell]


class ServiceSiteProperties(BaseModel):
    name: str
    site_type: str
    services: list[str]
    opening_hours: str | None = Field(description="OSM opening_hours syntax")
    address: str | None


class ServiceSite(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: Geometry
    properties: ServiceSiteProperties


class ServiceSiteCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[ServiceSite]
    numberReturned: int  # noqa: N815 (the OGC API name)


class ContextProperties(BaseModel):
    """A candidate (``candidate_type``, ``notes``) or an exclusion (``exclusion_type``,
    ``buffer_m``)."""

    name: str
    candidate_type: str | None = None
    notes: str | None = None
    exclusion_type: str | None = None
    buffer_m: float | None = None


class ContextFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: Geometry
    properties: ContextProperties


class ContextCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[ContextFeature]
    numberReturned: int  # noqa: N815 (the OGC API name)


class ReleaseProperties(BaseModel):
    count: int
    cell_m: int
    needles: int | None = Field(default=None, description="needle reports: needles counted")


class ReleasedCell(BaseModel):
    type: Literal["Feature"]
    id: str = Field(description="cell_m:ix:iy")
    geometry: Geometry
    properties: ReleaseProperties


class ReleaseCounts(BaseModel):
    features: int
    events_shown: int
    events: int | None = Field(default=None, description="managers and stewards")
    share_shown: float | None = Field(default=None, description="managers and stewards")


class ReleaseSummary(BaseModel):
    kind: EventKind
    period: str
    audience: str
    cell_m: int = Field(description="the smallest square shown, in metres")
    k: int
    drop_top_keys: int
    rule: str
    released_on: str
    counts: ReleaseCounts
    basis: AnswerBasis
    warnings: list[str]
    content_hash: str | None = Field(default=None, description="managers and stewards")


class ReleaseCollection(BaseModel):
    """The released cells of one kind and period, as an audience sees them."""

    type: Literal["FeatureCollection"]
    features: list[ReleasedCell]
    summary: ReleaseSummary


class HotspotProperties(BaseModel):
    """Per method: gi_star cells (count, gi_class, confidence; managers also gi_z, p-values,
    neighbours), dbscan/hdbscan clusters (rank, count, share, cells, centroid, buckets),
    density cells (level; managers also density and count)."""

    count: int | None = None
    cell_m: int | None = None
    gi_class: int | None = Field(default=None, description="-3..3: cold to hot, 0 neither")
    confidence: str | None = None
    gi_z: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    neighbours: int | None = None
    rank: int | None = None
    share: float | None = None
    cells: int | None = None
    centroid: list[float] | None = None
    first_bucket_start: str | None = None
    last_bucket_end: str | None = None
    level: int | None = Field(default=None, description="density: 1..10")
    density: float | None = None


class HotspotFeature(BaseModel):
    type: Literal["Feature"]
    id: str = Field(description="a cell (cell_m:ix:iy) or a cluster (cluster-N)")
    geometry: Geometry
    properties: HotspotProperties


class HotspotSummary(BaseModel):
    method: str
    kind: EventKind
    datetime: list[str | None] = Field(description="[start, end] of the window, UTC")
    parameters: dict[str, Any] = Field(description="the parameters used, defaults included")
    audience: str
    warnings: list[str]
    period: str | None = None
    released_on: str | None = None
    counts: dict[str, Any]
    basis: AnswerBasis


class HotspotCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[HotspotFeature]
    summary: HotspotSummary
