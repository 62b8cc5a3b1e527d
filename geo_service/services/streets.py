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
from maps.streets import FORMAT, encode_streets

TOLERANCE_M = 2.0  # Douglas-Peucker, in projected metres: under 2 px at zoom 16


@dataclass(frozen=True)
class Streets:
    """The packed streets, gzipped once for every phone that accepts it, and their tag."""

    tag: str
    body: bytes
    gzipped: bytes


def pack_streets(rows: NetworkRows, crs: str) -> bytes:
    """The network's streets as :mod:`maps.streets` bytes: lines simplified in metres, drawn
    through the network's own stored nodes."""
    x, y = to_metres(rows.lon, rows.lat, crs=crs)
    lines = street_lines(x, y, rows.u, rows.v, TOLERANCE_M)
    return encode_streets([(rows.lon[line], rows.lat[line]) for line in lines])


def street_tag(info: NetworkInfo, program_id: int, crs: str) -> str:
    """The version of a program's streets, known without building them: the network's
    version, then a short hash of what else shapes the bytes (the import, the projection,
    the packing), so a kept copy is never served for other streets."""
    shaped_by = repr((program_id, info, crs, FORMAT, TOLERANCE_M)).encode()
    return f"{info.version}-{hashlib.sha256(shaped_by).hexdigest()[:12]}"


class StreetCache:
    """Each program's packed streets, built on first request (pages only need the tag, so
    a page never waits for them) and rebuilt only when a new network is imported."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, Streets] = {}

    def tag(self, store: Store, deployment: Deployment, program_id: int) -> str | None:
        info = store.network_info(program_id)
        return None if info is None else street_tag(info, program_id, deployment.crs)

    def get(self, store: Store, deployment: Deployment, program_id: int) -> Streets | None:
        tag = self.tag(store, deployment, program_id)
        if tag is None:
            return None
        with self._lock:
            held = self._held.get(program_id)
        if held is not None and held.tag == tag:
            return held
        loaded = store.load_network(program_id)
        if loaded is None:
            return None
        info, rows = loaded
        body = pack_streets(rows, deployment.crs)
        streets = Streets(street_tag(info, program_id, deployment.crs), body,
                          gzip.compress(body, mtime=0))  # fmt: skip
        with self._lock:
            self._held[program_id] = streets
        return streets
