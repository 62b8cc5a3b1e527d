"""Hot-spot analyses: a window's cells in, Gi* classes, clusters or a heat surface out.

Nothing here knows who asks: cutting a result down for a role is :mod:`.features`, and
which cells a role's analysis may read is :mod:`.cache`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.band import choose_distance_band
from analysis.clusters import dbscan_labels, hdbscan_labels, rank_labels
from analysis.density import kernel_density
from analysis.grid import (
    CellCounts,
    IntArray,
    Raster,
    count_in_grid,
    disk_offsets,
    disk_sum,
)
from analysis.hotspots import FEW_CELLS, confidence_classes, gi_star, hot_spots_hold_events
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.settings import EventKind
from geo_service.storage import Store


class Method(enum.StrEnum):
    GI_STAR = "gi_star"
    DBSCAN = "dbscan"
    HDBSCAN = "hdbscan"
    DENSITY = "density"
    EMERGING = "emerging"  # served by .emerging, on a space-time cube
    STSCAN = "stscan"  # served by .scan, on events per local day


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


def study_area(deployment: Deployment, cells: CellCounts) -> tuple[IntArray, IntArray, IntArray]:
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
    ix, iy, count = study_area(deployment, cells)
    # The automatic band and its curve are worked out even when a band is given: the
    # manager's band control lists the bands tried and marks the automatic one.
    band = choose_distance_band(
        ix, iy, count, cell_m=cells.cell_m, study_extent_m=deployment.shorter_side_m
    )
    analysis.parameters["moran_z_by_distance"] = [
        {"distance_m": d, "z": z} for d, z in band.moran_z.items()
    ]
    analysis.parameters["automatic_distance_m"] = band.distance_m
    analysis.parameters["band_search"] = {
        "start_m": band.start_m,
        "increment_m": band.increment_m,
        "bound_m": band.bound_m,
        "k_neighbours": band.k_neighbours,
    }
    if query.distance_m is None:
        distance_m, rule, code = band.distance_m, band.rule, band.rule_code
        if band.isolated_cells:
            analysis.warnings.append(
                f"{band.isolated_cells} cells with events have no other such cell within the "
                f"{distance_m:g} m band; set distance_m to choose the band yourself"
            )
    else:
        distance_m, rule, code = query.distance_m, "given", "given"
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
    classes, empty_not_hot = hot_spots_hold_events(classes, count)
    analysis.study_cells = len(ix)
    analysis.parameters.update(
        distance_m=distance_m,
        distance_rule=rule,
        distance_rule_code=code,
        empty_cells_not_hot=empty_not_hot,
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
    ix, iy, count = study_area(deployment, cells)
    density = kernel_density(cells, ix, iy, bandwidth_m=bandwidth_m)
    analysis.study_cells = len(ix)
    analysis.parameters.update(bandwidth_m=bandwidth_m, kernel="gaussian", units="events/km²")
    analysis.per_cell = {
        "ix": ix,
        "iy": iy,
        "count": count,
        "density": density,
    }
