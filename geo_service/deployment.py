"""A program's deployment: service area, projected CRS, grid and time buckets.

Built from a program's :class:`Geography` (or, given none, from the settings' defaults);
the settings still supply what is not geography (limits, retention).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from analysis.grid import Grid, IntArray, cell_bounds, snap_to_cells
from analysis.projection import to_lonlat, to_metres
from geo_service.geography import Geography
from geo_service.settings import EventKind, Settings

if TYPE_CHECKING:
    from geo_service.geojson import Geometry


@dataclass(frozen=True)
class Deployment:
    """Everything ingest needs to place an event: area, CRS, grid, buckets, time zone.

    ``Deployment(settings)`` is the deployment's defaults; ``Deployment(settings, geography)``
    a program's own. The geography is read lazily, so bad settings fail where they are used.
    """

    settings: Settings
    given: Geography | None = None

    @cached_property
    def geography(self) -> Geography:
        if self.given is not None:
            return self.given
        return Geography.from_settings(self.settings)

    @cached_property
    def service_area(self) -> BaseGeometry:
        area = shapely.from_wkb(shapely.to_wkb(self.geography.area))  # prepared: a copy
        shapely.prepare(area)
        return area

    @property
    def crs(self) -> str:
        return self.geography.crs

    @property
    def grid(self) -> Grid:
        return self.geography.grid

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.geography.timezone)

    @property
    def timezone(self) -> str:
        return self.geography.timezone

    def cell_m(self, kind: EventKind) -> int:
        return self.geography.cell_sizes[kind]

    def bucket_hours(self, kind: EventKind) -> int:
        return self.geography.bucket_sizes[kind]

    def contains(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which lon/lat points fall inside (or on the edge of) the service area."""
        lon_a = np.asarray(lon, dtype=np.float64)
        lat_a = np.asarray(lat, dtype=np.float64)
        return np.asarray(shapely.intersects_xy(self.service_area, lon_a, lat_a), dtype=bool)

    @cached_property
    def service_area_m(self) -> BaseGeometry:
        """The service area in projected metres (edges densified so they bend with the CRS)."""
        dense = shapely.segmentize(self.service_area, max_segment_length=0.001)

        def project(lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            x, y = to_metres(lonlat[:, 0], lonlat[:, 1], crs=self.crs)
            return np.column_stack([x, y])

        area = shapely.transform(dense, project)
        shapely.prepare(area)
        return area

    @cached_property
    def _study_cells(self) -> dict[int, tuple[IntArray, IntArray]]:
        return {}

    def study_cells(self, cell_m: int) -> tuple[IntArray, IntArray]:
        """Every cell of size ``cell_m`` touching the service area: the analysis' study area."""
        if cell_m not in self._study_cells:
            self.grid.check_cell_size(cell_m)
            xmin, ymin, xmax, ymax = self.service_area_m.bounds
            (ix0, ix1), (iy0, iy1) = snap_to_cells(
                [xmin, xmax], [ymin, ymax], grid=self.grid, cell_m=cell_m
            )
            gx, gy = np.meshgrid(np.arange(ix0, ix1 + 1), np.arange(iy0, iy1 + 1))
            ix, iy = gx.ravel(), gy.ravel()
            boxes = shapely.box(*cell_bounds(ix, iy, grid=self.grid, cell_m=cell_m))
            inside = shapely.intersects(self.service_area_m, boxes)
            self._study_cells[cell_m] = (ix[inside], iy[inside])
        return self._study_cells[cell_m]

    @property
    def shorter_side_m(self) -> float:
        xmin, ymin, xmax, ymax = self.service_area_m.bounds
        return float(min(xmax - xmin, ymax - ymin))

    def cell_rings(
        self, ix: IntArray, iy: IntArray, cell_m: npt.ArrayLike
    ) -> list[list[list[float]]]:
        """Each cell as a closed GeoJSON ring in WGS 84 (6 decimals ≈ 0.1 m)."""
        if len(ix) == 0:
            return []
        size = np.broadcast_to(np.asarray(cell_m, dtype=np.float64), ix.shape)
        xmin = self.grid.origin_x_m + ix * size
        ymin = self.grid.origin_y_m + iy * size
        xs = np.stack([xmin, xmin + size, xmin + size, xmin, xmin], axis=1)
        ys = np.stack([ymin, ymin, ymin + size, ymin + size, ymin], axis=1)
        lon, lat = to_lonlat(xs.ravel(), ys.ravel(), crs=self.crs)
        rings: list[list[list[float]]] = (
            np.round(np.stack([lon, lat], axis=1), 6).reshape(len(ix), 5, 2).tolist()
        )
        return rings

    def to_geojson_geometry(self, geometry_m: BaseGeometry) -> Geometry:
        """A projected shapely geometry as a GeoJSON geometry in WGS 84."""

        def unproject(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            lon, lat = to_lonlat(xy[:, 0], xy[:, 1], crs=self.crs)
            rounded: npt.NDArray[np.float64] = np.column_stack([lon, lat]).round(6)
            return rounded

        mapped: Geometry = mapping(shapely.transform(geometry_m, unproject))
        return mapped

    def to_lonlat_point(self, x_m: float, y_m: float) -> list[float]:
        lon, lat = to_lonlat(np.array([x_m]), np.array([y_m]), crs=self.crs)
        return [round(float(lon[0]), 6), round(float(lat[0]), 6)]

    def grid_record(self) -> dict[str, Any]:
        """The parameters that decide where events snap; frozen into the database."""
        return {
            "projected_crs": self.crs,
            "grid_origin_x_m": self.grid.origin_x_m,
            "grid_origin_y_m": self.grid.origin_y_m,
            "grid_base_cell_m": self.grid.base_cell_m,
            "cell_m": {kind.value: self.cell_m(kind) for kind in EventKind},
            "bucket_hours": {kind.value: self.bucket_hours(kind) for kind in EventKind},
            "timezone": self.timezone,
        }
