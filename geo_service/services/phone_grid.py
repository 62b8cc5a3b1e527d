"""What the phone needs to snap a place to the program's grid itself (DESIGN.md §4.9).

``phone_grid(deployment)`` is the configuration ``GeoGrid.make`` takes in
``static/grid.js``: the Transverse Mercator parameters of the projection the server runs
(or None when the phone cannot repeat it exactly: a datum shift, another projection), the
grid origin, each report type's square size, the squares a report may name, and the area's
outline for drawing.

Everything here comes from the program's area and grid only, never from its data: the
squares are those whose centre lies in the area, which any peer's map already shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping

from analysis.grid import IntArray, snap_to_cells
from analysis.projection import to_lonlat
from geo_service.deployment import Deployment
from geo_service.ingest.reports import TYPE_KIND

# Ellipsoids as PROJ names them: (semi-major axis, inverse flattening).
ELLIPSOIDS = {"WGS84": (6378137.0, 298.257223563), "GRS80": (6378137.0, 298.257222101)}
UTM_ONLY = frozenset({"zone", "south", "ellps", "a", "rf", "b", "units"})
TMERC_ONLY = frozenset(
    {"lat_0", "lon_0", "k", "k_0", "x_0", "y_0", "ellps", "a", "rf", "b", "units"}
)


def phone_grid(deployment: Deployment) -> dict[str, Any]:
    """The phone's grid configuration, JSON-ready (see the module's docstring).

    With no projection the phone can repeat, ``corners`` also holds the corners of the
    listed squares (a lattice per size), so the page can still draw squares to tap."""
    grid = deployment.grid
    sizes = {name: deployment.cell_m(kind) for name, kind in TYPE_KIND.items()}
    cells = {str(size): report_cells(deployment, size) for size in sorted(set(sizes.values()))}
    config: dict[str, Any] = {
        "projection": phone_projection(deployment.crs),
        "origin": [grid.origin_x_m, grid.origin_y_m],
        "sizes": sizes,
        "cells": cells,
        "outline": _outline(deployment),
    }
    if config["projection"] is None:
        config["corners"] = {
            size: _lattice(deployment, int(size), runs) for size, runs in cells.items()
        }
    return config


def _lattice(deployment: Deployment, cell_m: int, runs: list[list[int]]) -> dict[str, Any]:
    """Every corner of the squares' bounding block, lon/lat to 7 decimals, row by row:
    corner (ix, iy) is at ``lonlat[2 * ((iy - iy0) * nx + ix - ix0)]``."""
    if not runs:
        return {"ix0": 0, "iy0": 0, "nx": 0, "lonlat": []}
    ix0, iy0 = min(r[1] for r in runs), runs[0][0]
    nx, ny = max(r[2] for r in runs) - ix0 + 2, runs[-1][0] - iy0 + 2
    gx, gy = np.meshgrid(np.arange(ix0, ix0 + nx), np.arange(iy0, iy0 + ny))
    grid = deployment.grid
    lon, lat = to_lonlat(
        grid.origin_x_m + gx.ravel() * float(cell_m),
        grid.origin_y_m + gy.ravel() * float(cell_m),
        crs=deployment.crs,
    )
    lonlat: list[float] = np.round(np.column_stack([lon, lat]), 7).ravel().tolist()
    return {"ix0": ix0, "iy0": iy0, "nx": nx, "lonlat": lonlat}


def phone_projection(crs: str) -> dict[str, Any] | None:
    """The Transverse Mercator pyproj runs from WGS 84 into ``crs``, or None if it runs
    anything else (a datum shift, another projection, the approximate algorithm)."""
    definition = Transformer.from_crs("EPSG:4326", crs, always_xy=True).definition
    steps = _steps(definition)
    names = [name for name, _ in steps] if steps is not None else []
    if steps is None or names not in (["unitconvert", "utm"], ["unitconvert", "tmerc"]):
        return None
    name, params = steps[1]
    return _utm(params) if name == "utm" else _tmerc(params)


def _steps(definition: str) -> list[tuple[str, dict[str, str]]] | None:
    """A pipeline's steps as (method, parameters); None unless it holds only a degree to
    radian unitconvert, axis swaps that change nothing, and one utm or tmerc step."""
    tokens = definition.split()
    if not tokens or tokens[0] != "proj=pipeline" or tokens[1:2] != ["step"]:
        return None
    chunks: list[list[str]] = []
    for word in tokens[1:]:
        if word == "step":
            chunks.append([])
        else:
            chunks[-1].append(word)
    steps: list[tuple[str, dict[str, str]]] = []
    for words in chunks:
        params = {w.partition("=")[0]: w.partition("=")[2] for w in words}
        name = params.pop("proj", "")
        if "inv" in params:
            return None
        if name == "axisswap" and params == {"order": "1,2"}:
            continue  # the identity: nothing to repeat
        if name == "unitconvert" and params == {"xy_in": "deg", "xy_out": "rad"}:
            steps.append((name, {}))
        elif name in ("utm", "tmerc"):
            steps.append((name, params))
        else:
            return None
    return steps


def _ellipsoid(params: dict[str, str]) -> tuple[float, float] | None:
    """(a, f) from ellps=WGS84/GRS80, a+rf or a+b; None for anything else."""
    if "ellps" in params:
        if {"a", "rf", "b"} & params.keys() or params["ellps"] not in ELLIPSOIDS:
            return None
        a, rf = ELLIPSOIDS[params["ellps"]]
        return a, 1.0 / rf
    if "a" in params and "rf" in params and "b" not in params:
        return float(params["a"]), 1.0 / float(params["rf"])
    if "a" in params and "b" in params and "rf" not in params:
        a, b = float(params["a"]), float(params["b"])
        return a, (a - b) / a
    return None


def _shape(params: dict[str, str], allowed: frozenset[str]) -> tuple[float, float] | None:
    if not params.keys() <= allowed or params.get("units", "m") != "m":
        return None
    return _ellipsoid(params)


def _utm(params: dict[str, str]) -> dict[str, Any] | None:
    shape = _shape(params, UTM_ONLY)
    zone = params.get("zone", "")
    if shape is None or not zone.isdigit() or not 1 <= int(zone) <= 60:
        return None
    if params.get("south", "") != "":
        return None
    return _tm(
        shape,
        lon_0=6.0 * int(zone) - 183.0,
        lat_0=0.0,
        k_0=0.9996,
        x_0=500000.0,
        y_0=10000000.0 if "south" in params else 0.0,
    )


def _tmerc(params: dict[str, str]) -> dict[str, Any] | None:
    shape = _shape(params, TMERC_ONLY)
    if shape is None or ("k" in params and "k_0" in params):
        return None
    scale = params.get("k", params.get("k_0", "1"))
    return _tm(
        shape,
        lon_0=float(params.get("lon_0", "0")),
        lat_0=float(params.get("lat_0", "0")),
        k_0=float(scale),
        x_0=float(params.get("x_0", "0")),
        y_0=float(params.get("y_0", "0")),
    )


def _tm(shape: tuple[float, float], **values: float) -> dict[str, Any]:
    a, f = shape
    return {"method": "tmerc", "a": a, "f": f, **values}


def report_cells(deployment: Deployment, cell_m: int) -> list[list[int]]:
    """The squares of ``cell_m`` a report may name, as row runs ``[iy, ix_first, ix_last]``:
    those whose centre lies in the area, computed as ``ingest.reports`` checks one."""
    grid = deployment.grid
    xmin, ymin, xmax, ymax = deployment.service_area_m.bounds
    (ix0, ix1), (iy0, iy1) = snap_to_cells([xmin, xmax], [ymin, ymax], grid=grid, cell_m=cell_m)
    gx, gy = np.meshgrid(np.arange(ix0 - 1, ix1 + 2), np.arange(iy0 - 1, iy1 + 2))
    ix, iy = gx.ravel(), gy.ravel()
    lon, lat = to_lonlat(
        grid.origin_x_m + (ix + 0.5) * cell_m,
        grid.origin_y_m + (iy + 0.5) * cell_m,
        crs=deployment.crs,
    )
    keep = np.isfinite(lon) & np.isfinite(lat)
    keep[keep] = deployment.contains(lon[keep], lat[keep])
    return _row_runs(ix[keep], iy[keep])


def _row_runs(ix: IntArray, iy: IntArray) -> list[list[int]]:
    order = np.lexsort((ix, iy))
    ix, iy = ix[order], iy[order]
    runs: list[list[int]] = []
    for x, y in zip(ix.tolist(), iy.tolist(), strict=True):
        if runs and runs[-1][0] == y and runs[-1][2] == x - 1:
            runs[-1][2] = x
        else:
            runs.append([y, x, x])
    return runs


def _outline(deployment: Deployment) -> dict[str, Any]:
    """The area in lon/lat, to 7 decimals (about a centimetre): for drawing only."""
    area = shapely.transform(deployment.geography.area, lambda xy: np.round(xy, 7))
    outline: dict[str, Any] = mapping(area)
    return outline
