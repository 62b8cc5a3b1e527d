"""The one publication step every non-manager output goes through (DESIGN.md §4.4).

Given an audience (peer, planner, public), a kind and a finished calendar month or quarter,
it returns the released cells: at least k events from at least two reporting keys, failed
cells rolled up into parents that show only their residual, quarters built from their
months plus a residual (see :mod:`analysis.publication`).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.publication import (
    Atoms,
    Feature,
    group_rows,
    quarter_view,
    release_month,
    release_quarter,
)
from geo_service.audit import record
from geo_service.auth import Role
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.settings import EventKind, Settings
from geo_service.storage import ProgramPublication, Store

MIN_REPORTERS = 2
FIRST_YEAR, LAST_YEAR = 2000, 2100
PERIOD_PATTERN = re.compile(r"^(\d{4})-(?:(0[1-9]|1[0-2])|Q([1-4]))$")


class Audience(enum.StrEnum):
    PEER = "peer"
    PLANNER = "planner"
    PUBLIC = "public"


class Bucket(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"


AUDIENCE_OF_ROLE = {Role.PEER: Audience.PEER, Role.PLANNER: Audience.PLANNER}


@dataclass(frozen=True)
class Period:
    label: str
    bucket: Bucket
    months: tuple[int, ...]  # year * 12 + month - 1
    start: int  # UTC epoch seconds of the local start
    end: int


def _month_start(index: int, tz: dt.tzinfo) -> int:
    year, month = divmod(index, 12)
    return int(dt.datetime(year, month + 1, 1, tzinfo=tz).timestamp())


def parse_period(text: str, deployment: Deployment) -> Period:
    """``2025-05`` (a month) or ``2025-Q2`` (a quarter), in the deployment's time zone."""
    match = PERIOD_PATTERN.match(text)
    if not match:
        raise InvalidParameter(
            "period must be a calendar month such as 2025-05 or a quarter such as 2025-Q2"
        )
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:  # year 0 or 9999 would overflow the clock
        raise InvalidParameter(f"period must fall in the years {FIRST_YEAR}-{LAST_YEAR}")
    if match.group(2):
        months: tuple[int, ...] = (year * 12 + int(match.group(2)) - 1,)
        bucket = Bucket.MONTH
    else:
        first = year * 12 + (int(match.group(3)) - 1) * 3
        months, bucket = (first, first + 1, first + 2), Bucket.QUARTER
    return Period(
        text,
        bucket,
        months,
        _month_start(months[0], deployment.tz),
        _month_start(months[-1] + 1, deployment.tz),
    )


def check_period(period: Period, choice: ProgramPublication, *, now: float) -> None:
    if period.end > now:
        raise InvalidParameter(
            "that period has not finished; only finished months and quarters are published"
        )
    if choice.bucket == Bucket.QUARTER and period.bucket == Bucket.MONTH:
        raise InvalidParameter(
            "this program publishes by quarter; ask for a quarter such as 2025-Q2"
        )


def threshold(settings: Settings, choice: ProgramPublication, audience: Audience) -> int:
    """The k an audience gets: the steward's choice, never below the deployment's floor."""
    floor = settings.publish_min_count if audience != Audience.PUBLIC else settings.public_min_count
    chosen = {
        Audience.PEER: choice.k_peer,
        Audience.PLANNER: choice.k_planner,
        Audience.PUBLIC: choice.k_public,
    }[audience]
    return max(floor, chosen or floor)


def _top_level(deployment: Deployment, cell_m: int) -> int:
    # Up to the level where one cell spans the whole service area.
    xmin, ymin, xmax, ymax = deployment.service_area_m.bounds
    span = max(xmax - xmin, ymax - ymin)
    return max(0, math.ceil(math.log2(max(span / cell_m, 1.0)))) + 1


@dataclass(frozen=True)
class ReleasedLayer:
    cell_m: int  # the level-0 (stored) cell size
    features: list[Feature]
    k: int
    events: int  # all events of the kind in the period (for managers' summaries only)
    atoms: Atoms | None = None  # what the features' members index (for the checks)

    def member_keys(self, feature: Feature) -> frozenset[tuple[int, int, int, int]]:
        """The feature's atoms as (ix, iy, month, reporter), comparable across layers."""
        assert self.atoms is not None
        a = self.atoms
        return frozenset(
            (int(a.ix[i]), int(a.iy[i]), int(a.period[i]), int(a.reporter[i]))
            for i in feature.members
        )


def released_layer(
    store: Store,
    deployment: Deployment,
    *,
    program_id: int,
    kind: EventKind,
    period: Period,
    k: int,
) -> ReleasedLayer:
    base_m = deployment.cell_m(kind)
    parts = store.event_atoms(program_id, kind.value, start=period.start, end=period.end)
    if not parts:
        return ReleasedLayer(base_m, [], k, 0)
    columns: dict[str, list[Any]] = {"ix": [], "iy": [], "start": [], "reporter": [], "n": []}
    for part in parts:  # one stored size per kind, but roll up anything finer to be safe
        levels = deployment.grid.levels_between(part.cell_m, base_m)
        columns["ix"].append(np.floor_divide(part.ix, 1 << levels))
        columns["iy"].append(np.floor_divide(part.iy, 1 << levels))
        columns["start"].append(part.bucket_start)
        columns["reporter"].append(part.reporter)
        columns["n"].append(part.count)
    starts = np.concatenate(columns["start"])
    local = pd.to_datetime(starts, unit="s", utc=True).tz_convert(deployment.tz)
    month = np.asarray(local.year * 12 + local.month - 1, dtype=np.int64)
    # One atom per (cell, month, reporter): hours inside a month never matter here.
    ix, iy = np.concatenate(columns["ix"]), np.concatenate(columns["iy"])
    reporter = np.concatenate(columns["reporter"])
    first, inverse = group_rows(ix, iy, month, reporter)
    keys = np.column_stack([ix[first], iy[first], month[first], reporter[first]])
    summed = np.bincount(inverse, weights=np.concatenate(columns["n"]))
    atoms = Atoms.of(keys[:, 0], keys[:, 1], keys[:, 2], keys[:, 3], summed.astype(np.int64))
    top = _top_level(deployment, base_m)
    if period.bucket == Bucket.MONTH:
        features = release_month(atoms, period.months[0], k=k, min_reporters=MIN_REPORTERS).features
    else:
        months, residual = release_quarter(
            atoms, list(period.months), k=k, min_reporters=MIN_REPORTERS, top_level=top
        )
        features = quarter_view(list(months.values()), residual)
    return ReleasedLayer(base_m, features, k, int(atoms.count.sum()), atoms)


def layer_features(layer: ReleasedLayer, deployment: Deployment) -> list[dict[str, Any]]:
    """Released cells as GeoJSON polygons: nothing but where, how big, and how many."""
    if not layer.features:
        return []
    ix = np.array([f.ix for f in layer.features], dtype=np.int64)
    iy = np.array([f.iy for f in layer.features], dtype=np.int64)
    size = np.array([layer.cell_m << f.level for f in layer.features], dtype=np.float64)
    rings = deployment.cell_rings(ix, iy, size)
    return [
        {
            "type": "Feature",
            "id": f"{int(m)}:{f.ix}:{f.iy}",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"count": f.count, "cell_m": int(m)},
        }
        for f, ring, m in zip(layer.features, rings, size, strict=True)
    ]


def describe(settings: Settings, choice: ProgramPublication) -> dict[str, Any]:
    """The program's effective publication settings."""
    return {
        "k": {a.value: threshold(settings, choice, a) for a in Audience},
        "floors": {
            "peer": settings.publish_min_count,
            "planner": settings.publish_min_count,
            "public": settings.public_min_count,
        },
        "public_enabled": choice.public_enabled,
        "bucket": choice.bucket,
        "min_reporters": MIN_REPORTERS,
    }


def change_publication(
    store: Store,
    settings: Settings,
    *,
    program_id: int,
    chosen: ProgramPublication,
    actor: str,
    key_id: int | None = None,
) -> dict[str, Any]:
    """Store the steward's choice (thresholds only at or above the floors), audited."""
    floors = {
        "k_peer": settings.publish_min_count,
        "k_planner": settings.publish_min_count,
        "k_public": settings.public_min_count,
    }
    for name, floor in floors.items():
        value = getattr(chosen, name)
        if value is not None and value < floor:
            raise InvalidParameter(
                f"{name} may be raised, never set below the deployment's floor of {floor}"
            )
    if chosen.bucket not in {b.value for b in Bucket}:
        raise InvalidParameter("bucket is month or quarter")
    before = describe(settings, store.publication(program_id))
    store.set_publication(program_id, chosen)
    after = describe(settings, chosen)
    record(
        store,
        "publication.change",
        actor=actor,
        program_id=program_id,
        key_id=key_id,
        before={k: before[k] for k in ("k", "public_enabled", "bucket")},
        after={k: after[k] for k in ("k", "public_enabled", "bucket")},
    )
    return after
