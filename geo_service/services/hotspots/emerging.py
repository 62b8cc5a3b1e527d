"""Emerging hot spots for the API (issue 19, part 5): a space-time cube of the latest time
steps, ArcGIS Pro's space-time Gi* and Mann-Kendall trend (:mod:`analysis.emerging`), and
each cell's pattern with its plain name.

Managers and stewards: the cube holds every stored event of the steps, and they see each
cell's trend. Peers and planners: the cube is the latest released months alone (a cell a
month did not release is empty that month), so their answer, band included, is a function
of the releases and the request; they see the pattern only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import orjson

from analysis.band import choose_distance_band
from analysis.emerging import PEER_NAMES, Pattern, find_emerging_hot_spots
from analysis.hotspots import FEW_CELLS
from geo_service.auth import FULL_VIEW
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.geojson import Feature, FeatureCollection, polygon
from geo_service.periods import DAY_S, Bucket, latest_published, parse_period, period_of
from geo_service.services.basis import Basis, combined, full_basis, release_basis
from geo_service.services.hotspots.cube import (
    Cube,
    Step,
    TimeStep,
    last_finished_month,
    month_steps,
    release_cube,
    store_cube,
    week_steps,
)
from geo_service.services.releases import Release, View, get_release, grace_days
from geo_service.settings import EventKind
from maps.words import window_words

if TYPE_CHECKING:
    from geo_service.services.program import ProgramContext

DEFAULT_STEPS = {TimeStep.MONTH: 12, TimeStep.WEEK: 26}
MAX_STEPS = {TimeStep.MONTH: 24, TimeStep.WEEK: 104}
AVERAGE_MONTH_S = 30.44 * DAY_S
FEW_STEPS = 10  # ArcGIS Pro asks for at least ten time steps for a trend to mean much
ONLY_MONTHS_BELOW_MANAGER = (
    "peers and planners see emerging hot spots by month only: they are built from the "
    "monthly releases, and weeks are never released"
)
QUARTERLY_PROGRAM = (
    "this program publishes by quarter; emerging hot spots need monthly releases, so they are "
    "for managers and stewards here"
)


@dataclass(frozen=True)
class EmergingQuery:
    kind: EventKind
    time_step: TimeStep = TimeStep.MONTH
    steps: int | None = None
    distance_m: float | None = None
    time_step_interval: int = 1
    alpha: float = 0.05

    @property
    def step_count(self) -> int:
        return self.steps if self.steps is not None else DEFAULT_STEPS[self.time_step]


def pattern_code(pattern: Pattern) -> str:
    """A stable name for a pattern: ``NEW_HOT`` -> ``new_hot_spot``."""
    return f"{pattern.name.lower()}_spot"


# -- which steps, and their cube ---------------------------------------------------------------


def check_query(query: EmergingQuery, *, full_view: bool) -> None:
    if query.step_count > MAX_STEPS[query.time_step]:
        raise InvalidParameter(
            f"steps may be at most {MAX_STEPS[query.time_step]} when time_step is "
            f"{query.time_step.value}"
        )
    if query.time_step_interval >= query.step_count:
        raise InvalidParameter("time_step_interval must be smaller than steps")
    if not full_view and query.time_step is not TimeStep.MONTH:
        raise InvalidParameter(ONLY_MONTHS_BELOW_MANAGER)


def _released_months(ctx: ProgramContext, query: EmergingQuery) -> list[Release]:
    """The latest ``steps`` published months' releases, oldest first."""
    choice = ctx.store.publication(ctx.program_id)
    if choice.bucket == Bucket.QUARTER:
        raise InvalidParameter(QUARTERLY_PROGRAM)
    tz = ctx.deployment.tz
    # The latest month published by now, as every other period choice reads it.
    label = latest_published(Bucket.MONTH, now=ctx.now, grace_days=grace_days(choice), tz=tz)
    latest = parse_period(label, ctx.deployment).months[0]
    first = latest - query.step_count + 1
    return [
        get_release(
            ctx.store,
            ctx.deployment,
            ctx.settings,
            program_id=ctx.program_id,
            kind=query.kind,
            period=period_of(Bucket.MONTH, month, tz),
            now=ctx.now,
            view=View(),
        )
        for month in range(first, latest + 1)
    ]


# -- the answer ----------------------------------------------------------------------------


def emerging_answer(ctx: ProgramContext, query: EmergingQuery) -> tuple[bytes, bool]:
    """The role's published body (English words; the route translates labels), and whether
    it came from the worker's cache."""
    check_query(query, full_view=ctx.full_view)
    cache = ctx.services.hotspots
    deployment = ctx.deployment
    if ctx.role in FULL_VIEW:
        tz = deployment.tz
        steps = (
            month_steps(last_finished_month(ctx.now, tz), query.step_count, tz)
            if query.time_step is TimeStep.MONTH
            else week_steps(ctx.now, query.step_count, tz)
        )
        version = ctx.store.data_version(ctx.program_id)
        key: tuple[object, ...] = ("emerging", ctx.program_id, version, query, steps)
        body = cache.cached_body(key)
        if body is not None:
            return body, True
        cube = store_cube(ctx.store, deployment, ctx.program_id, query.kind, steps)
        window = _window(steps, tz)
        basis = full_basis(cube.total, cube.total, window)
        collection = publish_emerging(deployment, query, cube, basis, full=True)
        if steps[0].start < ctx.now - ctx.settings.retention_months * AVERAGE_MONTH_S:
            # Rolled-up months keep their totals but no cell: such a step looks quiet.
            cast(list[str], collection["summary"]["warnings"]).append(
                "the oldest time steps reach past the retention period; events there were "
                "rolled into monthly totals and are not counted, so those steps look quieter"
            )
    else:
        releases = _released_months(ctx, query)
        # The program and its geography are in the key: two programs' releases may hash alike.
        key = (
            "emerging-released",
            ctx.program_id,
            deployment.geography.stamp,
            tuple(r.content_hash for r in releases),
            query,
            ctx.role.value,
        )
        body = cache.cached_body(key)
        if body is not None:
            return body, True
        steps = tuple(Step(r.period.label, r.period.start, r.period.end) for r in releases)
        cube = release_cube(releases, steps)
        window = _window(steps, deployment.tz)
        basis = combined(
            release_basis(r, used=sum(r.base_cells().values()), window=window) for r in releases
        )
        collection = publish_emerging(deployment, query, cube, basis, full=False)
    body = orjson.dumps(collection, option=orjson.OPT_SERIALIZE_NUMPY)
    cache.keep_body(key, body)
    return body, False


def _window(steps: tuple[Step, ...], tz: dt.tzinfo) -> str:
    first = dt.datetime.fromtimestamp(steps[0].start, tz).date()
    last = dt.datetime.fromtimestamp(steps[-1].end - 1, tz).date()
    return window_words(first, last)


def _iso(epoch_s: int) -> str:
    return str(np.datetime_as_string(np.datetime64(epoch_s, "s"))) + "Z"


def publish_emerging(
    deployment: Deployment, query: EmergingQuery, cube: Cube, basis: Basis, *, full: bool
) -> FeatureCollection:
    """The cells with a pattern, and what the answer rests on, cut to the role."""
    warnings: list[str] = []
    parameters: dict[str, object] = {
        "cell_m": cube.cell_m,
        "time_step": query.time_step.value,
        "time_step_interval": query.time_step_interval,
        "alpha": query.alpha,
        "fdr": "Benjamini-Hochberg within each time step",
    }
    summary: dict[str, object] = {
        "method": "emerging",
        "kind": query.kind.value,
        "datetime": [_iso(cube.steps[0].start), _iso(cube.steps[-1].end)],
        "time_steps": [s.label for s in cube.steps],
        "parameters": parameters,
        "audience": "all events" if full else "released cells of the monthly releases only",
        "warnings": warnings,
    }
    features: list[Feature] = []
    counts: dict[str, object] = {"events" if full else "events_shown": cube.total}
    if cube.total == 0 or len(cube.ix) < 2:
        warnings.append(
            f"no {query.kind.value} events to compare in these time steps; nothing to analyse"
            if full
            else "too few places pass the publication threshold in these months; nothing to analyse"
        )
    else:
        features = _analyse(deployment, query, cube, parameters, counts, full=full)
    if len(cube.steps) < FEW_STEPS:
        warnings.append(
            f"only {len(cube.steps)} time steps: a trend over fewer than {FEW_STEPS} says "
            "little; read the patterns as a rough sketch"
        )
    if 0 < len(cube.ix) < FEW_CELLS:
        warnings.append(
            f"only {len(cube.ix)} places hold events (fewer than {FEW_CELLS}); treat the "
            "patterns as a description of these few reports, not as evidence"
        )
    counts["features"] = len(features)
    summary["counts"] = counts
    summary["basis"] = basis.to_json()
    warnings.extend(basis.warnings)
    return {"type": "FeatureCollection", "features": features, "summary": summary}


def _analyse(
    deployment: Deployment,
    query: EmergingQuery,
    cube: Cube,
    parameters: dict[str, object],
    counts: dict[str, object],
    *,
    full: bool,
) -> list[Feature]:
    if query.distance_m is None:
        distance_m, parameters["distance_rule"] = _automatic_band(deployment, cube), "automatic"
    else:
        distance_m, parameters["distance_rule"] = query.distance_m, "given"
    parameters["distance_m"] = distance_m
    found = find_emerging_hot_spots(
        cube.ix,
        cube.iy,
        cube.counts,
        cell_m=cube.cell_m,
        distance_m=distance_m,
        time_step_interval=query.time_step_interval,
        alpha=query.alpha,
    )
    counts["cells_analysed"] = len(cube.ix)
    counts["patterns"] = {
        pattern_code(p): int((found.pattern == p).sum()) for p in Pattern if p is not Pattern.NONE
    }
    shown = np.flatnonzero(found.pattern != Pattern.NONE)
    rings = deployment.cell_rings(cube.ix[shown], cube.iy[shown], cube.cell_m)
    hot_share = (found.gi.significance == 1).mean(axis=1)
    cold_share = (found.gi.significance == -1).mean(axis=1)
    features: list[Feature] = []
    for ring, i in zip(rings, shown.tolist(), strict=True):
        pattern = Pattern(int(found.pattern[i]))
        props: dict[str, object] = {"pattern": pattern_code(pattern), "label": PEER_NAMES[pattern]}
        if full:
            props.update(
                count=int(cube.counts[i].sum()),
                trend_z=round(float(found.trend.z[i]), 6),
                trend_p=float(found.trend.p[i]),
                hot_share=round(float(hot_share[i]), 4),
                cold_share=round(float(cold_share[i]), 4),
                final_z=round(float(found.gi.z[i, -1]), 6),
            )
        ix, iy = int(cube.ix[i]), int(cube.iy[i])
        features.append(
            {
                "type": "Feature",
                "id": f"{cube.cell_m}:{ix}:{iy}",
                "geometry": polygon(ring),
                "properties": props,
            }
        )
    return features


def _automatic_band(deployment: Deployment, cube: Cube) -> float:
    """The band Gi* would choose on the steps together: the study area's cells (empty ones
    too) and the cube's cells with their totals."""
    area_ix, area_iy = deployment.study_cells(cube.cell_m)
    both = np.column_stack([np.concatenate([area_ix, cube.ix]), np.concatenate([area_iy, cube.iy])])
    unique, inverse = np.unique(both, axis=0, return_inverse=True)
    total = np.zeros(len(unique), dtype=np.int64)
    total[inverse.ravel()[len(area_ix) :]] = cube.counts.sum(axis=1)
    band = choose_distance_band(
        unique[:, 0],
        unique[:, 1],
        total,
        cell_m=cube.cell_m,
        study_extent_m=deployment.shorter_side_m,
    )
    return float(band.distance_m)
