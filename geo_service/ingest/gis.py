"""GIS files (GeoPackage, Shapefile zipped or not, KML, GeoJSON with a CRS) as uploads.

A file is read with geopandas' pyogrio engine, reprojected to WGS 84 and handed on in the
very structures the CSV and GeoJSON readers already take, so every rule, the blur and the
batch protocol judge it exactly like a CSV or a request body:

- points (events, sites, candidates, point exclusions) become CSV text with ``latitude`` and
  ``longitude`` columns, read lazily a chunk at a time like any CSV file, with the command
  line's column mapping applied by the CSV reader itself;
- exclusions become a GeoJSON FeatureCollection, so their polygons keep their shape.

The coordinates live in memory only, as with CSV: the blur happens before anything is stored.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely

from geo_service.errors import Unprocessable
from geo_service.ingest.event_input import CSV_COLUMNS
from geo_service.ingest.layers import CANDIDATE_CSV_COLUMNS, EXCLUSION_CSV_COLUMNS
from geo_service.ingest.sites import SITE_CSV_COLUMNS
from geo_service.ingest.tabular import ColumnMap, Upload

# What the importer reads through geopandas; .json/.geojson only when they name a CRS.
GIS_SUFFIXES = frozenset({".gpkg", ".shp", ".zip", ".kml"})
FORMATS = "GeoPackage (.gpkg), Shapefile (.shp or zipped .zip), KML, GeoJSON or CSV"
WGS84_NAMES = frozenset({"EPSG:4326", "OGC:CRS84", "CRS84", "URN:OGC:DEF:CRS:OGC:1.3:CRS84"})
GIS_CHUNK_ROWS = 50_000  # rows turned into CSV text at a time


@dataclass(frozen=True)
class GisUpload(Upload):
    """An upload read from a GIS file: ``source_crs`` names the CRS it was reprojected from,
    ``not_points`` the rows whose geometry is not a point (events and sites are points)."""

    source_crs: str = "EPSG:4326"
    source: str = ""  # the file's name, for messages
    not_points: frozenset[int] = field(default_factory=frozenset)


def named_crs(document: Any) -> str | None:
    """The legacy ``crs`` member of a GeoJSON document if it names something other than
    WGS 84 longitude/latitude (RFC 7946 GeoJSON has none)."""
    if not isinstance(document, dict) or not isinstance(document.get("crs"), dict):
        return None
    name = document["crs"].get("properties", {})
    name = name.get("name") if isinstance(name, dict) else None
    if not isinstance(name, str):
        return None
    short = name.upper().replace("URN:OGC:DEF:CRS:EPSG::", "EPSG:")
    return None if short in WGS84_NAMES else name


def _read_frame(path: Path) -> Any:
    """The file's first layer in WGS 84, and the CRS it came in, or one clear error."""
    import geopandas  # a second to import: only GIS imports pay for it

    try:
        frame = geopandas.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError and friends, GDAL's messages
        raise Unprocessable(
            f"{path.name}: geopandas cannot read this file ({type(exc).__name__}); save it as "
            f"{FORMATS}",
            code="unreadable_file",
        ) from None
    if len(frame) == 0:
        raise Unprocessable(
            f"{path.name}: the layer has no features; check that you exported the right layer",
            code="empty_layer",
        )
    if frame.crs is None:
        raise Unprocessable(
            f"{path.name}: the file names no coordinate reference system (a Shapefile needs "
            "its .prj); save it with one, EPSG:4326 for longitude/latitude",
            code="missing_crs",
        )
    source = frame.crs.to_string()
    return _untruncated(frame).to_crs(4326), source


def _untruncated(frame: Any) -> Any:
    """Shapefile (dBase) names stop at 10 characters: ``observed_a`` is ``observed_at``."""
    long_names = {
        name[:10]: name
        for name in {
            *CSV_COLUMNS,
            *SITE_CSV_COLUMNS,
            *CANDIDATE_CSV_COLUMNS,
            *EXCLUSION_CSV_COLUMNS,
        }
        if len(name) > 10
    }
    present = {str(c).strip().lower() for c in frame.columns}
    renames = {
        c: long_names[str(c).strip().lower()]
        for c in frame.columns
        if str(c).strip().lower() in long_names
        and long_names[str(c).strip().lower()] not in present
    }
    return frame.rename(columns=renames) if renames else frame


def _kept(frame: Any, allowed: Sequence[str], columns: ColumnMap) -> list[str]:
    """The attribute columns worth reading: those named like an accepted column (compared
    as a CSV header is) or mapped onto one; the rest are never read. Coordinates come from
    the geometry, never from columns."""
    wanted = (set(allowed) | {src.strip().lower() for src in columns.rename.values()}) - {
        "latitude",
        "longitude",
    }
    names = [str(c) for c in frame.columns if c != frame.geometry.name]
    return [n for n in names if n.strip().lower() in wanted]


def _text(value: Any) -> str:
    """A cell as CSV text: missing as blank, times in ISO 8601, newlines flattened so each
    feature is one CSV line (messages then name features by number)."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if hasattr(value, "isoformat"):
        try:
            return str(value.isoformat())
        except ValueError:  # NaT
            return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (np.integer, np.floating)):
        return _text(value.item())
    text = str(value)
    return text.replace("\r", " ").replace("\n", " ")


def _point_lines(frame: Any, names: Sequence[str]) -> Iterator[str]:
    """CSV lines: the header, then one line per feature, built a chunk at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*names, "latitude", "longitude"])
    yield out.getvalue()
    geometry = frame.geometry.to_numpy()
    points = shapely.get_type_id(geometry) == 0  # Point
    x = np.where(points, shapely.get_x(geometry), np.nan)
    y = np.where(points, shapely.get_y(geometry), np.nan)
    for start in range(0, len(frame), GIS_CHUNK_ROWS):
        stop = start + GIS_CHUNK_ROWS
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        cells = [[_text(v) for v in frame[name].iloc[start:stop].tolist()] for name in names]
        lat = [_text(v) for v in y[start:stop].tolist()]
        lon = [_text(v) for v in x[start:stop].tolist()]
        writer.writerows(zip(*cells, lat, lon, strict=True))
        yield from out.getvalue().splitlines(keepends=True)


def point_upload(
    path: Path, allowed: Sequence[str], columns: ColumnMap, max_rows: int | None = None
) -> GisUpload:
    """Events, sites or candidates from a GIS file: the points as CSV text in WGS 84, with
    the columns that map onto ``allowed``."""
    frame, source = _read_frame(path)
    geometry = frame.geometry.to_numpy()
    not_points = frozenset(np.flatnonzero(shapely.get_type_id(geometry) != 0).tolist())
    return GisUpload(
        "csv",
        lines=_point_lines(frame, _kept(frame, allowed, columns)),
        columns=columns,
        max_rows=max_rows,
        source_crs=source,
        source=path.name,
        not_points=not_points,
    )


def feature_upload(
    path: Path, allowed: Sequence[str], columns: ColumnMap, max_rows: int | None = None
) -> GisUpload:
    """Exclusions from a GIS file: a GeoJSON FeatureCollection in WGS 84 whose properties
    are the file's columns that map (by name, as in a CSV header) onto ``allowed``; others
    are left unread."""
    frame, source = _read_frame(path)
    wanted = {dst: src.strip().lower() for dst, src in columns.rename.items()}
    by_name = {str(c).strip().lower(): str(c) for c in _kept(frame, allowed, columns)}
    picked = {
        name: by_name[wanted.get(name, name)]
        for name in allowed
        if wanted.get(name, name) in by_name
    }
    features = []
    for i, geometry in enumerate(frame.geometry.to_numpy()):
        props = {name: columns.constants[name] for name in allowed if name in columns.constants}
        for name, src in picked.items():
            text = _text(frame[src].iat[i])
            if text:
                props.setdefault(name, text)
        shaped = None if geometry is None else orjson.loads(shapely.to_geojson(geometry))
        features.append({"type": "Feature", "geometry": shaped, "properties": props})
    return GisUpload(
        "geojson",
        document={"type": "FeatureCollection", "features": features},
        columns=columns,
        max_rows=max_rows,
        source_crs=source,
        source=path.name,
    )


def is_gis_file(path: Path) -> bool:
    return path.suffix.lower() in GIS_SUFFIXES
