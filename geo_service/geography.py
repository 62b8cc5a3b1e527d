"""A program's geography as one frozen value: area, projected CRS, time zone and grid.

Built from the ``GEO_SERVICE_*`` settings (the deployment's defaults, which a new program
takes at creation and then keeps) or from a program's stored row. :class:`Deployment` is
made from one of these, per program.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from analysis.grid import Grid
from analysis.projection import check_projected_crs, utm_crs_for
from geo_service.errors import ConfigurationError
from geo_service.settings import EventKind, Settings
from geo_service.storage.records import StoredGeography

if TYPE_CHECKING:
    from collections.abc import Mapping


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


def settings_area(settings: Settings) -> BaseGeometry:
    """The default service area: the polygon file if set, else the bbox."""
    if settings.service_area_file is not None:
        return _load_area_file(settings)
    return box(*settings.service_area_bbox)


def settings_crs(settings: Settings, area: BaseGeometry) -> str:
    if settings.projected_crs:
        try:
            return check_projected_crs(settings.projected_crs)
        except ValueError as exc:
            raise ConfigurationError(f"GEO_SERVICE_PROJECTED_CRS: {exc}") from None
    return default_crs(area)


def default_crs(area: BaseGeometry) -> str:
    """The UTM zone of the area's centroid."""
    centre = area.centroid
    return utm_crs_for(centre.x, centre.y)


@dataclass(frozen=True, eq=False)
class Geography:
    """Where a program's events may come from and how they are placed and bucketed."""

    area: BaseGeometry  # polygon or multipolygon, WGS 84 longitude/latitude
    crs: str  # projected, in metres
    timezone: str  # IANA
    grid: Grid
    cell_sizes: Mapping[EventKind, int]
    bucket_sizes: Mapping[EventKind, int]

    @classmethod
    def from_settings(cls, settings: Settings, *, area: BaseGeometry | None = None) -> Geography:
        """The deployment's defaults (``area`` replaces the settings' area, CRS then follows
        it unless GEO_SERVICE_PROJECTED_CRS is set)."""
        chosen = area if area is not None else settings_area(settings)
        return cls(
            area=chosen,
            crs=settings_crs(settings, chosen),
            timezone=settings.timezone,
            grid=settings.grid,
            cell_sizes=MappingProxyType({k: settings.cell_m(k) for k in EventKind}),
            bucket_sizes=MappingProxyType({k: settings.bucket_hours(k) for k in EventKind}),
        )

    @classmethod
    def from_stored(cls, stored: StoredGeography) -> Geography:
        return cls(
            area=shape(json.loads(stored.area_geojson)),
            crs=stored.projected_crs,
            timezone=stored.timezone,
            grid=Grid(
                origin_x_m=stored.grid_origin_x_m,
                origin_y_m=stored.grid_origin_y_m,
                base_cell_m=stored.grid_base_cell_m,
            ),
            cell_sizes=MappingProxyType({k: stored.cell_m[k.value] for k in EventKind}),
            bucket_sizes=MappingProxyType({k: stored.bucket_hours[k.value] for k in EventKind}),
        )

    def stored(self) -> StoredGeography:
        return StoredGeography(
            area_geojson=json.dumps(mapping(self.area)),
            projected_crs=self.crs,
            timezone=self.timezone,
            grid_origin_x_m=self.grid.origin_x_m,
            grid_origin_y_m=self.grid.origin_y_m,
            grid_base_cell_m=self.grid.base_cell_m,
            cell_m={k.value: v for k, v in self.cell_sizes.items()},
            bucket_hours={k.value: v for k, v in self.bucket_sizes.items()},
        )

    def replace(self, **changes: Any) -> Geography:
        values = {
            "area": self.area,
            "crs": self.crs,
            "timezone": self.timezone,
            "grid": self.grid,
            "cell_sizes": self.cell_sizes,
            "bucket_sizes": self.bucket_sizes,
        }
        return Geography(**(values | changes))

    @cached_property
    def stamp(self) -> str:
        """A short digest of everything here: equal stamps, equal geographies."""
        text = json.dumps(self.stored().__dict__, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Geography) and self.stamp == other.stamp

    def __hash__(self) -> int:
        return hash(self.stamp)
