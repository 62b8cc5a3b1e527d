"""A program's area from a GIS file (GeoJSON, GeoPackage, Shapefile, KML) through geopandas.

Whatever the file's CRS, the area comes back as one polygon or multipolygon in WGS 84 (the
union of all of the layer's polygons); every way a file can be unusable is an
:class:`AreaError` naming the file, what is wrong and what to do.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from analysis.projection import check_projected_crs
from geo_service.errors import InvalidParameter

# Larger than a province or state is not a community's service area (Manitoba: 650,000 km²).
MAX_AREA_KM2 = 1_000_000
FORMATS = "GeoJSON, GeoPackage, Shapefile or KML"
# Points sampled across an area to find its time zones (edges plus an interior lattice).
ZONE_SAMPLES = 24


class AreaError(InvalidParameter):
    """An area file, CRS or time zone that cannot be used; ``detail`` says what to do."""


def read_area(path: Path) -> BaseGeometry:
    """The union of the file's polygons in WGS 84, repaired with ``make_valid`` if needed."""
    import geopandas  # a second to import: only the commands that read areas pay for it

    if not path.is_file():
        raise AreaError(f"{path}: no such file; give the path of a {FORMATS} file")
    try:
        frame = geopandas.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises DataSourceError and friends, GDAL's messages
        raise AreaError(
            f"{path}: geopandas cannot read this file ({type(exc).__name__}); save the area as "
            f"{FORMATS}"
        ) from None
    shapes = [g for g in frame.geometry if g is not None and not g.is_empty]
    if len(frame) == 0 or not shapes:
        raise AreaError(f"{path}: the layer has no features; draw the area's boundary in it")
    if frame.crs is None:
        raise AreaError(
            f"{path}: the file names no coordinate reference system; save it with one "
            "(EPSG:4326 for longitude/latitude)"
        )
    kinds = sorted({g.geom_type for g in shapes} - {"Polygon", "MultiPolygon"})
    if kinds:
        raise AreaError(
            f"{path}: the area must be polygons, the file holds {', '.join(kinds)}; give the "
            "boundary of the area as a polygon"
        )
    lonlat = frame[frame.geometry.notna()].to_crs(4326).geometry
    return checked_area(path, shapely.union_all([polygonal(g) for g in lonlat]))


def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """The polygons of a geometry after ``make_valid`` (a bow tie becomes two triangles; a
    polygon collapsed to a line becomes nothing)."""
    repaired = shapely.make_valid(geometry)
    parts = shapely.get_parts(repaired)
    polygons = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polygons) if polygons else shapely.Polygon()


def checked_area(path: Path, area: BaseGeometry) -> BaseGeometry:
    """The area, if it encloses something and is not larger than a province."""
    if area.is_empty or area.area == 0:
        raise AreaError(
            f"{path}: the polygons enclose no area, even after repair (self-intersecting or "
            "collapsed); redraw the boundary"
        )
    km2 = area_km2(area)
    if km2 > MAX_AREA_KM2:
        raise AreaError(
            f"{path}: the area covers {km2:,.0f} km², more than a province "
            f"({MAX_AREA_KM2:,} km²); give the community's own boundary"
        )
    return area


def area_km2(area: BaseGeometry) -> float:
    """The area's size on an equal-area projection (World Cylindrical Equal Area)."""
    from analysis.projection import to_metres

    def project(lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = to_metres(lonlat[:, 0], lonlat[:, 1], crs="ESRI:54034")
        return np.column_stack([x, y])

    dense = shapely.segmentize(area, max_segment_length=0.05)
    return float(shapely.transform(dense, project).area) / 1e6


def checked_crs(crs: str) -> str:
    try:
        return check_projected_crs(crs)
    except ValueError as exc:
        raise AreaError(f"--crs {crs}: {exc} (EPSG:32614 is UTM zone 14N)") from None


def checked_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AreaError(
            f"--timezone {name}: not an IANA time zone; give one such as America/Winnipeg"
        ) from None
    if name not in available_timezones():
        raise AreaError(
            f"--timezone {name}: not an IANA time zone; give one such as America/Winnipeg"
        )
    return name


def zones_of(area: BaseGeometry) -> list[str]:
    """The IANA time zones found on land across the area (edges and an interior lattice)."""
    from timezonefinder import TimezoneFinder

    finder = TimezoneFinder()
    xmin, ymin, xmax, ymax = area.bounds
    gx, gy = np.meshgrid(
        np.linspace(xmin, xmax, ZONE_SAMPLES), np.linspace(ymin, ymax, ZONE_SAMPLES)
    )
    inside = shapely.intersects_xy(area, gx.ravel(), gy.ravel())
    points = list(zip(gx.ravel()[inside], gy.ravel()[inside], strict=True))
    edge = shapely.segmentize(area.boundary, max_segment_length=max(xmax - xmin, ymax - ymin) / 50)
    points += [(x, y) for x, y in shapely.get_coordinates(edge)]
    points.append((area.representative_point().x, area.representative_point().y))
    found = {finder.timezone_at_land(lng=float(x), lat=float(y)) for x, y in points}
    zones = sorted(z for z in found if z)
    if not zones:  # all water: the sea's nautical zone
        zones = sorted(
            {finder.timezone_at(lng=float(x), lat=float(y)) or "" for x, y in points} - {""}
        )
    return zones


def area_timezone(path: Path, area: BaseGeometry) -> str:
    """The one time zone of the area; more than one must be chosen with ``--timezone``."""
    zones = zones_of(area)
    if len(zones) == 1:
        return zones[0]
    if not zones:
        raise AreaError(f"{path}: no time zone was found for the area; give one with --timezone")
    raise AreaError(
        f"{path}: the area spans more than one time zone ({', '.join(zones)}); choose the "
        "program's with --timezone"
    )
