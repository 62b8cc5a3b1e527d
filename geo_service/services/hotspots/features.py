"""Analyses as GeoJSON, cut to the role: every cell and its statistics for managers and
stewards; for peers and planners the released cells and classes only."""

from __future__ import annotations

import numpy as np

from analysis.clusters import describe_clusters
from analysis.density import kernel_density
from analysis.grid import CellCounts, IntArray
from geo_service.auth import FULL_VIEW, Role
from geo_service.deployment import Deployment
from geo_service.geojson import Feature, FeatureCollection, polygon
from geo_service.periods import Period
from geo_service.services.basis import Basis, base_basis, full_basis
from geo_service.services.hotspots.compute import Analysis, Method
from geo_service.services.releases import Release
from maps.words import period_words

DENSITY_LEVELS = 10
CONFIDENCE = {3: "99%", 2: "95%", 1: "90%"}


def _iso(epoch_s: int) -> str:
    # numpy's calendar has no year 1-9999 limit: an odd stored date must not fail the answer.
    return str(np.datetime_as_string(np.datetime64(epoch_s, "s"))) + "Z"


# What an answer says of itself: method, window, parameters, audience, counts, warnings.
Summary = dict[str, object]


def _cell_feature(
    ring: list[list[float]], cell_m: int, ix: int, iy: int, props: dict[str, object]
) -> Feature:
    return {
        "type": "Feature",
        "id": f"{cell_m}:{ix}:{iy}",
        "geometry": polygon(ring),
        "properties": props,
    }


def publish(
    analysis: Analysis,
    deployment: Deployment,
    *,
    role: Role,
    released: Release | None = None,
    period: Period | None = None,
) -> FeatureCollection:
    """The FeatureCollection a role may see: everything for managers and stewards; for
    peers and planners the analysis of the period's release (``released``)."""
    full = role in FULL_VIEW
    query = analysis.query
    parameters = dict(analysis.parameters)
    warnings = list(analysis.warnings)
    summary: Summary = {
        "method": query.method.value,
        "kind": query.kind.value,
        "datetime": [
            _iso(query.start) if query.start is not None else None,
            _iso(query.end) if query.end is not None else None,
        ],
        "parameters": parameters,
        "audience": "all cells",
        "warnings": warnings,
    }
    if period is not None:
        summary["period"] = period.label
    features: list[Feature] = []
    if not full:
        assert released is not None and period is not None
        summary["audience"] = f"released cells only (role {role.value}): {released.rule.describe()}"
        summary["released_on"] = released.made_on
        parameters.pop("moran_z_by_distance", None)
        if released.features:
            features = _released_features(analysis, deployment, summary, released)
        else:
            # None released looks the same whether the period had no events or a few.
            summary["parameters"] = {"cell_m": query.cell_m}
            summary["counts"] = {"events_shown": 0, "features": 0}
        basis = base_basis(released, period_words(period.label))
        if not released.features:
            warnings.append(
                "nothing in this period passes the publication threshold; try a quarter"
            )
        elif not basis.used:
            warnings.append(
                "this period's reports are shown only in larger squares, too coarse to "
                "analyse here; try a longer period"
            )
        _state_basis(summary, basis)
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
    window = period_words(period.label) if period is not None else "this window"
    every = analysis.cells.total  # a manager's analysis reads every event of the window
    _state_basis(summary, full_basis(every, every, window))
    return {"type": "FeatureCollection", "features": features, "summary": summary}


def _state_basis(summary: Summary, basis: Basis) -> None:
    """Say what share of the window's reports the answer rests on, and warn below half."""
    summary["basis"] = basis.to_json()
    warnings = summary["warnings"]
    assert isinstance(warnings, list)
    warnings.extend(basis.warnings)


def _released_features(
    analysis: Analysis,
    deployment: Deployment,
    summary: Summary,
    released: Release,
) -> list[Feature]:
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
            props: dict[str, object] = {
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
            "events_shown": released.total,
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


def _heat_from_released(
    analysis: Analysis, deployment: Deployment, summary: Summary, cells: CellCounts
) -> list[Feature]:
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


def _gi_features(analysis: Analysis, deployment: Deployment, summary: Summary) -> list[Feature]:
    c = analysis.per_cell
    cell_m = analysis.cells.cell_m
    shown = (c["count"] > 0) | (c["class"] != 0)
    idx = np.flatnonzero(shown)
    rings = deployment.cell_rings(c["ix"][idx], c["iy"][idx], cell_m)
    features = []
    for ring, i in zip(rings, idx.tolist(), strict=True):
        level = int(c["class"][i])
        props: dict[str, object] = {
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
    analysis: Analysis, deployment: Deployment, summary: Summary
) -> list[Feature]:
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
        props: dict[str, object] = {
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
    summary: Summary,
    *,
    cells: CellCounts | None = None,
    ranks: IntArray | None = None,
) -> list[Feature]:
    full = cells is None
    cells = analysis.cells if cells is None else cells
    ranks = analysis.per_cell["rank"] if ranks is None else ranks
    clusters = describe_clusters(cells, ranks, grid=deployment.grid)
    features: list[Feature] = []
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
    counts: dict[str, object] = {
        "events" if full else "events_shown": cells.total,
        "clusters": len(clusters),
        "events_in_clusters": clustered,
        "features": len(features),
    }
    if full:
        counts["cells_with_events"] = len(cells)
    summary["counts"] = counts
    return features
