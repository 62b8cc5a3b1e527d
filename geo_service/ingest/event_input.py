"""Events as sent, before any rule: GeoJSON features or CSV columns into :class:`RawEvents`.

Structural problems (not a Feature, an unknown member, a malformed row) are recorded per row;
the rules are :mod:`geo_service.ingest.events`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo_service.deployment import Deployment
from geo_service.errors import PayloadTooLarge, Unprocessable
from geo_service.ingest.tabular import (
    FEATURE_MEMBERS,
    RowErrors,
    Upload,
    csv_chunks,
    local_times,
    parse_coordinate_text,
)

PROPERTIES = frozenset(
    {"kind", "observed_at", "count", "source", "fatal", "naloxone_doses", "place_type"}
)
CSV_COLUMNS = (
    "kind",
    "observed_at",
    "latitude",
    "longitude",
    "count",
    "source",
    "fatal",
    "naloxone_doses",
    "place_type",
)
CSV_REQUIRED = ("kind", "observed_at", "latitude", "longitude")
FloatArray = npt.NDArray[np.float64]


@dataclass
class RawEvents:
    """Submitted rows as columns, before validation. ``errors`` holds structural problems."""

    lon: FloatArray
    lat: FloatArray
    kind: list[Any]
    observed_at: list[Any]
    count: list[Any]
    source: list[Any]
    fatal: list[Any]
    naloxone_doses: list[Any]
    place_type: list[Any]
    text_values: bool  # True for CSV: every value is a string still to be parsed
    errors: RowErrors = field(default_factory=dict)
    lines: list[int] | None = None  # CSV line of each row, for messages
    observed_utc: pd.DatetimeIndex | None = None  # already parsed (CLI --time-format)

    def __len__(self) -> int:
        return len(self.kind)


def _none_list(n: int) -> list[Any]:
    return [None] * n


def events_from_geojson(doc: Any, *, max_rows: int) -> RawEvents:
    """Read a GeoJSON FeatureCollection of Points. Raises for a body that is not one."""
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise Unprocessable(
            "the body must be a GeoJSON FeatureCollection (RFC 7946) whose features are Points",
            code="not_a_feature_collection",
        )
    features = doc.get("features")
    if not isinstance(features, list):
        raise Unprocessable(
            "'features' must be a list of GeoJSON Features", code="not_a_feature_collection"
        )
    if len(features) > max_rows:
        raise PayloadTooLarge(
            f"a batch may hold at most {max_rows} features; split it into smaller batches"
        )
    n = len(features)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    cols: dict[str, list[Any]] = {name: _none_list(n) for name in PROPERTIES}
    errors: dict[int, tuple[str, str]] = {}
    for i, feature in enumerate(features):
        if type(feature) is not dict or feature.get("type") != "Feature":
            errors[i] = ("invalid_feature", "each item of 'features' must be a GeoJSON Feature")
            continue
        if feature.keys() - FEATURE_MEMBERS:
            errors[i] = (
                "unknown_field",
                "a Feature may only have type, geometry and properties "
                "members; nothing that could identify a person is accepted",
            )
            continue
        geometry = feature.get("geometry")
        coords = geometry.get("coordinates") if type(geometry) is dict else None
        if (
            type(geometry) is not dict
            or geometry.get("type") != "Point"
            or type(coords) is not list
            or len(coords) not in (2, 3)
            or type(coords[0]) not in (int, float)
            or type(coords[1]) not in (int, float)
        ):
            errors[i] = (
                "invalid_geometry",
                "geometry must be a GeoJSON Point with [longitude, latitude] numbers",
            )
            continue
        lon[i] = coords[0]
        lat[i] = coords[1]
        props = feature.get("properties")
        if props is None:
            props = {}
        if type(props) is not dict:
            errors[i] = ("invalid_feature", "properties must be a JSON object")
            continue
        if props.keys() - PROPERTIES:
            errors[i] = (
                "unknown_field",
                "properties may only be kind, observed_at, count, source, fatal, "
                "naloxone_doses and place_type; names, contact details, notes, photos "
                "and device ids are never accepted",
            )
            continue
        for name, value in props.items():
            cols[name][i] = value
    return RawEvents(
        lon=lon,
        lat=lat,
        kind=cols["kind"],
        observed_at=cols["observed_at"],
        count=cols["count"],
        source=cols["source"],
        fatal=cols["fatal"],
        naloxone_doses=cols["naloxone_doses"],
        place_type=cols["place_type"],
        text_values=False,
        errors=errors,
    )


def events_from_columns(
    columns: dict[str, list[str]],
    errors: dict[int, tuple[str, str]],
    lines: list[int] | None,
    observed_utc: pd.DatetimeIndex | None = None,
) -> RawEvents:
    """Build raw events from CSV-like string columns (API upload or CLI import)."""
    lat, lat_errors = parse_coordinate_text(columns["latitude"])
    lon, lon_errors = parse_coordinate_text(columns["longitude"])
    for i, err in {**lon_errors, **lat_errors}.items():
        errors.setdefault(i, err)
    n = len(lat)

    def get(name: str) -> list[str]:
        return columns.get(name) or [""] * n

    return RawEvents(
        lon=lon,
        lat=lat,
        kind=get("kind"),
        observed_at=get("observed_at"),
        count=get("count"),
        source=get("source"),
        fatal=get("fatal"),
        naloxone_doses=get("naloxone_doses"),
        place_type=get("place_type"),
        text_values=True,
        errors=errors,
        lines=lines,
        observed_utc=observed_utc,
    )


def read_events(upload: Upload, deployment: Deployment) -> Iterator[tuple[int, RawEvents]]:
    """An upload's events as ``(index of the first row, raw rows)``, one chunk at a time."""
    if upload.media == "geojson":
        yield 0, events_from_geojson(upload.document, max_rows=upload.row_limit)
        return
    time_format = upload.columns.time_format
    for chunk in csv_chunks(upload, allowed=CSV_COLUMNS, required=CSV_REQUIRED):
        observed = None
        if time_format:
            observed = local_times(chunk.columns["observed_at"], time_format, deployment.tz)
        raw = events_from_columns(chunk.columns, chunk.errors, chunk.lines, observed)
        yield chunk.first_index, raw
