"""The deployment: service area, projected CRS, grid and time buckets, built from settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from analysis.grid import Grid
from analysis.projection import check_projected_crs, utm_crs_for
from geo_service.errors import ConfigurationError
from geo_service.settings import EventKind, Settings


def _load_area_file(settings: Settings) -> BaseGeometry:
    assert settings.service_area_file is not None
    try:
        data = json.loads(settings.service_area_file.read_text(encoding="utf-8"))
        if data.get("type") == "FeatureCollection":
            geoms = [shape(f["geometry"]) for f in data["features"]]
            area = shapely.union_all(geoms)
        elif data.get("type") == "Feature":
            area = shape(data["geometry"])
        else:
            area = shape(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(
            "GEO_SERVICE_SERVICE_AREA_FILE must be a GeoJSON Polygon, MultiPolygon, Feature or "
            f"FeatureCollection in longitude/latitude ({type(exc).__name__})"
        ) from None
    if area.geom_type not in ("Polygon", "MultiPolygon") or area.is_empty or not area.is_valid:
        raise ConfigurationError(
            "GEO_SERVICE_SERVICE_AREA_FILE must hold a valid, non-empty polygon"
        )
    return area


@dataclass(frozen=True)
class Deployment:
    """Everything ingest needs to place an event: area, CRS, grid, buckets, time zone."""

    settings: Settings

    @cached_property
    def service_area(self) -> BaseGeometry:
        if self.settings.service_area_file is not None:
            area = _load_area_file(self.settings)
        else:
            area = box(*self.settings.service_area_bbox)
        shapely.prepare(area)
        return area

    @cached_property
    def crs(self) -> str:
        if self.settings.projected_crs:
            try:
                return check_projected_crs(self.settings.projected_crs)
            except ValueError as exc:
                raise ConfigurationError(f"GEO_SERVICE_PROJECTED_CRS: {exc}") from None
        centre = self.service_area.centroid
        return utm_crs_for(centre.x, centre.y)

    @property
    def grid(self) -> Grid:
        return self.settings.grid

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def cell_m(self, kind: EventKind) -> int:
        return self.settings.cell_m(kind)

    def bucket_hours(self, kind: EventKind) -> int:
        return self.settings.bucket_hours(kind)

    def contains(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which lon/lat points fall inside (or on the edge of) the service area."""
        lon_a = np.asarray(lon, dtype=np.float64)
        lat_a = np.asarray(lat, dtype=np.float64)
        return np.asarray(shapely.intersects_xy(self.service_area, lon_a, lat_a), dtype=bool)

    def grid_record(self) -> dict[str, Any]:
        """The parameters that decide where events snap; frozen into the database."""
        return {
            "projected_crs": self.crs,
            "grid_origin_x_m": self.grid.origin_x_m,
            "grid_origin_y_m": self.grid.origin_y_m,
            "grid_base_cell_m": self.grid.base_cell_m,
            "cell_m": {kind.value: self.cell_m(kind) for kind in EventKind},
            "bucket_hours": {kind.value: self.bucket_hours(kind) for kind in EventKind},
            "timezone": self.settings.timezone,
        }
