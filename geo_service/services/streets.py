"""A program's streets for the offline base map: its imported walking network (public
OpenStreetMap ways) merged into polylines, simplified and packed once per network version.

Nothing here reads events: the bytes, and their tag, change only when a new network is
imported, so neither says anything about when reports arrive.

What is kept: every walkable way the network holds, footways, paths and alleys included;
peers walk them, and needles turn up along them. Nothing is dropped by type (the network
keeps no tags); simplification keeps each drawn line within ``TOLERANCE_M`` of the street
and coordinates are rounded to 1e-5 degrees (about a metre).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass

from analysis.projection import to_metres
from analysis.streets import street_lines
from geo_service.deployment import Deployment
from geo_service.storage import NetworkInfo, NetworkRows, Store
from maps.streets import encode_streets

TOLERANCE_M = 2.0  # Douglas-Peucker, in projected metres: under 2 px at zoom 16


@dataclass(frozen=True)
class Streets:
    """The packed streets, gzipped once for every phone that accepts it, and their tag
    (network version and content hash)."""

    tag: str
    body: bytes
    gzipped: bytes


def pack_streets(rows: NetworkRows, crs: str) -> bytes:
    """The network's streets as :mod:`maps.streets` bytes: lines simplified in metres, drawn
    through the network's own stored nodes."""
    x, y = to_metres(rows.lon, rows.lat, crs=crs)
    lines = street_lines(x, y, rows.u, rows.v, TOLERANCE_M)
    return encode_streets([(rows.lon[line], rows.lat[line]) for line in lines])


class StreetCache:
    """Each program's packed streets, rebuilt only when a new network is imported."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, tuple[NetworkInfo, str, Streets]] = {}

    def get(self, store: Store, deployment: Deployment, program_id: int) -> Streets | None:
        info = store.network_info(program_id)
        if info is None:
            return None
        with self._lock:
            held = self._held.get(program_id)
        if held is not None and held[0] == info and held[1] == deployment.crs:
            return held[2]
        loaded = store.load_network(program_id)
        if loaded is None:
            return None
        info, rows = loaded
        body = pack_streets(rows, deployment.crs)
        digest = hashlib.sha256(body).hexdigest()[:16]
        streets = Streets(f"{info.version}-{digest}", body, gzip.compress(body, mtime=0))
        with self._lock:
            self._held[program_id] = (info, deployment.crs, streets)
        return streets
