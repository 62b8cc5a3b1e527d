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
    ImportNotes,
    RowErrors,
    Upload,
    csv_chunks,
    local_times,
    parse_coordinate_text,
)

PROPERTIES = frozenset(
    {
        "kind",
        "observed_at",
        "count",
        "source",
        "fatal",
        "naloxone_doses",
        "naloxone_given",
        "place_type",
    }
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
    "naloxone_given",
    "place_type",
)
TIME_OF_DAY = "time_of_day"  # the command line's --time-column time=COL, beside a date
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%T", "%R", "%X", "%c")
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
    naloxone_given: list[Any] | None = None
    day_only: npt.NDArray[np.bool_] | None = None  # a date without a time of day
    drop_duplicates: bool = False  # the command line's --drop-duplicates
    notes: ImportNotes | None = None  # counts what the command line reports

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
                "naloxone_doses, naloxone_given and place_type; names, contact details, notes, "
                "photos and device ids are never accepted",
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
        naloxone_given=cols["naloxone_given"],
    )


def events_from_columns(
    columns: dict[str, list[str]],
    errors: dict[int, tuple[str, str]],
    lines: list[int] | None,
    observed_utc: pd.DatetimeIndex | None = None,
    day_only: npt.NDArray[np.bool_] | None = None,
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
        naloxone_given=get("naloxone_given"),
        day_only=day_only,
    )


def date_format(time_format: str) -> str:
    """The date part of a date-and-time format: what comes before its first time directive."""
    cut = min((time_format.find(d) for d in _TIME_DIRECTIVES if d in time_format), default=-1)
    return time_format if cut < 0 else time_format[:cut].strip()


def _observed(
    columns: dict[str, list[str]], time_format: str | None, tz: Any
) -> tuple[pd.DatetimeIndex | None, npt.NDArray[np.bool_] | None]:
    """Times read by the command line's options, and which rows have a date only.

    A row whose time-of-day cell is blank, or a format without hours, is a day: stored as
    that whole local day, never as midnight. No option: observed_at is RFC 3339 (or a bare
    date), read by the rules."""
    dates = columns["observed_at"]
    if TIME_OF_DAY not in columns:
        if time_format is None:
            return None, None
        observed = local_times(dates, time_format, tz)
        day = date_format(time_format) == time_format
        return observed, np.full(len(dates), day, dtype=bool)
    times = columns[TIME_OF_DAY]
    day_only = np.fromiter((not t.strip() for t in times), dtype=bool, count=len(times))
    combined = [
        d if no_time else f"{d} {t}" for d, t, no_time in zip(dates, times, day_only, strict=True)
    ]
    full = time_format or "ISO8601"
    observed = local_times(combined, full, tz)
    if day_only.any():
        dated = local_times(
            [d for d, no_time in zip(dates, day_only, strict=True) if no_time],
            date_format(full) if time_format else "ISO8601",
            tz,
        )
        values = observed.to_numpy(copy=True)
        values[day_only] = dated.to_numpy()
        observed = pd.DatetimeIndex(values, tz="UTC")
    return observed, day_only


def read_events(upload: Upload, deployment: Deployment) -> Iterator[tuple[int, RawEvents]]:
    """An upload's events as ``(index of the first row, raw rows)``, one chunk at a time."""
    if upload.media == "geojson":
        yield 0, events_from_geojson(upload.document, max_rows=upload.row_limit)
        return
    columns = upload.columns
    extra = (TIME_OF_DAY,) if TIME_OF_DAY in columns.rename else ()
    for chunk in csv_chunks(upload, allowed=CSV_COLUMNS + extra, required=CSV_REQUIRED + extra):
        observed, day_only = _observed(chunk.columns, columns.time_format, deployment.tz)
        raw = events_from_columns(chunk.columns, chunk.errors, chunk.lines, observed, day_only)
        raw.drop_duplicates = columns.drop_duplicates
        raw.notes = columns.notes
        yield chunk.first_index, raw
