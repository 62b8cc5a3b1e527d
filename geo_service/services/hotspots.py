"""Hot spots for the API: load cells, run the analysis, publish per role, cache the answers.

Managers and stewards: the analysis runs on every event of the window and they see every
cell. Peers and planners: the analysis runs on a frozen release alone (DESIGN §4.5), so
nothing they receive, data-chosen defaults included, depends on a hidden report; they get
classes, not the statistics (z-scores, raw densities).
"""

from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from analysis.clusters import (
    dbscan_labels,
    describe_clusters,
    hdbscan_labels,
    rank_labels,
)
from analysis.density import kernel_density
from analysis.grid import (
    CellCounts,
    IntArray,
    Raster,
    count_in_grid,
    disk_offsets,
    disk_sum,
)
from analysis.hotspots import (
    FEW_CELLS,
    choose_distance_band,
    confidence_classes,
    gi_star,
)
from geo_service.auth import Role
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.periods import Period
from geo_service.services.releases import Release, get_release
from geo_service.settings import EventKind, Settings
from geo_service.storage import Store

FULL_VIEW = frozenset({Role.MANAGER, Role.STEWARD})
DENSITY_LEVELS = 10
CONFIDENCE = {3: "99%", 2: "95%", 1: "90%"}


class Method(enum.StrEnum):
    GI_STAR = "gi_star"
    DBSCAN = "dbscan"
    HDBSCAN = "hdbscan"
    DENSITY = "density"


@dataclass(frozen=True)
class HotspotQuery:
    """A validated request; ``None`` options take data-driven defaults."""

    kind: EventKind
    method: Method
    cell_m: int
    start: int | None = None
    end: int | None = None
    distance_m: float | None = None
    permutations: int = 0
    seed: int = 0
    fdr: bool = True
    eps_m: float | None = None
    min_events: int | None = None
    min_cluster_size: int | None = None
    min_samples: int | None = None
    bandwidth_m: float | None = None


@dataclass
class Analysis:
    """A full result, before it is cut down for a role."""

    query: HotspotQuery
    cells: CellCounts
    parameters: dict[str, Any]
    warnings: list[str]
    study_cells: int
    per_cell: dict[str, Any] = field(default_factory=dict)


# -- loading ------------------------------------------------------------------------------


def load_cells(
    store: Store, deployment: Deployment, program_id: int, query: HotspotQuery
) -> CellCounts:
    """The program's events of one kind in the window, summed into ``query.cell_m`` cells."""
    stored = store.event_cells(program_id, query.kind.value, start=query.start, end=query.end)
    parts = []
    for group in stored:
        if query.cell_m < group.cell_m:
            raise InvalidParameter(
                f"cell_m must be at least {group.cell_m} m, the size {query.kind.value} events "
                "are stored at; finer cells would claim precision that was never kept"
            )
        levels = deployment.grid.levels_between(group.cell_m, query.cell_m)
        parts.append(
            count_in_grid(
                group.ix,
                group.iy,
                group.count,
                cell_m=query.cell_m,
                levels=levels,
                first_start=group.first_start,
                last_end=group.last_end,
            )
        )
    if len(parts) == 1:
        return parts[0]
    return count_in_grid(
        np.concatenate([p.ix for p in parts] or [np.zeros(0, np.int64)]),
        np.concatenate([p.iy for p in parts] or [np.zeros(0, np.int64)]),
        np.concatenate([p.count for p in parts] or [np.zeros(0, np.int64)]),
        cell_m=query.cell_m,
        first_start=np.concatenate([p.first_start for p in parts] or [np.zeros(0, np.int64)]),
        last_end=np.concatenate([p.last_end for p in parts] or [np.zeros(0, np.int64)]),
    )


def _study_area(deployment: Deployment, cells: CellCounts) -> tuple[IntArray, IntArray, IntArray]:
    """All study cells (the service area, plus any cell holding events) and their counts."""
    area_ix, area_iy = deployment.study_cells(cells.cell_m)
    both = np.column_stack(
        [np.concatenate([area_ix, cells.ix]), np.concatenate([area_iy, cells.iy])]
    )
    unique, inverse = np.unique(both, axis=0, return_inverse=True)
    count = np.zeros(len(unique), dtype=np.int64)
    count[inverse.ravel()[len(area_ix) :]] = cells.count
    return unique[:, 0], unique[:, 1], count


# -- analysis -----------------------------------------------------------------------------


def analyse(
    store: Store,
    deployment: Deployment,
    program_id: int,
    query: HotspotQuery,
    *,
    cells: CellCounts | None = None,
) -> Analysis:
    if cells is None:
        cells = load_cells(store, deployment, program_id, query)
    return analyse_cells(deployment, query, cells)


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


def analyse_cells(
    deployment: Deployment, query: HotspotQuery, cells: CellCounts, *, released: bool = False
) -> Analysis:
    """Run the query's method on ``cells``; ``released``: they are a release's cells, each
    already at least k, so data-chosen defaults are chosen for such cells."""
    analysis = Analysis(query, cells, {"cell_m": query.cell_m}, [], study_cells=0)
    if cells.total == 0:
        analysis.warnings.append(f"no {query.kind.value} events in this window; nothing to analyse")
        return analysis
    if len(cells) < FEW_CELLS:
        analysis.warnings.append(
            f"only {len(cells)} cells hold events (fewer than {FEW_CELLS}); treat the result "
            "as a description of these few reports, not as evidence of a pattern"
        )
    # Analysis errors are answered from the table in errors.py.
    if query.method is Method.GI_STAR:
        _run_gi_star(analysis, deployment)
    elif query.method is Method.DENSITY:
        _run_density(analysis, deployment)
    else:
        _run_clusters(analysis, released=released)
    return analysis


def _run_gi_star(analysis: Analysis, deployment: Deployment) -> None:
    query, cells = analysis.query, analysis.cells
    ix, iy, count = _study_area(deployment, cells)
    if query.distance_m is None:
        band = choose_distance_band(
            ix, iy, count, cell_m=cells.cell_m, study_extent_m=deployment.shorter_side_m
        )
        distance_m, rule = band.distance_m, band.rule
        analysis.parameters["moran_z_by_distance"] = [
            {"distance_m": d, "z": z} for d, z in band.moran_z.items()
        ]
        if band.isolated_cells:
            analysis.warnings.append(
                f"{band.isolated_cells} cells with events have no other such cell within the "
                f"{distance_m:g} m band; set distance_m to choose the band yourself"
            )
    else:
        distance_m, rule = query.distance_m, "given"
    result = gi_star(
        ix,
        iy,
        count,
        cell_m=cells.cell_m,
        distance_m=distance_m,
        permutations=query.permutations,
        seed=query.seed,
    )
    classes, adjusted = confidence_classes(result.z, result.p, fdr=query.fdr)
    analysis.study_cells = len(ix)
    analysis.parameters.update(
        distance_m=distance_m,
        distance_rule=rule,
        permutations=query.permutations,
        seed=query.seed if query.permutations else None,
        fdr=query.fdr,
        inference="permutation" if query.permutations else "normal approximation",
    )
    analysis.per_cell = {
        "ix": ix,
        "iy": iy,
        "count": count,
        "z": result.z,
        "p": result.p,
        "p_adjusted": adjusted,
        "class": classes,
        "neighbours": result.neighbours,
    }


def _run_clusters(analysis: Analysis, *, released: bool = False) -> None:
    query, cells = analysis.query, analysis.cells
    if query.method is Method.DBSCAN:
        eps_m = query.eps_m if query.eps_m is not None else 2.0 * cells.cell_m
        if query.min_events is None and released:
            # Released cells are the busy ones already: a neighbourhood of them is the town.
            typical = float(np.median(cells.count)) if len(cells) else 0.0
            min_events = max(10, int(np.ceil(2.0 * typical)))
            rule = "twice the median released cell's reports (at least 10)"
        elif query.min_events is None:
            min_events, rule = (
                _default_min_events(cells, eps_m),
                ("twice the events the median cell with events has within eps_m (at least 10)"),
            )
        else:
            min_events, rule = query.min_events, "given"
        labels = dbscan_labels(cells, eps_m=eps_m, min_events=min_events)
        analysis.parameters.update(eps_m=eps_m, min_events=min_events, min_events_rule=rule)
    else:
        size = query.min_cluster_size if query.min_cluster_size is not None else 15
        labels = hdbscan_labels(cells, min_cluster_size=size, min_samples=query.min_samples)
        analysis.parameters.update(
            min_cluster_size=size,
            min_samples=query.min_samples if query.min_samples is not None else size,
        )
    analysis.study_cells = len(cells)
    analysis.per_cell = {"rank": rank_labels(labels, cells.count)}


def _default_min_events(cells: CellCounts, eps_m: float) -> int:
    # A fixed number fits one town and not the next: in a busy one every cell would be a
    # core and the whole town one cluster. Twice the typical neighbourhood marks what stands out.
    raster = Raster.around(cells.ix, cells.iy)
    around = disk_sum(
        raster.paint(cells.ix, cells.iy, cells.count), disk_offsets(eps_m, cells.cell_m)
    )
    typical = float(np.median(raster.read(around, cells.ix, cells.iy)))
    return max(10, int(np.ceil(2.0 * typical)))


def _run_density(analysis: Analysis, deployment: Deployment) -> None:
    query, cells = analysis.query, analysis.cells
    bandwidth_m = query.bandwidth_m if query.bandwidth_m is not None else 2.0 * cells.cell_m
    ix, iy, count = _study_area(deployment, cells)
    density = kernel_density(cells, ix, iy, bandwidth_m=bandwidth_m)
    analysis.study_cells = len(ix)
    analysis.parameters.update(bandwidth_m=bandwidth_m, kernel="gaussian", units="events/km²")
    analysis.per_cell = {
        "ix": ix,
        "iy": iy,
        "count": count,
        "density": density,
    }


# -- publication --------------------------------------------------------------------------


def _iso(epoch_s: int) -> str:
    # numpy's calendar has no year 1-9999 limit: an odd stored date must not fail the answer.
    return str(np.datetime_as_string(np.datetime64(epoch_s, "s"))) + "Z"


def _cell_feature(ring: Any, cell_m: int, ix: int, iy: int, props: dict[str, Any]) -> Any:
    return {
        "type": "Feature",
        "id": f"{cell_m}:{ix}:{iy}",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": props,
    }


def publish(
    analysis: Analysis,
    deployment: Deployment,
    *,
    role: Role,
    released: Release | None = None,
    period: Period | None = None,
) -> Any:
    """The FeatureCollection a role may see: everything for managers and stewards; for
    peers and planners the analysis of the period's release (``released``)."""
    full = role in FULL_VIEW
    query = analysis.query
    summary: dict[str, Any] = {
        "method": query.method.value,
        "kind": query.kind.value,
        "datetime": [
            _iso(query.start) if query.start is not None else None,
            _iso(query.end) if query.end is not None else None,
        ],
        "parameters": dict(analysis.parameters),
        "audience": "all cells",
        "warnings": list(analysis.warnings),
    }
    if period is not None:
        summary["period"] = period.label
    features: list[Any] = []
    if not full:
        assert released is not None and period is not None
        summary["audience"] = f"released cells only (role {role.value}): {released.rule.describe()}"
        summary["released_on"] = released.made_on
        summary["parameters"].pop("moran_z_by_distance", None)
        if released.features:
            features = _released_features(analysis, deployment, summary, released, period)
        else:
            # None released looks the same whether the period had no events or a few.
            summary["parameters"] = {"cell_m": query.cell_m}
            summary["counts"] = {"events_shown": 0, "features": 0}
        if not features:
            summary["warnings"].append(
                "nothing in this period passes the publication threshold; try a quarter"
            )
        return {"type": "FeatureCollection", "features": features, "summary": summary}
    if analysis.cells.total and analysis.per_cell:
        if query.method is Method.GI_STAR:
            features = _gi_features(analysis, deployment, summary)
        elif query.method is Method.DENSITY:
            features = _density_features(analysis, deployment, summary)
        else:
            features = _cluster_features(analysis, deployment, summary)
    else:
        summary["counts"] = {"events": 0, "features": 0}
    return {"type": "FeatureCollection", "features": features, "summary": summary}


def _released_features(
    analysis: Analysis,
    deployment: Deployment,
    summary: dict[str, Any],
    released: Release,
    period: Period,
) -> list[Any]:
    method = analysis.query.method
    if method is Method.GI_STAR:
        c = analysis.per_cell
        klass = (
            {(int(x), int(y)): int(v) for x, y, v in zip(c["ix"], c["iy"], c["class"], strict=True)}
            if c
            else {}
        )
        features = []
        sizes = [released.cell_m << f.level for f in released.features]
        rings = deployment.cell_rings(
            np.array([f.ix for f in released.features], dtype=np.int64),
            np.array([f.iy for f in released.features], dtype=np.int64),
            np.array(sizes, dtype=np.float64),
        )
        for f, ring, size in zip(released.features, rings, sizes, strict=True):
            level = klass.get((f.ix, f.iy), 0) if f.level == 0 else None
            props = {
                "count": f.count,
                "cell_m": size,
                "gi_class": level,
                "confidence": _confidence(level)
                if level is not None
                else "not assessed at this cell size",
            }
            features.append(_cell_feature(ring, size, f.ix, f.iy, props))
        shown = [p["properties"]["gi_class"] for p in features]
        summary["counts"] = {
            "events_shown": released_total(released),
            "features": len(features),
            "hot": {CONFIDENCE[v]: shown.count(v) for v in (3, 2, 1)},
            "cold": {CONFIDENCE[v]: shown.count(-v) for v in (3, 2, 1)},
        }
        return features
    if not analysis.per_cell:  # only coarser cells were released: nothing to analyse
        summary["counts"] = {"events_shown": released.total, "features": 0}
        return []
    if method is Method.DENSITY:
        return _heat_from_released(analysis, deployment, summary, analysis.cells)
    # The analysis ran on the released cells: its clusters are theirs.
    return _cluster_features(
        analysis, deployment, summary, cells=analysis.cells, ranks=analysis.per_cell["rank"]
    )


def released_total(released: Release) -> int:
    return released.total


def _heat_from_released(
    analysis: Analysis, deployment: Deployment, summary: dict[str, Any], cells: CellCounts
) -> list[Any]:
    c = analysis.per_cell
    bandwidth_m = float(analysis.parameters["bandwidth_m"])
    density = kernel_density(cells, c["ix"], c["iy"], bandwidth_m=bandwidth_m)
    top = float(density.max(initial=0.0))
    features = []
    if top > 0:
        idx = np.flatnonzero(density >= 0.01 * top)
        levels = np.ceil(DENSITY_LEVELS * density[idx] / top).astype(int)
        rings = deployment.cell_rings(c["ix"][idx], c["iy"][idx], cells.cell_m)
        for ring, i, level in zip(rings, idx.tolist(), levels.tolist(), strict=True):
            features.append(
                _cell_feature(
                    ring, cells.cell_m, int(c["ix"][i]), int(c["iy"][i]), {"level": int(level)}
                )
            )
    summary["counts"] = {
        "features": len(features),
        "levels": DENSITY_LEVELS,
        "events_shown": cells.total,
    }
    return features


def _gi_features(analysis: Analysis, deployment: Deployment, summary: dict[str, Any]) -> list[Any]:
    c = analysis.per_cell
    cell_m = analysis.cells.cell_m
    shown = (c["count"] > 0) | (c["class"] != 0)
    idx = np.flatnonzero(shown)
    rings = deployment.cell_rings(c["ix"][idx], c["iy"][idx], cell_m)
    features = []
    for ring, i in zip(rings, idx.tolist(), strict=True):
        level = int(c["class"][i])
        props: dict[str, Any] = {
            "count": int(c["count"][i]),
            "gi_class": level,
            "confidence": _confidence(level),
            "gi_z": round(float(c["z"][i]), 6),
            "p_value": float(c["p"][i]),
            "p_adjusted": float(c["p_adjusted"][i]),
            "neighbours": int(c["neighbours"][i]),
        }
        features.append(_cell_feature(ring, cell_m, int(c["ix"][i]), int(c["iy"][i]), props))
    classes = c["class"][idx]
    summary["counts"] = {
        "events": analysis.cells.total,
        "cells_with_events": int((c["count"][idx] > 0).sum()),
        "features": len(features),
        "hot": {CONFIDENCE[v]: int((classes == v).sum()) for v in (3, 2, 1)},
        "cold": {CONFIDENCE[v]: int((classes == -v).sum()) for v in (3, 2, 1)},
        "cells_analysed": analysis.study_cells,
    }
    return features


def _confidence(level: int | None) -> str:
    if not level:
        return "not significant"
    return f"{'hot' if level > 0 else 'cold'} spot, {CONFIDENCE[abs(level)]} confidence"


def _density_features(
    analysis: Analysis, deployment: Deployment, summary: dict[str, Any]
) -> list[Any]:
    c = analysis.per_cell
    cell_m = analysis.cells.cell_m
    density = c["density"]
    top = float(density.max())
    # Drop the far tails (under 1 % of the peak): they only add bytes to a heat layer.
    shown = density >= 0.01 * top
    idx = np.flatnonzero(shown)
    levels = np.ceil(DENSITY_LEVELS * density[idx] / top).astype(int) if top > 0 else idx * 0
    rings = deployment.cell_rings(c["ix"][idx], c["iy"][idx], cell_m)
    features = []
    for ring, i, level in zip(rings, idx.tolist(), levels.tolist(), strict=True):
        props: dict[str, Any] = {
            "level": int(level),
            "density": round(float(density[i]), 4),
            "count": int(c["count"][i]),
        }
        features.append(_cell_feature(ring, cell_m, int(c["ix"][i]), int(c["iy"][i]), props))
    summary["counts"] = {
        "features": len(features),
        "levels": DENSITY_LEVELS,
        "events": analysis.cells.total,
        "cells_analysed": analysis.study_cells,
        "peak_density": round(top, 4),
    }
    return features


def _cluster_features(
    analysis: Analysis,
    deployment: Deployment,
    summary: dict[str, Any],
    *,
    cells: CellCounts | None = None,
    ranks: IntArray | None = None,
) -> list[Any]:
    full = cells is None
    cells = analysis.cells if cells is None else cells
    ranks = analysis.per_cell["rank"] if ranks is None else ranks
    clusters = describe_clusters(cells, ranks, grid=deployment.grid)
    features = []
    for cluster in clusters:
        features.append(
            {
                "type": "Feature",
                "id": f"cluster-{cluster.rank}",
                "geometry": deployment.to_geojson_geometry(cluster.polygon_m),
                "properties": {
                    "rank": cluster.rank,
                    "count": cluster.count,
                    "share": round(cluster.share, 4),
                    "cells": cluster.cells,
                    "centroid": deployment.to_lonlat_point(*cluster.centroid_m),
                    "first_bucket_start": _iso(cluster.first_start),
                    "last_bucket_end": _iso(cluster.last_end),
                },
            }
        )
    clustered = sum(c.count for c in clusters)
    summary["counts"] = {
        "events" if full else "events_shown": cells.total,
        "clusters": len(clusters),
        "events_in_clusters": clustered,
        "features": len(features),
    }
    if full:
        summary["counts"]["cells_with_events"] = len(cells)
    return features


# -- cache --------------------------------------------------------------------------------


class HotspotCache:
    """Recent analyses and their published bytes, keyed by the program's data version.

    Ingest bumps the version in the database, so a worker never serves an answer computed
    before the latest write, and stale entries simply age out of the LRU.
    """

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._lock = threading.Lock()
        self._analyses: OrderedDict[Any, Any] = OrderedDict()
        self._bodies: OrderedDict[Any, bytes] = OrderedDict()

    def _get(self, table: OrderedDict[Any, Any], key: Any) -> Any:
        with self._lock:
            if key in table:
                table.move_to_end(key)
                return table[key]
        return None

    def _put(self, table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        if self.entries == 0:
            return
        with self._lock:
            table[key] = value
            table.move_to_end(key)
            while len(table) > self.entries:
                table.popitem(last=False)

    def cached_body(self, key: Any) -> bytes | None:
        body: bytes | None = self._get(self._bodies, key)
        return body

    def keep_body(self, key: Any, body: bytes) -> None:
        self._put(self._bodies, key, body)

    def answer(
        self,
        store: Store,
        deployment: Deployment,
        *,
        program_id: int,
        query: HotspotQuery,
        role: Role,
        settings: Settings,
        period: Period | None = None,
        now: float | None = None,
    ) -> tuple[bytes, bool]:
        """The published body for this request, and whether it came from the cache."""
        if role not in FULL_VIEW:
            assert period is not None
            return self._released_answer(store, deployment, settings, program_id, query, role,
                                         period, now)  # fmt: skip
        version = store.data_version(program_id)
        body_key = (program_id, version, query, "full")
        body: bytes | None = self._get(self._bodies, body_key)
        if body is not None:
            return body, True
        analysis_key = (program_id, version, query)
        analysis: Analysis | None = self._get(self._analyses, analysis_key)
        if analysis is None:
            # Every method over one window reads the same cells: load them once.
            cells_key = ("cells", program_id, version, query.kind, query.start, query.end,
                         query.cell_m)  # fmt: skip
            cells: CellCounts | None = self._get(self._analyses, cells_key)
            if cells is None:
                cells = load_cells(store, deployment, program_id, query)
                self._put(self._analyses, cells_key, cells)
            analysis = analyse_cells(deployment, query, cells)
            self._put(self._analyses, analysis_key, analysis)
        body = orjson.dumps(
            publish(analysis, deployment, role=role), option=orjson.OPT_SERIALIZE_NUMPY
        )
        self._put(self._bodies, body_key, body)
        return body, False

    def _released_answer(
        self,
        store: Store,
        deployment: Deployment,
        settings: Settings,
        program_id: int,
        query: HotspotQuery,
        role: Role,
        period: Period,
        now: float | None,
    ) -> tuple[bytes, bool]:
        """A peer's or planner's answer: a function of the frozen release and the query."""
        release = get_release(
            store, deployment, settings, program_id=program_id, kind=query.kind, period=period,
            now=time.time() if now is None else now,
        )  # fmt: skip
        key = ("released", release.content_hash, query, role.value)
        body: bytes | None = self._get(self._bodies, key)
        if body is not None:
            return body, True
        analysis = analyse_cells(deployment, query, release_cells(release), released=True)
        body = orjson.dumps(
            publish(analysis, deployment, role=role, released=release, period=period),
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
        self._put(self._bodies, key, body)
        return body, False
