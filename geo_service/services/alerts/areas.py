"""The areas an alert can name: the whole program, its coarse cells (>= 1 km², so an alert
never points at a block) and the named areas a steward draws; and each in plain words.

An event counts in "all", in the coarse cell its own cell rolls up into (floor division, as
releases roll cells up), and in every named area whose polygon holds its cell's centre. The
key strings are the contract's: "all", "cell:<m>:<ix>:<iy>", "area:<id>".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from analysis.grid import Grid, IntArray
from analysis.projection import to_metres
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.storage import Store
from geo_service.storage.alert_records import PROGRAM_AREA
from maps.language import N_, translations

COARSE_MIN_M = 1000  # a coarse cell is at least a square kilometre
NAMED_AREA_MIN_M2 = 250_000.0  # 0.25 km²: no named area narrows an alert to a few homes
_EDGE_TOLERANCE_M = 1.0  # a steward's drawing may graze the program's edge

WHOLE_AREA = N_("all of {program}")
NEAR_CENTRE = N_("the square kilometre at the centre of {program}")
SQUARE_KM = N_("the square kilometre {distance} km {direction} of the centre of {program}")
WIDER_SQUARE = N_("the {size} km square {distance} km {direction} of the centre of {program}")
UNNAMED_AREA = N_("an area the program named")
DIRECTIONS = (
    N_("north"),
    N_("north-east"),
    N_("east"),
    N_("south-east"),
    N_("south"),
    N_("south-west"),
    N_("west"),
    N_("north-west"),
)


def coarse_cell_m(grid: Grid) -> int:
    """The smallest grid size ``base × 2**j`` that is at least 1000 m."""
    size = grid.base_cell_m
    while size < COARSE_MIN_M:
        size *= 2
    return size


def cell_key(cell_m: int, ix: int, iy: int) -> str:
    return f"cell:{cell_m}:{ix}:{iy}"


def named_key(area_id: int) -> str:
    return f"area:{area_id}"


def parse_cell_key(key: str) -> tuple[int, int, int] | None:
    parts = key.split(":")
    if len(parts) != 4 or parts[0] != "cell":
        return None
    return int(parts[1]), int(parts[2]), int(parts[3])


@dataclass(frozen=True)
class NamedArea:
    key: str
    name: str
    polygon_m: BaseGeometry  # in the program's projected CRS, prepared


@dataclass(frozen=True)
class Membership:
    """Which areas each event counts in: pairs (row, area) as two arrays, areas as codes
    into ``keys``."""

    keys: list[str]
    row: IntArray
    code: IntArray


@dataclass(frozen=True)
class AlertAreas:
    """A program's alert areas, ready to place many events at once."""

    grid: Grid
    coarse_m: int
    named: tuple[NamedArea, ...]

    @property
    def named_keys(self) -> frozenset[str]:
        return frozenset(area.key for area in self.named)

    def coarse_cells(
        self, cell_m: npt.ArrayLike, ix: npt.ArrayLike, iy: npt.ArrayLike
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Each cell's coarse cell (size, ix, iy); a cell already larger is its own."""
        size = np.asarray(cell_m, dtype=np.int64)
        coarse = np.maximum(size, self.coarse_m)
        factor = coarse // size  # a power of two: sizes are base × 2**k
        return (
            coarse,
            np.floor_divide(np.asarray(ix, dtype=np.int64), factor),
            np.floor_divide(np.asarray(iy, dtype=np.int64), factor),
        )

    def membership(self, cell_m: IntArray, ix: IntArray, iy: IntArray) -> Membership:
        n = len(cell_m)
        rows = [np.arange(n, dtype=np.int64)]
        codes = [np.zeros(n, dtype=np.int64)]
        keys = [PROGRAM_AREA]
        if n == 0:
            return Membership(keys, rows[0], codes[0])
        coarse = self.coarse_cells(cell_m, ix, iy)
        coarse_of_row, first = group_rows(*coarse)
        keys += [
            cell_key(*triple) for triple in zip(*(c[first].tolist() for c in coarse), strict=True)
        ]
        rows.append(np.arange(n, dtype=np.int64))
        codes.append(1 + coarse_of_row)
        if self.named:
            fine = tuple(np.asarray(c, dtype=np.int64) for c in (cell_m, ix, iy))
            cell_of_row, first = group_rows(*fine)
            size, cx, cy = (c[first].astype(np.float64) for c in fine)
            x = self.grid.origin_x_m + (cx + 0.5) * size
            y = self.grid.origin_y_m + (cy + 0.5) * size
            for area in self.named:
                inside = shapely.intersects_xy(area.polygon_m, x, y)[cell_of_row]
                picked = np.flatnonzero(inside)
                rows.append(picked.astype(np.int64))
                codes.append(np.full(len(picked), len(keys), dtype=np.int64))
                keys.append(area.key)
        return Membership(keys, np.concatenate(rows), np.concatenate(codes))


_PACKED_LIMIT = 2**62


def group_rows(*columns: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """Each row's group of equal values across ``columns`` (codes 0..g-1, in order of first
    appearance) and each group's first row. Hashing one packed integer per row, not sorting
    rows: a million rows take milliseconds, where ``np.unique(axis=0)`` takes seconds."""
    arrays = [np.asarray(c, dtype=np.int64) for c in columns]
    n = len(arrays[0])
    packed = np.zeros(n, dtype=np.int64)
    total = 1
    for column in arrays:
        low = int(column.min()) if n else 0
        span = (int(column.max()) - low + 1) if n else 1
        total *= span
        if total >= _PACKED_LIMIT:  # too wide to pack: let numpy sort the rows instead
            _, first, inverse = np.unique(
                np.stack(arrays, axis=1), axis=0, return_index=True, return_inverse=True
            )
            order = np.argsort(first)
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            return rank[inverse.reshape(-1)].astype(np.int64), first[order].astype(np.int64)
        packed = packed * span + (column - low)
    codes, uniques = pd.factorize(packed)
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)
    return codes.astype(np.int64), first


def project(deployment: Deployment, geometry: BaseGeometry) -> BaseGeometry:
    """A WGS 84 geometry in the program's metres, edges densified so they bend with the CRS."""
    dense = shapely.segmentize(geometry, max_segment_length=0.001)

    def to_m(lonlat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = to_metres(lonlat[:, 0], lonlat[:, 1], crs=deployment.crs)
        return np.column_stack([x, y])

    projected = shapely.transform(dense, to_m)
    shapely.prepare(projected)
    return projected


# Projected polygons, kept while a program's geography and named areas stay the same. Keyed
# by content, not ids alone: two databases in one process may both have a program 1.
_CACHE: dict[tuple[str, tuple[tuple[int, str, str], ...]], AlertAreas] = {}
_CACHE_SIZE = 64


def areas_for(store: Store, deployment: Deployment, program_id: int) -> AlertAreas:
    """The program's alert areas (polygons projected once per geography and area list)."""
    stored = store.alert_areas(program_id)
    key = (deployment.geography.stamp, tuple((a.id, a.name, a.geometry) for a in stored))
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    named = tuple(
        NamedArea(named_key(a.id), a.name, project(deployment, shape(json.loads(a.geometry))))
        for a in stored
    )
    areas = AlertAreas(deployment.grid, coarse_cell_m(deployment.grid), named)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = areas
    return areas


def check_named_area(deployment: Deployment, geometry: Mapping[str, Any]) -> BaseGeometry:
    """A steward's named area as a WGS 84 geometry, or InvalidParameter saying why not: a
    valid polygon of at least 0.25 km² inside the program's area."""
    if not isinstance(geometry, Mapping) or geometry.get("type") not in {
        "Polygon",
        "MultiPolygon",
    }:
        raise InvalidParameter("a named area must be a GeoJSON Polygon or MultiPolygon")
    try:
        area = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise InvalidParameter("the named area's coordinates are not a readable polygon") from exc
    if area.is_empty or not area.is_valid:
        raise InvalidParameter(
            "the named area's outline crosses itself or is empty; redraw it as a simple shape"
        )
    try:
        area_m = project(deployment, area)
    except Exception as exc:  # pyproj refuses coordinates far outside its CRS
        raise InvalidParameter("the named area's coordinates are not longitude/latitude") from exc
    if not area_m.area >= NAMED_AREA_MIN_M2:
        raise InvalidParameter(
            "a named area must cover at least 0.25 km² (about 500 m by 500 m), so an alert "
            "never points at a few homes"
        )
    if not deployment.service_area_m.buffer(_EDGE_TOLERANCE_M).covers(area_m):
        raise InvalidParameter("a named area must lie within the program's area")
    return area


def area_words(
    deployment: Deployment,
    area_key: str,
    *,
    names: Mapping[str, str],
    program: str,
    language: str,
) -> str:
    """An area as a peer would say it: a named area's name, or a coarse cell by its distance
    and direction from the centre of the program's area (rounded to the kilometre)."""
    words = translations(language).gettext
    if area_key in names:
        return names[area_key]
    if area_key.startswith("area:"):
        return words(UNNAMED_AREA)
    cell = parse_cell_key(area_key)
    if cell is None:
        return words(WHOLE_AREA).format(program=program)
    size, ix, iy = cell
    centre = deployment.service_area_m.centroid
    dx = deployment.grid.origin_x_m + (ix + 0.5) * size - centre.x
    dy = deployment.grid.origin_y_m + (iy + 0.5) * size - centre.y
    if abs(dx) <= size / 2 and abs(dy) <= size / 2:  # the square holding the centre
        return words(NEAR_CENTRE).format(program=program)
    distance = max(round(math.hypot(dx, dy) / 1000.0), 1)
    direction = words(DIRECTIONS[round(math.degrees(math.atan2(dx, dy)) / 45.0) % 8])
    if size <= COARSE_MIN_M:
        return words(SQUARE_KM).format(distance=distance, direction=direction, program=program)
    return words(WIDER_SQUARE).format(
        size=f"{size / 1000:g}", distance=distance, direction=direction, program=program
    )
