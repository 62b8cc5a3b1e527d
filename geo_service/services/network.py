"""Import a program's walking network from an OpenStreetMap extract, and load it for routing.

pyrosm reads the ``.osm.pbf`` file (no downloads at run time) and keeps the ways a person may
walk; pyrosm splits them into node-to-node segments, so paths drawn from nodes follow streets.
Only the largest connected part of the network is kept.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box

from analysis.grid import cell_centres
from analysis.network import WalkingNetwork
from analysis.projection import to_lonlat, to_metres
from analysis.routing import MAX_SNAP_M
from geo_service.deployment import Deployment
from geo_service.settings import EventKind
from geo_service.storage import NetworkInfo, NetworkRows, Store

MARGIN_M = 500.0  # keep ways just outside the area: the shortest walk may leave it
MIN_AREA_SHARE = 0.5
GET_OSM = (
    "download an extract covering the service area (for example from download.geofabrik.de "
    "or extract.bbbike.org) and, if it is large, cut it with 'osmium extract -b'"
)


class NetworkImportError(ValueError):
    """The file cannot give this deployment a walking network; the message says why."""


def read_walking_network(
    path: Path, deployment: Deployment, *, stage: Callable[[str], None] | None = None
) -> tuple[NetworkRows, float]:
    """The walkable network of ``path`` around the service area, and the share of the area's
    cells it reaches (within walking distance of a node)."""
    say = stage or (lambda _: None)
    if not path.is_file():
        raise NetworkImportError(f"there is no file at {path.name!r}; {GET_OSM}")
    if not path.name.endswith(".pbf"):
        raise NetworkImportError(
            "the network must be an OpenStreetMap extract in PBF format (a .osm.pbf file); "
            + GET_OSM
        )
    import pyrosm  # heavy (geopandas); only the importer needs it

    xmin, ymin, xmax, ymax = deployment.service_area_m.buffer(MARGIN_M).bounds
    lon, lat = to_lonlat(np.array([xmin, xmax, xmin, xmax]), np.array([ymin, ymin, ymax, ymax]),
                         crs=deployment.crs)  # fmt: skip
    say("reading the extract")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyrosm warns "no edges" instead of returning []
            osm = pyrosm.OSM(
                str(path), bounding_box=box(lon.min(), lat.min(), lon.max(), lat.max())
            )
            nodes, edges = osm.get_network(network_type="walking", nodes=True)
    except Exception as exc:  # pyrosm raises several types for a file that is not PBF
        raise NetworkImportError(
            f"{path.name!r} could not be read as an OpenStreetMap PBF extract "
            f"({type(exc).__name__}); {GET_OSM}"
        ) from None
    if nodes is None or edges is None or len(edges) == 0:
        raise NetworkImportError(
            f"{path.name!r} holds no walkable ways in this deployment's service area; "
            f"it is an extract of somewhere else. {GET_OSM}"
        )
    say("building the graph")
    ids = nodes["id"].to_numpy(dtype=np.int64)
    order = np.argsort(ids)
    ids = ids[order]
    x, y = to_metres(
        nodes["lon"].to_numpy(dtype=np.float64)[order],
        nodes["lat"].to_numpy(dtype=np.float64)[order],
        crs=deployment.crs,
    )
    u_id = edges["u"].to_numpy(dtype=np.int64)
    v_id = edges["v"].to_numpy(dtype=np.int64)
    u = np.searchsorted(ids, u_id)
    v = np.searchsorted(ids, v_id)
    known = (u < len(ids)) & (v < len(ids))
    known[known] &= (ids[u[known]] == u_id[known]) & (ids[v[known]] == v_id[known])
    u, v = u[known], v[known]
    length = np.hypot(x[u] - x[v], y[u] - y[v])  # segments are straight in projected metres
    network = WalkingNetwork(x, y, u.astype(np.int64), v.astype(np.int64), length)
    network = network.largest_component()
    share = area_share(network, deployment)
    if share < MIN_AREA_SHARE:
        raise NetworkImportError(
            f"{path.name!r} reaches only {share:.0%} of the service area (at least "
            f"{MIN_AREA_SHARE:.0%} is needed); {GET_OSM}"
        )
    node_lon, node_lat = to_lonlat(network.x, network.y, crs=deployment.crs)
    rows = NetworkRows(
        np.round(node_lon, 7), np.round(node_lat, 7), network.u, network.v, network.length_m
    )
    return rows, share


def area_share(network: WalkingNetwork, deployment: Deployment) -> float:
    """Share of the service area's needle-report cells whose centre is near the network."""
    cell_m = deployment.cell_m(EventKind.NEEDLE_REPORT)
    ix, iy = deployment.study_cells(cell_m)
    cx, cy = cell_centres(ix, iy, grid=deployment.grid, cell_m=cell_m)
    inside = shapely.intersects_xy(deployment.service_area_m, cx, cy)
    if not inside.any() or network.nodes == 0:
        return 0.0
    _, distance = network.nearest(cx[inside], cy[inside])
    return float(np.mean(distance <= MAX_SNAP_M))


class NetworkCache:
    """Each program's network as a routing graph, rebuilt only when a new one is imported."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Keyed by program, kept while its network and its CRS stay (the graph is in metres).
        self._graphs: dict[int, tuple[NetworkInfo, WalkingNetwork, str]] = {}

    def get(
        self, store: Store, deployment: Deployment, program_id: int
    ) -> tuple[NetworkInfo, WalkingNetwork] | None:
        info = store.network_info(program_id)
        if info is None:
            return None
        with self._lock:
            held = self._graphs.get(program_id)
        if held is not None and held[0] == info and held[2] == deployment.crs:
            return held[0], held[1]
        loaded = store.load_network(program_id)
        if loaded is None:
            return None
        info, rows = loaded
        x, y = to_metres(rows.lon, rows.lat, crs=deployment.crs)
        network = WalkingNetwork(x, y, rows.u, rows.v, rows.length_m)
        with self._lock:
            self._graphs[program_id] = (info, network, deployment.crs)
        return info, network
