"""Making a release: read the period's reports, apply the rule, and run the differencing
check over it and every release that shares reports with it (a year, its half-years, their
quarters and their months, and the public coarsening of each). A release the check finds
solvable is withheld."""

from __future__ import annotations

import datetime as dt
import hashlib
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
from geo_service.errors import ServiceError
from geo_service.periods import Bucket, Period
from geo_service.services.releases.model import PUBLIC_LEVELS, Release, ReleaseRule, top_level
from geo_service.settings import EventKind
from geo_service.storage import EventAtoms, Store, StoredRelease


class ReleaseWithheld(ServiceError):
    status = 503
    code = "release_withheld"
    title = "Release withheld"


@dataclass(frozen=True)
class Frozen:
    """A stored release and the frozen parts it nests on (none for a month)."""

    release: Release
    parts: list[Frozen]

    def months(self) -> list[Release]:
        if not self.parts:
            return [self.release]
        return [month for part in self.parts for month in part.months()]


Layers = tuple[list[Feature], list[list[Feature]]]  # a period's cells, and its family's layers


@dataclass(frozen=True)
class _Reports:
    """A period's reports (one row each) and the atoms they group into."""

    atoms: Atoms
    atom_of_row: npt.NDArray[np.int64]
    hour_of_week: npt.NDArray[np.int64]  # -1: a date only (time_precision 'day')
    bucket_hours: npt.NDArray[np.int64]
    read_to: int = 0  # the largest event row id read


class PeriodRows:
    """A period's rows, read once (at the first ask) for it and every part made with it: a
    year made from nothing reads its rows once, not once per half-year, quarter and month."""

    def __init__(self, store: Store, program_id: int, kind: EventKind, period: Period) -> None:
        self.store, self.program_id, self.kind, self.period = store, program_id, kind, period
        self._rows: list[EventAtoms] | None = None

    def within(self, period: Period) -> list[EventAtoms]:
        """The rows of ``period``, which must lie within the one read."""
        assert self.period.start <= period.start and period.end <= self.period.end
        if self._rows is None:
            self._rows = self.store.event_atoms(
                self.program_id, self.kind.value, start=self.period.start, end=self.period.end
            )
        if period == self.period:
            return self._rows
        return [_between(part, period.start, period.end) for part in self._rows]


def _between(part: EventAtoms, start: int, end: int) -> EventAtoms:
    pick = (part.bucket_start >= start) & (part.bucket_start < end)
    return EventAtoms(
        part.cell_m, part.ix[pick], part.iy[pick], part.bucket_start[pick],
        part.reporter[pick], part.count[pick], part.bucket_hours[pick], part.row_id[pick],
        None if part.day_only is None else part.day_only[pick],
    )  # fmt: skip


def _read_reports(
    rows: PeriodRows, deployment: Deployment, period: Period, read_to: dict[int, int] | None = None
) -> _Reports:
    """The period's reports; ``read_to`` (month index -> row id) leaves out a month's rows
    stored after that month's release read its reports (a batch that raced the release)."""
    kind = rows.kind
    base_m = deployment.cell_m(kind)
    parts = rows.within(period)
    columns: dict[str, list[Any]] = {
        k: [] for k in ("ix", "iy", "start", "key", "n", "hours", "id", "day")
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
        day_only = part.day_only
        columns["day"].append(np.zeros(len(part.ix), bool) if day_only is None else day_only)
    empty = np.zeros(0, dtype=np.int64)
    ix, iy, start, key, needles, hours, row_id = (
        np.concatenate(columns[c]) if columns[c] else empty
        for c in ("ix", "iy", "start", "key", "n", "hours", "id")
    )
    newest = int(row_id.max()) if len(row_id) else 0
    local = pd.to_datetime(start, unit="s", utc=True).tz_convert(deployment.tz)
    month = np.asarray(local.year * 12 + local.month - 1, dtype=np.int64)
    hour_of_week = np.asarray(local.day_of_week * 24 + local.hour, dtype=np.int64)
    if columns["day"]:
        hour_of_week[np.concatenate(columns["day"])] = -1  # no hour of the week to give
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


def make_release(
    store: Store,
    deployment: Deployment,
    program_id: int,
    kind: EventKind,
    period: Period,
    rule: ReleaseRule,
    parts: list[Frozen],
    rows: PeriodRows | None = None,
) -> StoredRelease:
    """The period's release, checked, ready to store (``rows``: read already, or to read)."""
    # A longer period reads a month's rows only as far as that month's release did: rows
    # stored after it (a batch racing the release, so never marked late) enter no release.
    read_to = {
        month.period.months[0]: month.read_to
        for part in parts
        for month in part.months()
        if month.read_to is not None
    }
    rows = rows or PeriodRows(store, program_id, kind, period)
    reports = _read_reports(rows, deployment, period, read_to)
    atoms = reports.atoms
    if period.bucket == Bucket.MONTH:
        features = release_month(
            atoms, period.months[0], k=rule.k, drop_top_keys=rule.drop_top_keys
        ).features
        family = [features]
    else:
        rebuilt = [_rebuild(deployment, atoms, part) for part in parts]
        features, family = _nested(deployment, atoms, period, rule, rebuilt)
    public_k = max(rule.k, 1)
    published = [f.members for layer in family for f in layer]
    published += [
        f.members for layer in family for f in coarsen(layer, levels=PUBLIC_LEVELS, k=public_k)
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
    body = _body(reports, features, rule)
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


def _rebuild(deployment: Deployment, atoms: Atoms, part: Frozen) -> Layers:
    """A frozen part's cells with the atoms each one sums, and its family's layers. A month's
    cells pass on their own, so a cell holds every report of that month there; a longer
    part is rebuilt by its own rule on the same reports and must match its frozen cells."""
    frozen = part.release
    if not part.parts:
        in_square = _atoms_by_square(atoms, frozen.period.months[0])
        none = np.zeros(0, dtype=np.int64)
        layer = [
            Feature(0, c.ix, c.iy, c.count, 2, in_square.get((c.ix, c.iy), none), c.needles)
            for c in frozen.features
        ]
        return layer, [layer]
    rebuilt = [_rebuild(deployment, atoms, p) for p in part.parts]
    features, family = _nested(deployment, atoms, frozen.period, frozen.rule, rebuilt)
    shown = sorted((f.level, f.ix, f.iy, f.count) for f in features)
    if shown != sorted((c.level, c.ix, c.iy, c.count) for c in frozen.features):
        # Its reports can no longer be matched to its cells (a changed area, say): publish
        # nothing new on top of it rather than numbers the check cannot vouch for.
        raise ReleaseWithheld(
            f"the release of {frozen.period.label} cannot be matched to its reports, so "
            "longer periods holding it are withheld"
        )
    return features, family


def _atoms_by_square(atoms: Atoms, month: int) -> dict[tuple[int, int], npt.NDArray[np.int64]]:
    """The month's atoms (ascending indices) per base square."""
    picked = np.flatnonzero(atoms.period == month)
    if len(picked) == 0:
        return {}
    first, square = group_rows(atoms.ix[picked], atoms.iy[picked])
    order = np.argsort(square, kind="stable")
    members = np.split(picked[order], np.cumsum(np.bincount(square))[:-1])
    keys = zip(atoms.ix[picked[first]].tolist(), atoms.iy[picked[first]].tolist(), strict=True)
    return dict(zip(keys, members, strict=True))


def _nested(
    deployment: Deployment, atoms: Atoms, period: Period, rule: ReleaseRule, parts: list[Layers]
) -> Layers:
    """A longer period: its parts' frozen cells, plus a release of every report no part
    showed (a quarter on its months, a half-year on its quarters, a year on its half-years)."""
    part_features: list[Feature] = []
    family: list[list[Feature]] = []
    # The atoms may span a longer period (rebuilding a part of it): only this one's count.
    shown = ~np.isin(atoms.period, period.months)
    for features, layers in parts:
        for f in features:
            shown[f.members] = True
        part_features += features
        family += layers
    top = top_level(deployment, rule.cell_m)
    residual = release(
        atoms, k=rule.k, drop_top_keys=rule.drop_top_keys, top_level=top,
        among=np.flatnonzero(~shown),
    ).features  # fmt: skip
    merged: dict[tuple[int, int, int], list[Feature]] = {}
    for f in [*part_features, *residual]:
        merged.setdefault((f.level, f.ix, f.iy), []).append(f)
    whole = [
        Feature(
            level, ix, iy, sum(p.count for p in pieces), 2,
            np.concatenate([p.members for p in pieces]),
            None if any(p.needles is None for p in pieces)
            else sum(p.needles or 0 for p in pieces),
        )
        for (level, ix, iy), pieces in sorted(merged.items())
    ]  # fmt: skip
    family.append(whole)
    return whole, family


def _body(reports: _Reports, features: list[Feature], rule: ReleaseRule) -> str:
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
        # released reports with a date only, left out of by_hour (0 when none)
        "day_only": int((reports.hour_of_week[rows] < 0).sum()),
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
    rows = rows[reports.hour_of_week[rows] >= 0]  # a date only has no hour of the week
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
