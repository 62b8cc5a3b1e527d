"""The space-time permutation scan for the API (issue 19, part 6), managers and stewards only.

Every stored event of one kind in the year up to ``last_day`` (local days), scanned for
cylinders of up to ``max_days`` days ending on ``last_day`` and circles of up to
``max_radius_m`` (:func:`analysis.stscan.space_time_scan`); clusters are drawn as the union
of their cells.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import orjson
import pandas as pd
import shapely

from analysis.grid import IntArray, cell_bounds
from analysis.stscan import ScanLimits, SpaceTimeScan, space_time_scan
from geo_service.deployment import Deployment
from geo_service.errors import Forbidden, InvalidParameter
from geo_service.geojson import Feature, FeatureCollection
from geo_service.periods import FIRST_YEAR
from geo_service.services.basis import full_basis
from geo_service.settings import EventKind
from maps.words import FEW_REPORTS, window_words

if TYPE_CHECKING:
    from geo_service.services.program import ProgramContext

STUDY_DAYS = 365  # the baseline every window is compared with
MAX_CLUSTERS = 20  # the most likely first; the rest are ever weaker echoes
MAX_PERMUTATIONS = 999
EPOCH = dt.date(1970, 1, 1)
MANAGERS_ONLY = "the space-time scan is for managers and stewards only, for now"


@dataclass(frozen=True)
class ScanQuery:
    kind: EventKind
    last_day: dt.date
    max_days: int = 7
    max_radius_m: float = 500.0
    permutations: int = MAX_PERMUTATIONS
    seed: int = 0


@dataclass(frozen=True)
class ScanEvents:
    """One row per event: its stored-size cell and local day number (days since 1970-01-01)."""

    cell_m: int
    ix: IntArray
    iy: IntArray
    day: IntArray


def today(ctx: ProgramContext) -> dt.date:
    return dt.datetime.fromtimestamp(ctx.now, ctx.deployment.tz).date()


def _midnight(day: dt.date, tz: dt.tzinfo) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def scan_events(ctx: ProgramContext, query: ScanQuery) -> ScanEvents:
    """The kind's stored events in the ``STUDY_DAYS`` up to ``last_day``, one row each."""
    deployment, tz = ctx.deployment, ctx.deployment.tz
    cell_m = deployment.cell_m(query.kind)
    first = query.last_day - dt.timedelta(days=STUDY_DAYS - 1)
    start, end = _midnight(first, tz), _midnight(query.last_day + dt.timedelta(days=1), tz)
    parts = []
    for group in ctx.store.event_buckets(ctx.program_id, query.kind.value, start=start, end=end):
        if group.cell_m > cell_m:
            raise InvalidParameter(
                f"some {query.kind.value} events are stored in cells larger than {cell_m} m"
            )
        shift = deployment.grid.levels_between(group.cell_m, cell_m)
        local = pd.to_datetime(group.bucket_start, unit="s", utc=True).tz_convert(tz)
        day = (local.tz_localize(None).normalize() - pd.Timestamp(EPOCH)).days.to_numpy()
        # The scan counts events: a stored row of n (an overdose is 1) is n of them.
        repeat = group.count.astype(np.int64)
        parts.append(
            (
                np.repeat(group.ix >> shift, repeat),
                np.repeat(group.iy >> shift, repeat),
                np.repeat(day.astype(np.int64), repeat),
            )
        )
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return ScanEvents(cell_m, empty, empty, empty)
    ix, iy, day = (np.concatenate(column) for column in zip(*parts, strict=True))
    return ScanEvents(cell_m, ix, iy, day)


def run_scan(events: ScanEvents, query: ScanQuery) -> SpaceTimeScan | None:
    """The scan of ``events`` as the query asks, or None with fewer than two events."""
    if len(events.day) < 2:
        return None
    return space_time_scan(
        events.ix,
        events.iy,
        events.day,
        cell_m=events.cell_m,
        limits=ScanLimits(max_days=query.max_days, max_radius_m=query.max_radius_m),
        last_day=(query.last_day - EPOCH).days,
        permutations=query.permutations,
        seed=query.seed,
    )


def scan_answer(ctx: ProgramContext, query: ScanQuery) -> tuple[bytes, bool]:
    """A manager's answer and whether it came from the worker's cache."""
    if not ctx.full_view:
        raise Forbidden(MANAGERS_ONLY)
    if query.last_day > today(ctx):
        raise InvalidParameter("last_day must not be after today")
    if query.last_day.year < FIRST_YEAR:
        raise InvalidParameter(f"last_day must fall in {FIRST_YEAR} or later")
    cache = ctx.services.hotspots
    key = ("stscan", ctx.program_id, ctx.store.data_version(ctx.program_id), query)
    body = cache.cached_body(key)
    if body is not None:
        return body, True
    events = scan_events(ctx, query)
    found = run_scan(events, query)
    body = orjson.dumps(publish_scan(ctx.deployment, query, events, found))
    cache.keep_body(key, body)
    return body, False


def publish_scan(
    deployment: Deployment, query: ScanQuery, events: ScanEvents, found: SpaceTimeScan | None
) -> FeatureCollection:
    first = query.last_day - dt.timedelta(days=STUDY_DAYS - 1)
    warnings: list[str] = []
    features = [] if found is None else _cluster_features(deployment, query, events, found)
    total = len(events.day)
    if found is None:
        warnings.append(f"fewer than two {query.kind.value} events in the year; nothing to scan")
    elif total < FEW_REPORTS:
        warnings.append(
            f"only {total} events in the year: a cluster of a few events can be chance; read "
            "the p-values with care"
        )
    basis = full_basis(total, total, window_words(first, query.last_day))
    warnings.extend(basis.warnings)
    summary: dict[str, object] = {
        "method": "stscan",
        "kind": query.kind.value,
        "study_days": [first.isoformat(), query.last_day.isoformat()],
        "parameters": {
            "cell_m": events.cell_m,
            "max_days": query.max_days,
            "max_radius_m": query.max_radius_m,
            "permutations": query.permutations,
            "seed": query.seed,
            "last_day": query.last_day.isoformat(),
            "study_days": STUDY_DAYS,
        },
        "counts": {
            "events": total,
            "clusters": len(features),
            "clusters_found": 0 if found is None else len(found.clusters),
        },
        "audience": "all events",
        "basis": basis.to_json(),
        "warnings": warnings,
    }
    return {"type": "FeatureCollection", "features": features, "summary": summary}


def _cluster_features(
    deployment: Deployment, query: ScanQuery, events: ScanEvents, found: SpaceTimeScan
) -> list[Feature]:
    features: list[Feature] = []
    for rank, cluster in enumerate(found.clusters[:MAX_CLUSTERS], start=1):
        ix, iy = found.cell_ix[cluster.cells], found.cell_iy[cluster.cells]
        boxes = shapely.box(*cell_bounds(ix, iy, grid=deployment.grid, cell_m=events.cell_m))
        first = query.last_day - dt.timedelta(days=cluster.days - 1)
        features.append(
            {
                "type": "Feature",
                "id": f"cluster-{rank}",
                "geometry": deployment.to_geojson_geometry(shapely.coverage_union_all(boxes)),
                "properties": {
                    "rank": rank,
                    "observed": cluster.observed,
                    "expected": round(cluster.expected, 6),
                    "llr": round(cluster.llr, 6),
                    "p": cluster.p,
                    "recurrence_interval": round(cluster.recurrence_interval, 6),
                    "window": [first.isoformat(), query.last_day.isoformat()],
                    "days": cluster.days,
                    "radius_m": cluster.radius_m,
                    "cells": len(cluster.cells),
                },
            }
        )
    return features
