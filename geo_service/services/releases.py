"""Frozen releases: the only source of numbers below manager level (DESIGN.md §4.4, §4.5).

A release is (program, kind, period), made at the first request after the period ends plus
the program's grace window, stored with its rule and a content hash, and never recomputed.
Reports stored after their period's release are kept for managers (``late``) and enter no
release, so backdating cannot move a published number. A quarter is its months' frozen cells
plus a release, with roll-up, of what no month showed. Peers and planners share the release;
the public layer is its coarsening. Before a release is stored, a differencing check runs over
it and every release that shares reports with it (the quarter and its months, and the public
coarsening of each); a release it finds solvable is withheld, not published.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from analysis.coverage import HOURS_OF_WEEK, spread_over_week
from analysis.publication import (
    Atoms,
    Feature,
    coarsen,
    find_differencing_leak,
    group_rows,
    release,
    release_month,
    remove_top_keys,
)
from geo_service.audit import record
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter, ServiceError
from geo_service.ingest.events import ValidatedBatch
from geo_service.periods import (
    Bucket,
    Period,
    is_published,
    month_label,
    month_of_buckets,
    parse_period,
    quarter_of_month,
)
from geo_service.services.publication import Audience, threshold
from geo_service.settings import EventKind, Settings
from geo_service.storage import EventRows, ProgramPublication, Store, StoredRelease

logger = logging.getLogger("geo_service.services.releases")
DEFAULT_GRACE_DAYS = 7
MIN_GRACE_DAYS = 1
DEFAULT_DROP_TOP_KEYS = 1
PUBLIC_LEVELS = 1  # the public sees released cells summed into cells twice as wide


class ReleaseWithheld(ServiceError):
    status = 503
    code = "release_withheld"
    title = "Release withheld"


@dataclass(frozen=True)
class ReleaseRule:
    k: int  # reports that must remain once the largest reporters are removed
    drop_top_keys: int
    grace_days: int
    cell_m: int  # the level-0 (stored) cell size

    def describe(self) -> str:
        keys = (
            "reporting key" if self.drop_top_keys == 1 else f"{self.drop_top_keys} reporting keys"
        )
        return (
            f"a cell is shown when at least {self.k} reports remain after removing the "
            f"{keys} that sent the most there; fewer (including none) looks empty; reports "
            "of cells that fail are shown in the smallest coarser cell where they pass, "
            "without its shown children"
        )


@dataclass(frozen=True)
class ReleasedCell:
    level: int  # 0: the stored cell; L: 2**L times as wide
    ix: int
    iy: int
    count: int  # reports
    needles: int | None  # shown only where the rule holds for needles too


@dataclass(frozen=True)
class Release:
    """A period's published cells. Everything peers, planners and the public are shown is a
    function of one of these and the request."""

    kind: EventKind
    period: Period
    rule: ReleaseRule
    made_on: str
    content_hash: str
    features: tuple[ReleasedCell, ...]
    by_hour: tuple[float, ...]  # released reports by local hour of the week (Monday 0h first)
    hidden: int | None  # reports shown nowhere, only when that number passes the rule too
    events: int  # every report of the period when it was made: managers' summaries only
    read_to: int | None = None  # the largest event row id it read (None: not recorded)

    @property
    def cell_m(self) -> int:
        return self.rule.cell_m

    @property
    def k(self) -> int:
        return self.rule.k

    @property
    def total(self) -> int:
        return sum(f.count for f in self.features)

    def base_cells(self) -> dict[tuple[int, int], int]:
        """Released stored-size cells and their report counts."""
        return {(f.ix, f.iy): f.count for f in self.features if f.level == 0}

    def coarsened(self, *, k: int) -> Release:
        """The public layer: sums of released cells, twice as wide, kept where they reach k."""
        parts = [
            Feature(f.level, f.ix, f.iy, f.count, 2, np.zeros(0, np.int64), f.needles)
            for f in self.features
        ]
        public = tuple(
            ReleasedCell(f.level, f.ix, f.iy, f.count, f.needles)
            for f in coarsen(parts, levels=PUBLIC_LEVELS, k=k)
        )
        return Release(
            self.kind,
            self.period,
            ReleaseRule(k, self.rule.drop_top_keys, self.rule.grace_days, self.cell_m),
            self.made_on,
            self.content_hash,
            public,
            self.by_hour,
            None,
            self.events,
            self.read_to,
        )


def release_features(release: Release, deployment: Deployment) -> list[dict[str, Any]]:
    """Released cells as GeoJSON polygons: nothing but where, how big, and how many."""
    if not release.features:
        return []
    ix = np.array([f.ix for f in release.features], dtype=np.int64)
    iy = np.array([f.iy for f in release.features], dtype=np.int64)
    size = np.array([release.cell_m << f.level for f in release.features], dtype=np.float64)
    rings = deployment.cell_rings(ix, iy, size)
    out = []
    for f, ring, m in zip(release.features, rings, size, strict=True):
        properties: dict[str, Any] = {"count": f.count, "cell_m": int(m)}
        if f.needles is not None and release.kind is EventKind.NEEDLE_REPORT:
            properties["needles"] = f.needles
        out.append(
            {
                "type": "Feature",
                "id": f"{int(m)}:{f.ix}:{f.iy}",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": properties,
            }
        )
    return out


# -- rules and periods ----------------------------------------------------------------------


def release_rule(settings: Settings, choice: ProgramPublication, cell_m: int) -> ReleaseRule:
    """One rule for peers and planners: the larger of their thresholds."""
    k = max(
        threshold(settings, choice, Audience.PEER), threshold(settings, choice, Audience.PLANNER)
    )
    return ReleaseRule(
        k=k,
        drop_top_keys=choice.drop_top_keys or DEFAULT_DROP_TOP_KEYS,
        grace_days=max(MIN_GRACE_DAYS, choice.grace_days or DEFAULT_GRACE_DAYS),
        cell_m=cell_m,
    )


def grace_days(choice: ProgramPublication) -> int:
    return max(MIN_GRACE_DAYS, choice.grace_days or DEFAULT_GRACE_DAYS)


def check_period(
    period: Period, choice: ProgramPublication, *, now: float, full_view: bool = False
) -> None:
    """Refuse a period that is not published: unfinished, in its grace window, or a month of a
    program that publishes by quarter. Managers (``full_view``) may read any finished one."""
    if full_view:
        if period.end > now:
            raise InvalidParameter("that period has not finished yet")
        return
    days = grace_days(choice)
    if not is_published(period, now=now, grace_days=days):
        raise InvalidParameter(
            f"that period is not published yet: months and quarters are published {days} "
            "days after they end, so that late reports can still arrive"
        )
    if choice.bucket == Bucket.QUARTER and period.bucket == Bucket.MONTH:
        raise InvalidParameter(
            "this program publishes by quarter; ask for a quarter such as 2025-Q2"
        )


# -- reading ------------------------------------------------------------------------------


def get_release(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    *,
    program_id: int,
    kind: EventKind,
    period: Period,
    now: float,
    audience: Audience = Audience.PEER,
) -> Release:
    """The period's release for an audience, made (once, for good) if it does not exist."""
    choice = store.publication(program_id)
    check_period(period, choice, now=now)
    made = _stored_or_made(store, deployment, settings, program_id, kind, period, choice)
    if audience is Audience.PUBLIC:
        return made.coarsened(k=max(made.k, threshold(settings, choice, Audience.PUBLIC)))
    return made


def _stored_or_made(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    program_id: int,
    kind: EventKind,
    period: Period,
    choice: ProgramPublication,
) -> Release:
    stored = store.release(program_id, kind.value, period.label)
    if stored is not None:
        return _parse(stored, kind, period)
    rule = release_rule(settings, choice, deployment.cell_m(kind))
    months: list[Release] = []
    if period.bucket == Bucket.QUARTER:
        # A quarter builds on its months' frozen cells: make them first.
        months = [
            _stored_or_made(
                store, deployment, settings, program_id, kind, _month(period, m, deployment),
                choice,
            )
            for m in period.months
        ]  # fmt: skip
    candidate = _make(store, deployment, program_id, kind, period, rule, months)
    if store.add_release(program_id, candidate):
        record(
            store,
            "release.made",
            actor="service",
            program_id=program_id,
            kind=kind.value,
            period=period.label,
            cells=len(orjson.loads(candidate.body)["cells"]),
        )
    stored = store.release(program_id, kind.value, period.label)
    assert stored is not None
    return _parse(stored, kind, period)


def _month(quarter: Period, month: int, deployment: Deployment) -> Period:
    return parse_period(month_label(month), deployment)


def _parse(stored: StoredRelease, kind: EventKind, period: Period) -> Release:
    rule = ReleaseRule(**orjson.loads(stored.rule))
    body = orjson.loads(stored.body)
    return Release(
        kind=kind,
        period=period,
        rule=rule,
        made_on=stored.made_on,
        content_hash=stored.content_hash,
        features=tuple(ReleasedCell(*cell) for cell in body["cells"]),
        by_hour=tuple(body["by_hour"]),
        hidden=body["hidden"],
        events=body["events"],
        read_to=body.get("read_to"),
    )


# -- making -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reports:
    """A period's reports (one row each) and the atoms they group into."""

    atoms: Atoms
    atom_of_row: npt.NDArray[np.int64]
    hour_of_week: npt.NDArray[np.int64]
    bucket_hours: npt.NDArray[np.int64]
    read_to: int = 0  # the largest event row id read


def _read_reports(
    store: Store,
    deployment: Deployment,
    program_id: int,
    kind: EventKind,
    period: Period,
    read_to: dict[int, int] | None = None,
) -> _Reports:
    """The period's reports; ``read_to`` (month index -> row id) leaves out a month's rows
    stored after that month's release read its reports (a batch that raced the release)."""
    base_m = deployment.cell_m(kind)
    parts = store.event_atoms(program_id, kind.value, start=period.start, end=period.end)
    columns: dict[str, list[Any]] = {
        k: [] for k in ("ix", "iy", "start", "key", "n", "hours", "id")
    }
    for part in parts:  # one stored size per kind, but roll up anything finer to be safe
        levels = deployment.grid.levels_between(part.cell_m, base_m)
        columns["ix"].append(np.floor_divide(part.ix, 1 << levels))
        columns["iy"].append(np.floor_divide(part.iy, 1 << levels))
        columns["start"].append(part.bucket_start)
        columns["key"].append(part.reporter)
        columns["n"].append(part.count)
        columns["hours"].append(part.bucket_hours)
        columns["id"].append(part.row_id)
    empty = np.zeros(0, dtype=np.int64)
    ix, iy, start, key, needles, hours, row_id = (
        np.concatenate(columns[c]) if columns[c] else empty
        for c in ("ix", "iy", "start", "key", "n", "hours", "id")
    )
    newest = int(row_id.max()) if len(row_id) else 0
    local = pd.to_datetime(start, unit="s", utc=True).tz_convert(deployment.tz)
    month = np.asarray(local.year * 12 + local.month - 1, dtype=np.int64)
    hour_of_week = np.asarray(local.day_of_week * 24 + local.hour, dtype=np.int64)
    if read_to:
        keep = np.ones(len(ix), dtype=bool)
        for index, last in read_to.items():
            keep &= ~((month == index) & (row_id > last))
        ix, iy, start, key, needles, hours = (a[keep] for a in (ix, iy, start, key, needles, hours))
        month, hour_of_week = month[keep], hour_of_week[keep]
    if len(ix) == 0:
        return _Reports(Atoms.of([], [], [], [], []), empty, empty, empty, newest)
    first, atom_of_row = group_rows(ix, iy, month, key)
    reports = np.bincount(atom_of_row).astype(np.int64)
    needle_sum = np.bincount(atom_of_row, weights=needles).astype(np.int64)
    atoms = Atoms.of(ix[first], iy[first], month[first], key[first], reports, needle_sum)
    return _Reports(atoms, atom_of_row, hour_of_week, hours, newest)


def _make(
    store: Store,
    deployment: Deployment,
    program_id: int,
    kind: EventKind,
    period: Period,
    rule: ReleaseRule,
    months: list[Release],
) -> StoredRelease:
    # A quarter reads a month's rows only as far as that month's release did: rows stored
    # after it (a batch racing the release, so never marked late) enter no release.
    read_to = {
        index: month.read_to
        for index, month in zip(period.months, months, strict=False)
        if month.read_to is not None
    }
    reports = _read_reports(store, deployment, program_id, kind, period, read_to)
    atoms = reports.atoms
    if period.bucket == Bucket.MONTH:
        features = release_month(
            atoms, period.months[0], k=rule.k, drop_top_keys=rule.drop_top_keys
        ).features
        family = [features]
    else:
        features, family = _quarter(deployment, atoms, period, rule, months)
    public_k = max(rule.k, 1)
    published = [f.member_set for layer in family for f in layer]
    published += [
        f.member_set for layer in family for f in coarsen(layer, levels=PUBLIC_LEVELS, k=public_k)
    ]
    leak = find_differencing_leak(published, atoms.count, k=rule.k) if published else None
    if leak is not None:
        record(
            store,
            "release.withheld",
            actor="service",
            program_id=program_id,
            kind=kind.value,
            period=period.label,
        )
        raise ReleaseWithheld(
            "this period's release failed the differencing check and is withheld; the "
            "program's steward has been told through the audit trail"
        )
    body = _body(reports, features, rule, deployment)
    rule_text = orjson.dumps(vars(rule), option=orjson.OPT_SORT_KEYS).decode()
    digest = hashlib.sha256((rule_text + "\n" + body).encode()).hexdigest()
    return StoredRelease(
        kind=kind.value,
        period=period.label,
        made_on=dt.datetime.now(dt.UTC).date().isoformat(),
        rule=rule_text,
        body=body,
        content_hash=digest,
    )


def _quarter(
    deployment: Deployment, atoms: Atoms, period: Period, rule: ReleaseRule, months: list[Release]
) -> tuple[list[Feature], list[list[Feature]]]:
    """The quarter: its months' frozen cells, plus a release of every report no month showed."""
    month_features: list[Feature] = []
    family: list[list[Feature]] = []
    shown = np.zeros(len(atoms), dtype=bool)
    for index, month in zip(period.months, months, strict=True):
        in_month = atoms.period == index
        layer = []
        for cell in month.features:
            members = np.flatnonzero(in_month & (atoms.ix == cell.ix) & (atoms.iy == cell.iy))
            shown[members] = True
            layer.append(Feature(0, cell.ix, cell.iy, cell.count, 2, members, cell.needles))
        month_features += layer
        family.append(layer)
    top = _top_level(deployment, rule.cell_m)
    residual = release(
        atoms, k=rule.k, drop_top_keys=rule.drop_top_keys, top_level=top,
        among=np.flatnonzero(~shown),
    ).features  # fmt: skip
    merged: dict[tuple[int, int, int], list[Feature]] = {}
    for f in [*month_features, *residual]:
        merged.setdefault((f.level, f.ix, f.iy), []).append(f)
    quarter = [
        Feature(
            level, ix, iy, sum(p.count for p in parts), 2,
            np.concatenate([p.members for p in parts]),
            None if any(p.needles is None for p in parts) else sum(p.needles or 0 for p in parts),
        )
        for (level, ix, iy), parts in sorted(merged.items())
    ]  # fmt: skip
    family.append(quarter)
    return quarter, family


def _top_level(deployment: Deployment, cell_m: int) -> int:
    # Up to the level where one cell spans the whole service area.
    xmin, ymin, xmax, ymax = deployment.service_area_m.bounds
    span = max(xmax - xmin, ymax - ymin)
    return max(0, math.ceil(math.log2(max(span / cell_m, 1.0)))) + 1


def _body(
    reports: _Reports, features: list[Feature], rule: ReleaseRule, deployment: Deployment
) -> str:
    atoms = reports.atoms
    in_release = np.zeros(len(atoms), dtype=bool)
    for f in features:
        in_release[f.members] = True
    hidden_atoms = np.flatnonzero(~in_release & (atoms.count > 0))
    hidden: int | None = None
    if len(hidden_atoms):
        zero = np.zeros(len(hidden_atoms), dtype=np.int64)
        total, kept, _ = remove_top_keys(
            zero, atoms.reporter[hidden_atoms], atoms.count[hidden_atoms], 1, rule.drop_top_keys
        )
        hidden = int(total[0]) if kept[0] >= rule.k else None
    rows = np.flatnonzero(in_release[reports.atom_of_row]) if len(atoms) else np.zeros(0, np.int64)
    by_hour = _hour_profile(reports, rows, rule)
    body = {
        "cells": [[f.level, f.ix, f.iy, f.count, f.needles] for f in features],
        "by_hour": [round(float(v), 6) for v in by_hour],
        "hidden": hidden,
        "events": int(atoms.count.sum()),
        "read_to": reports.read_to,
    }
    return orjson.dumps(body).decode()


def _hour_profile(reports: _Reports, rows: npt.NDArray[np.int64], rule: ReleaseRule) -> Any:
    """Released reports by hour of the week, under the cell rule: an hour-of-week slot is
    shown on its own only when ``k`` of its reports remain without its largest reporting
    key(s); the others are pooled and spread evenly over the week, the pool growing by the
    smallest shown slots until it passes too. Siting and coverage weigh hours by this profile
    and show gains to three decimals, so a slot's own count must never be a hidden one (in a
    release of one square, the slots are that square's hours)."""
    if len(rows) == 0:
        return np.zeros(HOURS_OF_WEEK)
    slot = reports.hour_of_week[rows]
    reporter = reports.atoms.reporter[reports.atom_of_row[rows]]
    ones = np.ones(len(rows), dtype=np.int64)
    totals, kept, _ = remove_top_keys(slot, reporter, ones, HOURS_OF_WEEK, rule.drop_top_keys)
    shown = (kept >= rule.k) & (totals > 0)

    def pool_passes() -> bool:
        pick = ~shown[slot]
        if not pick.any():
            return True
        zero = np.zeros(int(pick.sum()), dtype=np.int64)
        _, left, _ = remove_top_keys(zero, reporter[pick], ones[pick], 1, rule.drop_top_keys)
        return bool(left[0] >= rule.k)

    while not pool_passes() and shown.any():
        smallest = np.flatnonzero(shown)[np.argmin(totals[shown])]
        shown[smallest] = False
    own = shown[slot]
    profile = spread_over_week(
        np.zeros(int(own.sum()), dtype=np.int64),
        slot[own],
        reports.bucket_hours[rows][own],
        np.ones(int(own.sum()), dtype=np.float64),
        1,
    )[0]
    return profile + float((~own).sum()) / HOURS_OF_WEEK


# -- ingest -------------------------------------------------------------------------------


def late_rows(
    store: Store, deployment: Deployment, program_id: int, rows: EventRows
) -> npt.NDArray[np.bool_]:
    """Which rows fall in a month (or quarter) already released for their kind."""
    released = store.released_periods(program_id) if len(rows) else set()
    if not released:
        return np.zeros(len(rows), dtype=bool)
    months = month_of_buckets(rows.bucket_start, deployment.tz)
    return np.array(
        [
            (kind, month) in released or (kind, quarter_of_month(month)) in released
            for kind, month in zip(rows.kind, months, strict=True)
        ],
        dtype=bool,
    )


def hold_back_late(
    store: Store, deployment: Deployment, program_id: int, batch: ValidatedBatch
) -> tuple[ValidatedBatch, list[dict[str, Any]]]:
    """Mark rows whose month (or its quarter) is already released: stored for managers, in
    no release ever. Returns the marked batch and a note per such row (by input index)."""
    rows = batch.rows
    late = late_rows(store, deployment, program_id, rows)
    if not late.any():
        return batch, []
    index = batch.row_index if batch.row_index is not None else np.arange(len(rows))
    notes = [
        {
            "index": int(i),
            "code": "period_already_published",
            "detail": "stored for managers; its month was already published, so it will not "
            "appear in what peers, planners or the public see",
        }
        for i in sorted(index[late].tolist())
    ]
    return dataclasses.replace(batch, rows=dataclasses.replace(rows, late=late)), notes
