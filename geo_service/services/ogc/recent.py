"""A released layer built into features once for a client paging through it.

GIS clients read a layer a page at a time, and GDAL asks for the first page twice; building
every page's features again from the release cost /ogc twice what /v1/published spends on
the whole layer. A stored release never changes (DESIGN §4.4), so its features are kept for
a minute, keyed by the caller's own key (no one learns from a quick answer what another key
opened) and by the release's content hash, read on every request: deleting a program's data
makes another release, never a hit. The key holds nothing that moves when reports arrive,
so how fast a page comes back says nothing about new data (DESIGN §4.5).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely

from geo_service.deployment import Deployment
from geo_service.geojson import Feature

KEEP_S = 60.0
ENTRIES = 4


@dataclass(frozen=True)
class BuiltLayer:
    deployment: Deployment  # the geography the rings were drawn in
    features: list[Feature]
    shapes: npt.NDArray[np.object_]  # each feature's polygon, for bbox

    @classmethod
    def of(cls, features: list[Feature], deployment: Deployment) -> BuiltLayer:
        rings = [f["geometry"]["coordinates"][0] for f in features]
        shapes = shapely.polygons(np.array(rings)) if rings else np.empty(0, dtype=object)
        return cls(deployment, features, shapes)


class RecentLayers:
    """The last few built layers, each for ``KEEP_S`` seconds."""

    def __init__(self, entries: int = ENTRIES, keep_s: float = KEEP_S) -> None:
        self._entries, self._keep_s = entries, keep_s
        self._kept: OrderedDict[Hashable, tuple[float, BuiltLayer]] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: Hashable, deployment: Deployment) -> BuiltLayer | None:
        """The layer kept under ``key`` if it is fresh and drawn in ``deployment``."""
        with self._lock:
            found = self._kept.get(key)
        # A changed geography draws new rings: its deployment is another object.
        if found is None or time.monotonic() - found[0] >= self._keep_s:
            return None
        return found[1] if found[1].deployment is deployment else None

    def get(
        self, key: Hashable, deployment: Deployment, build: Callable[[], BuiltLayer]
    ) -> BuiltLayer:
        kept = self.peek(key, deployment)
        if kept is not None:
            return kept
        now = time.monotonic()
        built = build()
        with self._lock:
            self._kept[key] = (now, built)
            self._kept.move_to_end(key)
            while len(self._kept) > self._entries:
                self._kept.popitem(last=False)
        return built


RECENT = RecentLayers()
