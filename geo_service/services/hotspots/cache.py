"""The hot-spot answers of a worker, cached by data version or by release."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import orjson

from analysis.grid import CellCounts, count_in_grid
from geo_service.auth import FULL_VIEW
from geo_service.periods import Period
from geo_service.services.hotspots.compute import Analysis, HotspotQuery, analyse_cells, load_cells
from geo_service.services.hotspots.features import publish
from geo_service.services.releases import Release, View, get_release

if TYPE_CHECKING:
    from geo_service.services.program import ProgramContext

V = TypeVar("V")


def release_cells(release: Release) -> CellCounts:
    """A release's stored-size cells at their released counts: what peers' analyses see."""
    base = [f for f in release.features if f.level == 0]
    return count_in_grid(
        np.array([f.ix for f in base], dtype=np.int64),
        np.array([f.iy for f in base], dtype=np.int64),
        np.array([f.count for f in base], dtype=np.int64),
        cell_m=release.cell_m,
        first_start=np.full(len(base), release.period.start, dtype=np.int64),
        last_end=np.full(len(base), release.period.end, dtype=np.int64),
    )


class HotspotCache:
    """Recent analyses and their published bytes, keyed by the program's data version.

    Ingest bumps the version in the database, so a worker never serves an answer computed
    before the latest write, and stale entries simply age out of the LRU.
    """

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._lock = threading.Lock()
        # Analyses, and the cells they were run on, share one bound.
        self._analyses: OrderedDict[Hashable, Analysis | CellCounts] = OrderedDict()
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()

    def _get(self, table: OrderedDict[Hashable, V], key: Hashable) -> V | None:
        with self._lock:
            if key in table:
                table.move_to_end(key)
                return table[key]
        return None

    def _put(self, table: OrderedDict[Hashable, V], key: Hashable, value: V) -> None:
        if self.entries == 0:
            return
        with self._lock:
            table[key] = value
            table.move_to_end(key)
            while len(table) > self.entries:
                table.popitem(last=False)

    def cached_body(self, key: Hashable) -> bytes | None:
        return self._get(self._bodies, key)

    def keep_body(self, key: Hashable, body: bytes) -> None:
        self._put(self._bodies, key, body)

    def answer(
        self, ctx: ProgramContext, query: HotspotQuery, period: Period | None = None
    ) -> tuple[bytes, bool]:
        """The published body for this request, and whether it came from the cache."""
        if ctx.role not in FULL_VIEW:
            assert period is not None
            return self._released_answer(ctx, query, period)
        program_id, deployment = ctx.program_id, ctx.deployment
        version = ctx.store.data_version(program_id)
        body_key = (program_id, version, query, "full", None if period is None else period.label)
        body: bytes | None = self._get(self._bodies, body_key)
        if body is not None:
            return body, True
        analysis_key = (program_id, version, query)
        found = self._get(self._analyses, analysis_key)
        analysis = found if isinstance(found, Analysis) else None
        if analysis is None:
            # Every method over one window reads the same cells: load them once.
            window = (query.kind, query.start, query.end, query.cell_m)
            cells_key = ("cells", program_id, version, *window)
            held = self._get(self._analyses, cells_key)
            cells = held if isinstance(held, CellCounts) else None
            if cells is None:
                cells = load_cells(ctx.store, deployment, program_id, query)
                self._put(self._analyses, cells_key, cells)
            analysis = analyse_cells(deployment, query, cells)
            self._put(self._analyses, analysis_key, analysis)
        body = orjson.dumps(
            publish(analysis, deployment, role=ctx.role, period=period),
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        self._put(self._bodies, body_key, body)
        return body, False

    def _released_answer(
        self, ctx: ProgramContext, query: HotspotQuery, period: Period
    ) -> tuple[bytes, bool]:
        """A peer's or planner's answer: a function of the frozen release and the query."""
        deployment = ctx.deployment
        release = get_release(
            ctx.store,
            deployment,
            ctx.settings,
            program_id=ctx.program_id,
            kind=query.kind,
            period=period,
            now=ctx.now,
            view=View(cell_m=query.cell_m),
        )
        # Two programs' releases may hash alike (both empty, say) yet answer differently (their
        # study areas differ): the program and its geography are part of the key.
        key = (
            "released",
            ctx.program_id,
            deployment.geography.stamp,
            release.content_hash,
            query,
            ctx.role.value,
        )
        body: bytes | None = self._get(self._bodies, key)
        if body is not None:
            return body, True
        analysis = analyse_cells(deployment, query, release_cells(release), released=True)
        body = orjson.dumps(
            publish(analysis, deployment, role=ctx.role, released=release, period=period),
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        self._put(self._bodies, key, body)
        return body, False
