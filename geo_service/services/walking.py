"""Walking distances for coverage and siting: on the program's walking network when one is
loaded, else straight lines times a detour factor; and the catchments drawn on the maps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import numpy as np
import numpy.typing as npt
import shapely
from scipy.sparse import csr_matrix

from analysis.coverage import network_reach, straight_reach, walk_limit_m
from analysis.grid import cell_centres
from analysis.network import DETOUR_FACTOR, WalkingNetwork
from analysis.projection import to_metres
from geo_service.geojson import Geometry
from geo_service.services.program import ProgramContext
from geo_service.settings import EventKind

FloatArray = npt.NDArray[np.float64]


class RoutingAnswer(TypedDict):
    mode: str  # straight line, walking network
    note: str
    detour_factor: NotRequired[float]


@dataclass(frozen=True)
class Routing:
    """How walks were measured, as the answer explains it."""

    network: WalkingNetwork | None
    source: str = ""  # the network's file and import date, when one is loaded

    @property
    def note(self) -> str:
        if self.network is None:
            return (
                f"no walking network is loaded: walks are straight lines × "
                f"{DETOUR_FACTOR}. Load one with 'geo-service network import FILE.osm.pbf'"
            )
        return f"walking distances on {self.source}"

    def to_json(self) -> RoutingAnswer:
        if self.network is None:
            return {"mode": "straight line", "detour_factor": DETOUR_FACTOR, "note": self.note}
        return {"mode": "walking network", "note": self.note}


def walking(ctx: ProgramContext) -> Routing:
    held = ctx.services.networks.get(ctx.store, ctx.deployment, ctx.program_id)
    if held is None:
        return Routing(None)
    info, network = held
    return Routing(network, f"{info.source} (imported {info.imported_on})")


def walk_metres(
    network: WalkingNetwork | None,
    sources: tuple[FloatArray, FloatArray],
    targets: tuple[FloatArray, FloatArray],
    limit_m: float,
) -> csr_matrix:
    """Walking metres from each source to each target within ``limit_m`` (sources x
    targets; absent pairs are out of reach, a stored 0 is a place on the spot)."""
    (sx, sy), (tx, ty) = sources, targets
    if network is None:
        return straight_reach(sx, sy, tx, ty, limit_m).metres
    return network_reach(network, sx, sy, tx, ty, limit_m).metres


def reach(
    network: WalkingNetwork | None,
    sources: tuple[FloatArray, FloatArray],
    targets: tuple[FloatArray, FloatArray],
    limit_m: float,
) -> csr_matrix:
    """Which targets each source reaches on foot within ``limit_m`` (sources x targets)."""
    out = walk_metres(network, sources, targets, limit_m).copy()
    out.data = np.ones_like(out.data, dtype=bool)
    return out


def catchment_shapes(
    ctx: ProgramContext, places: Sequence[tuple[float, float]], minutes: float, kind: EventKind
) -> list[Geometry]:
    """Each (lon, lat) place's walking catchment as GeoJSON: the ``kind``'s grid cells whose
    centre it reaches within ``minutes``."""
    deployment = ctx.deployment
    network = walking(ctx).network
    x, y = to_metres([p[0] for p in places], [p[1] for p in places], crs=deployment.crs)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    cell_m = deployment.cell_m(kind)
    ix, iy = deployment.study_cells(cell_m)
    cx, cy = cell_centres(ix, iy, grid=deployment.grid, cell_m=cell_m)
    reached = reach(network, (x, y), (cx, cy), walk_limit_m(minutes)).tocsr()
    x0 = deployment.grid.origin_x_m + ix * cell_m
    y0 = deployment.grid.origin_y_m + iy * cell_m
    boxes = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    out = []
    for s in range(len(x)):
        hit = reached.indices[reached.indptr[s] : reached.indptr[s + 1]]
        shape_m = shapely.union_all(boxes[hit]) if len(hit) else shapely.Point(x[s], y[s])
        out.append(deployment.to_geojson_geometry(shape_m))
    return out
