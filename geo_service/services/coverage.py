"""Coverage gaps, locker siting and consumption-site suitability for a program.

Everything is computed on all events of the window; what is *shown* depends on the role.
Managers and stewards see event counts. Peers and planners (DESIGN.md §4) get shares only
where at least k events stand behind them, gap cells only among the released cells of a
finished period, and siting gains as shares of all events, never a count below k.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import opening_hours
import pandas as pd
import shapely
from scipy.sparse import csr_matrix

from analysis.coverage import (
    DETOUR_FACTOR,
    HOURS_OF_WEEK,
    Coverage,
    coverage,
    gain_weights,
    network_reach,
    spread_over_week,
    straight_reach,
    walk_limit_m,
)
from analysis.grid import cell_centres
from analysis.network import WalkingNetwork
from analysis.projection import to_metres
from analysis.siting import Siting, fewest_covering, maximal_covering
from geo_service.auth import Role
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter, Unprocessable
from geo_service.ingest.layers import exclusion_zones
from geo_service.ingest.sites import Service
from geo_service.periods import Bucket, latest_published, parse_period
from geo_service.services.hotspots import FULL_VIEW, HotspotCache
from geo_service.services.network import NetworkCache
from geo_service.services.releases import (
    Release,
    check_period,
    get_release,
    grace_days,
    release_rule,
)
from geo_service.settings import EventKind, Settings
from geo_service.storage import ContextFeature, NetworkInfo, Store, StoredSite

DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
DEMAND_KINDS = (EventKind.NEEDLE_REPORT, EventKind.OVERDOSE)
MANAGER_WINDOW_DAYS = 365
REFERENCE_MONDAY = dt.datetime(2024, 1, 1)  # a week without public holidays in most places
SUITABILITY_RADIUS_M = 500.0  # where studies measured overdose deaths falling near a site
SERVICE_GAP_CAP_M = 2000.0
DEFAULT_WEIGHTS = {"overdoses": 0.5, "needle_reports": 0.3, "service_gap": 0.2}
HR_SERVICES = frozenset({"needles", "naloxone", "supervised_consumption", "drug_checking"})


def hours_open(text: str | None) -> np.ndarray | None:
    """Share of each hour of the week a site is open (168 values), from OSM syntax, or None
    when its hours are unknown."""
    if not text:
        return None
    share = np.zeros(HOURS_OF_WEEK)
    end = REFERENCE_MONDAY + dt.timedelta(days=7)
    for start, stop, state, _ in opening_hours.OpeningHours(text).intervals(REFERENCE_MONDAY, end):
        if state != opening_hours.State.OPEN:
            continue
        t = start
        while t < stop:
            hour = (t - REFERENCE_MONDAY) // dt.timedelta(hours=1)
            nxt = min(stop, REFERENCE_MONDAY + dt.timedelta(hours=hour + 1))
            share[int(hour)] += (nxt - t) / dt.timedelta(hours=1)
            t = nxt
    return np.clip(share, 0.0, 1.0)


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    label: str
    period: Any  # publication Period for peers and planners, else None
    k: int | None  # the threshold behind what is shown; None for full views
    now: float = 0.0


def resolve_window(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    *,
    program_id: int,
    role: Role,
    period_text: str | None,
    now: float,
    long_view: bool = False,
) -> Window:
    """The events a role's answer is computed on. ``long_view`` (siting, a decision for
    years) defaults peers and planners to the latest finished quarter, since a month of a
    small town leaves most counts below k."""
    if role in FULL_VIEW and period_text is None:
        start = int(now) - MANAGER_WINDOW_DAYS * 86_400
        return Window(start, int(now), f"the last {MANAGER_WINDOW_DAYS} days", None, None)
    choice = store.publication(program_id)
    bucket = Bucket.QUARTER if long_view else choice.bucket
    label = period_text or latest_published(
        bucket, now=now, grace_days=grace_days(choice), tz=deployment.tz
    )
    period = parse_period(label, deployment)
    check_period(period, choice, now=now, full_view=role in FULL_VIEW)
    k = None if role in FULL_VIEW else release_rule(settings, choice, 0).k
    return Window(period.start, period.end, period.label, period, k, now)


@dataclass(frozen=True)
class Demand:
    kind: EventKind
    cell_m: int
    ix: np.ndarray
    iy: np.ndarray
    x: np.ndarray
    y: np.ndarray
    by_hour: np.ndarray  # (cells, 168)


def read_demand(
    store: Store, deployment: Deployment, program_id: int, kind: EventKind, window: Window
) -> Demand:
    """Events of ``kind`` per base cell and local hour of the week."""
    base_m = deployment.cell_m(kind)
    parts = store.event_buckets(program_id, kind.value, start=window.start, end=window.end)
    ix_all, iy_all, start_all, hours_all, count_all = [], [], [], [], []
    for part in parts:
        levels = deployment.grid.levels_between(part.cell_m, base_m) if part.cell_m < base_m else 0
        ix_all.append(part.ix >> levels)
        iy_all.append(part.iy >> levels)
        start_all.append(part.bucket_start)
        hours_all.append(part.bucket_hours)
        count_all.append(part.count)
    if not ix_all:
        empty = np.zeros(0, dtype=np.int64)
        return Demand(
            kind, base_m, empty, empty, np.zeros(0), np.zeros(0), np.zeros((0, HOURS_OF_WEEK))
        )
    ix, iy = np.concatenate(ix_all), np.concatenate(iy_all)
    cells, cell_of = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    local = pd.to_datetime(np.concatenate(start_all), unit="s", utc=True).tz_convert(deployment.tz)
    hour_of_week = (local.day_of_week * 24 + local.hour).to_numpy().astype(np.int64)
    by_hour = spread_over_week(
        cell_of.ravel(),
        hour_of_week,
        np.concatenate(hours_all),
        np.concatenate(count_all).astype(np.float64),
        len(cells),
    )
    cx, cy = cell_centres(cells[:, 0], cells[:, 1], grid=deployment.grid, cell_m=base_m)
    return Demand(kind, base_m, cells[:, 0], cells[:, 1], cx, cy, by_hour)


def walking(
    networks: NetworkCache, store: Store, deployment: Deployment, program_id: int
) -> tuple[WalkingNetwork | None, dict[str, Any]]:
    held = networks.get(store, deployment, program_id)
    if held is None:
        return None, {
            "mode": "straight line",
            "detour_factor": DETOUR_FACTOR,
            "note": f"no walking network is loaded: walks are straight lines × {DETOUR_FACTOR}. "
            "Load one with 'geo-service network import FILE.osm.pbf'",
        }
    info: NetworkInfo = held[0]
    return held[1], {
        "mode": "walking network",
        "note": f"walking distances on {info.source} (imported {info.imported_on})",
    }


def reach(
    network: WalkingNetwork | None,
    sx: np.ndarray,
    sy: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    limit_m: float,
) -> csr_matrix:
    """Which targets each source reaches on foot within ``limit_m`` (sources x targets)."""
    if network is None:
        return straight_reach(sx, sy, tx, ty, limit_m).reaches
    return network_reach(network, sx, sy, tx, ty, limit_m).reaches


def _sites_offering(
    store: Store, deployment: Deployment, program_id: int, service: Service
) -> tuple[list[StoredSite], np.ndarray, np.ndarray, np.ndarray, list[str]]:
    sites = [s for s in store.list_sites(program_id) if service.value in s.services]
    warnings, hours = [], []
    for site in sites:
        share = hours_open(site.opening_hours)
        if share is None:
            warnings.append(
                f"{site.name} has no opening hours: it counts only in 'open anytime'. "
                "Add its hours with POST /v1/sites"
            )
            share = np.zeros(HOURS_OF_WEEK)
        hours.append(share)
    x, y = to_metres([s.lon for s in sites], [s.lat for s in sites], crs=deployment.crs)
    open_share = np.array(hours).reshape(len(sites), HOURS_OF_WEEK)
    return sites, np.asarray(x), np.asarray(y), open_share, warnings


def _share(part: float, whole: float, k: int | None) -> float | None:
    if whole <= 0 or (k is not None and whole < k):
        return None
    return round(part / whole, 3 if k is None else 2)


def _week_table(values: np.ndarray) -> list[list[Any]]:
    return [[None if v is None else v for v in values[d * 24 : (d + 1) * 24]] for d in range(7)]


def _hour_shares(cov: Coverage, k: int | None) -> dict[str, Any]:
    events, covered = cov.by_hour()
    reached = cov.demand[cov.reached].sum(axis=0)
    open_share = [_share(float(c), float(e), k) for c, e in zip(covered, events, strict=True)]
    anytime = [_share(float(r), float(e), k) for r, e in zip(reached, events, strict=True)]
    out: dict[str, Any] = {
        "days": list(DAYS),
        "share_open": _week_table(np.array(open_share, dtype=object)),
        "share_anytime": _week_table(np.array(anytime, dtype=object)),
    }
    if k is None:
        out["events"] = _week_table(np.round(events, 2).astype(object))
    else:
        out["note"] = f"hours with fewer than {k} events are left blank"
    return out


def _cell_feature(
    deployment: Deployment, ix: int, iy: int, cell_m: int, props: dict[str, Any]
) -> dict[str, Any]:
    ring = deployment.cell_rings(np.array([ix]), np.array([iy]), cell_m)[0]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": props,
    }


def demand_seen(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    program_id: int,
    kind: EventKind,
    window: Window,
) -> tuple[Demand, dict[tuple[int, int], int] | None]:
    """The demand a role's answer may rest on, and the released cells (None: every cell).

    Peers and planners get only the released base cells, each weighing its released count,
    spread over the week as the whole release's reports were: every number computed from them
    is then a function of published numbers, so no choice of threshold, candidate, hours or
    weight can subtract its way to a hidden small count, and no cell's own hours are shown.
    Reports released only in coarser cells have no place precise enough to walk to.
    """
    if window.k is None:
        return read_demand(store, deployment, program_id, kind, window), None
    release = get_release(
        store, deployment, settings, program_id=program_id, kind=kind, period=window.period,
        now=window.now,
    )  # fmt: skip
    return release_demand(release, deployment), release.base_cells()


def release_demand(release: Release, deployment: Deployment) -> Demand:
    released = release.base_cells()
    cells = np.array(sorted(released), dtype=np.int64).reshape(-1, 2)
    counts = np.array([released[(int(x), int(y))] for x, y in cells], dtype=np.float64)
    profile = np.asarray(release.by_hour, dtype=np.float64)
    profile = profile / profile.sum() if profile.sum() > 0 else np.full(HOURS_OF_WEEK, 1 / 168)
    cx, cy = cell_centres(cells[:, 0], cells[:, 1], grid=deployment.grid, cell_m=release.cell_m)
    return Demand(
        release.kind, release.cell_m, cells[:, 0], cells[:, 1], cx, cy,
        counts[:, None] * profile[None, :],
    )  # fmt: skip


def coverage_report(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    cache: HotspotCache,
    networks: NetworkCache,
    *,
    program_id: int,
    role: Role,
    service: Service,
    minutes: list[float],
    kinds: list[EventKind],
    period_text: str | None,
    top: int,
    now: float,
) -> dict[str, Any]:
    window = resolve_window(
        store,
        deployment,
        settings,
        program_id=program_id,
        role=role,
        period_text=period_text,
        now=now,
    )
    sites, sx, sy, open_share, warnings = _sites_offering(store, deployment, program_id, service)
    if not sites:
        raise Unprocessable(
            f"no site of this program offers {service.value}; add sites that do "
            "with POST /v1/sites, or ask about another service",
            code="no_site_offers_service",
        )
    network, routing = walking(networks, store, deployment, program_id)
    results = []
    for kind in kinds:
        demand, released = demand_seen(store, deployment, settings, program_id, kind, window)
        for limit in minutes:
            reaches = reach(network, sx, sy, demand.x, demand.y, walk_limit_m(limit))
            cov = coverage(reaches, open_share, demand.by_hour)
            results.append(
                _coverage_result(deployment, kind, limit, demand, cov, window, released, top)
            )
    return {
        "service": service.value,
        "window": window.label,
        "audience": "all events" if window.k is None else "released cells only",
        "routing": routing,
        "sites": [{"id": s.id, "name": s.name, "opening_hours": s.opening_hours} for s in sites],
        "results": results,
        "warnings": warnings,
    }


def _coverage_result(
    deployment: Deployment,
    kind: EventKind,
    minutes: float,
    demand: Demand,
    cov: Coverage,
    window: Window,
    released: dict[tuple[int, int], int] | None,
    top: int,
) -> dict[str, Any]:
    k = window.k
    total = cov.total
    uncovered = cov.uncovered()
    outside = cov.uncovered_anytime()
    features: list[dict[str, Any]] = []
    order = np.argsort(-uncovered, kind="stable")
    for i in order.tolist():
        if uncovered[i] <= 1e-9 or len(features) >= top:
            break
        cell = (int(demand.ix[i]), int(demand.iy[i]))
        events = float(cov.demand[i].sum())
        if released is None:
            props = {
                "events": round(events, 2),
                "uncovered_events": round(float(uncovered[i]), 2),
                "uncovered_anytime": round(float(outside[i]), 2),
            }
        elif cell in released:
            props = {
                "events": released[cell],
                "share_uncovered": round(float(uncovered[i]) / events, 1),
                "out_of_reach": bool(outside[i] > 0),
            }
        else:
            continue
        props["rank"] = len(features) + 1
        features.append(_cell_feature(deployment, *cell, demand.cell_m, props))
    return {
        "kind": kind.value,
        "minutes": minutes,
        "walk_m": round(walk_limit_m(minutes)),
        "events": round(total, 2) if k is None else None,
        "share_open": _share(cov.covered, total, k),
        "share_anytime": _share(cov.covered_anytime, total, k),
        "by_hour": _hour_shares(cov, k),
        "uncovered": {"type": "FeatureCollection", "features": features},
    }


# -- exclusions and candidates -------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    features: list[ContextFeature]  # or synthetic grid cells when none are loaded
    x: np.ndarray
    y: np.ndarray
    excluded: dict[int, str]  # position -> the exclusion zone it lies in
    from_grid: bool


def read_candidates(
    store: Store, deployment: Deployment, program_id: int, demand: list[Demand], use: str
) -> Candidates:
    """Loaded candidates of a type, or the demand cells' centres when none are loaded."""
    loaded = [
        f for f in store.list_context(program_id, "candidate") if f.feature_type in (use, "any")
    ]
    if loaded:
        x, y = to_metres([f.lon for f in loaded], [f.lat for f in loaded], crs=deployment.crs)
        features, from_grid = loaded, False
        x, y = np.asarray(x), np.asarray(y)
    else:
        xs = np.concatenate([d.x for d in demand]) if demand else np.zeros(0)
        ys = np.concatenate([d.y for d in demand]) if demand else np.zeros(0)
        xy = np.unique(np.round(np.column_stack([xs, ys]), 1), axis=0)
        x, y = xy[:, 0], xy[:, 1]
        features, from_grid = [], True
    excluded: dict[int, str] = {}
    zones = exclusion_zones(store, deployment, program_id)
    if zones:
        points = shapely.points(x, y)
        for feature, zone in zones:
            for i in np.flatnonzero(shapely.intersects(zone, points)).tolist():
                excluded.setdefault(i, f"within {feature.buffer_m:g} m of {feature.name}")
    return Candidates(features, x, y, excluded, from_grid)


def _candidate_name(c: Candidates, i: int, deployment: Deployment) -> dict[str, Any]:
    lon, lat = deployment.to_lonlat_point(float(c.x[i]), float(c.y[i]))
    if c.from_grid:
        return {"id": None, "name": f"grid cell at {lat:.4f}, {lon:.4f}", "lon": lon, "lat": lat}
    f = c.features[i]
    return {
        "id": f.id,
        "name": f.name,
        "type": f.feature_type,
        "notes": f.notes,
        "lon": f.lon,
        "lat": f.lat,
    }


# -- lockers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockerAsk:
    service: Service
    minutes: float
    p: int | None
    target_share: float | None
    opening_hours: str
    kinds: list[EventKind]
    period: str | None
    seconds: float


def site_lockers(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    cache: HotspotCache,
    networks: NetworkCache,
    *,
    program_id: int,
    role: Role,
    ask: LockerAsk,
    now: float,
) -> dict[str, Any]:
    window = resolve_window(
        store,
        deployment,
        settings,
        program_id=program_id,
        role=role,
        period_text=ask.period,
        now=now,
        long_view=True,
    )
    k = window.k
    new_open = hours_open(ask.opening_hours)
    assert new_open is not None
    network, routing = walking(networks, store, deployment, program_id)
    limit = walk_limit_m(ask.minutes)
    _, sx, sy, open_share, warnings = _sites_offering(store, deployment, program_id, ask.service)
    demand = [
        demand_seen(store, deployment, settings, program_id, kind, window)[0] for kind in ask.kinds
    ]
    before = [
        coverage(reach(network, sx, sy, d.x, d.y, limit), open_share, d.by_hour) for d in demand
    ]
    total = sum(c.total for c in before)
    if total <= 0:
        raise Unprocessable(
            f"no events of these kinds in {window.label}; nothing to cover", code="no_demand"
        )
    cands = read_candidates(store, deployment, program_id, demand, "locker")
    eligible = [i for i in range(len(cands.x)) if i not in cands.excluded]
    excluded = [
        {**_candidate_name(cands, i, deployment), "reason": why}
        for i, why in sorted(cands.excluded.items())
    ]
    base = {
        "service": ask.service.value,
        "minutes": ask.minutes,
        "window": window.label,
        "opening_hours": ask.opening_hours,
        "kinds": [kd.value for kd in ask.kinds],
        "audience": "all events" if k is None else "shares of the released cells' events",
        "routing": routing,
        "candidates": len(cands.x),
        "excluded": excluded,
        "candidate_source": "grid cells (no candidates loaded)"
        if cands.from_grid
        else "loaded candidates",
        "warnings": warnings,
    }
    if not eligible:
        return base | {"chosen": [], "reason": "every candidate lies inside an exclusion zone"}
    ex, ey = cands.x[eligible], cands.y[eligible]
    # One demand row per (kind, cell): what a new site open these hours would add there.
    cover_parts, weights = [], []
    for d, cov in zip(demand, before, strict=True):
        cover_parts.append(reach(network, ex, ey, d.x, d.y, limit).T.tocsr())
        weights.append(gain_weights(cov, new_open))
    from scipy.sparse import vstack

    cover = vstack(cover_parts).tocsr() if cover_parts else csr_matrix((0, len(eligible)))
    w = np.concatenate(weights) if weights else np.zeros(0)
    covered_before = sum(c.covered for c in before)
    # A SitingError is answered from the table in errors.py.
    if ask.target_share is not None:
        need = ask.target_share * total - covered_before
        plan = fewest_covering(cover, w, max(0.0, need), seconds=ask.seconds)
        if plan is None:
            best = maximal_covering(cover, w, len(eligible), seconds=ask.seconds)
            reachable = (covered_before + best.covered) / total
            return base | {
                "chosen": [],
                "reason": (
                    f"even all {len(eligible)} eligible candidates reach only "
                    f"{100 * reachable:.0f}% of events; add candidates or walk further"
                ),
            }
    else:
        p = ask.p or 1
        if p > len(eligible):
            raise InvalidParameter(
                f"p is larger than the {len(eligible)} eligible candidates "
                "(outside exclusion zones)"
            )
        plan = maximal_covering(cover, w, p, seconds=ask.seconds)
    return base | _siting_answer(
        deployment,
        cands,
        eligible,
        plan,
        demand,
        before,
        new_open,
        network,
        limit,
        total,
        covered_before,
        k,
    )


def _siting_answer(
    deployment: Deployment,
    cands: Candidates,
    eligible: list[int],
    plan: Siting,
    demand: list[Demand],
    before: list[Coverage],
    new_open: np.ndarray,
    network: WalkingNetwork | None,
    limit: float,
    total: float,
    covered_before: float,
    k: int | None,
) -> dict[str, Any]:
    chosen = [eligible[j] for j in plan.chosen]
    # Coverage after: the chosen sites join the existing ones, open the new hours.
    after = []
    for d, cov in zip(demand, before, strict=True):
        new_reach = reach(network, cands.x[chosen], cands.y[chosen], d.x, d.y, limit)
        added = coverage(new_reach, np.tile(new_open, (len(chosen), 1)), d.by_hour)
        merged = Coverage(
            d.by_hour, np.maximum(cov.share_open, added.share_open), cov.reached | added.reached
        )
        after.append(merged)
    covered_after = sum(c.covered for c in after)

    def amount(events: float) -> dict[str, Any]:
        out: dict[str, Any] = {"share_of_events": round(events / total, 3)}
        if k is None:
            out["events"] = round(events, 2)
        elif events < k:
            out = {"share_of_events": None, "note": f"fewer than {k} events"}
        return out

    sites = []
    for rank, (i, gain) in enumerate(zip(chosen, plan.gains, strict=True), start=1):
        sites.append({"rank": rank, **_candidate_name(cands, i, deployment), "adds": amount(gain)})
    hours_before = _combined_hours(before, k)
    hours_after = _combined_hours(after, k)
    return {
        "chosen": sites,
        "coverage_before": _share(covered_before, total, k),
        "coverage_after": _share(covered_after, total, k),
        "by_hour": {"days": list(DAYS), "before": hours_before, "after": hours_after},
        "solver": {
            "status": plan.status,
            "gap": round(plan.gap, 4),
            "bound_share": round(min(1.0, (covered_before + plan.bound) / total), 3),
            "seconds": round(plan.seconds, 3),
            "method": "HiGHS: greedy + swap search, LP bound, branch and bound",
        },
    }


def _combined_hours(parts: list[Coverage], k: int | None) -> list[list[Any]]:
    events = np.sum([p.by_hour()[0] for p in parts], axis=0)
    covered = np.sum([p.by_hour()[1] for p in parts], axis=0)
    shares = [_share(float(c), float(e), k) for c, e in zip(covered, events, strict=True)]
    return _week_table(np.array(shares, dtype=object))


# -- consumption site ----------------------------------------------------------------------


def consumption_suitability(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    cache: HotspotCache,
    networks: NetworkCache,
    *,
    program_id: int,
    role: Role,
    weights: dict[str, float],
    period_text: str | None,
    now: float,
) -> dict[str, Any]:
    if any(not math.isfinite(v) or v < 0 for v in weights.values()):
        raise InvalidParameter("weights must be finite and not negative")
    if sum(weights.values()) <= 0:
        raise InvalidParameter("at least one weight must be more than 0")
    window = resolve_window(
        store,
        deployment,
        settings,
        program_id=program_id,
        role=role,
        period_text=period_text,
        now=now,
        long_view=True,
    )
    k = window.k
    network, routing = walking(networks, store, deployment, program_id)
    demand = {
        kind: demand_seen(store, deployment, settings, program_id, kind, window)[0]
        for kind in DEMAND_KINDS
    }
    cands = read_candidates(
        store, deployment, program_id, list(demand.values()), "consumption_site"
    )
    eligible = [i for i in range(len(cands.x)) if i not in cands.excluded]
    ex, ey = cands.x[eligible], cands.y[eligible]
    raw: dict[str, np.ndarray] = {}
    for name, kind in (
        ("overdoses", EventKind.OVERDOSE),
        ("needle_reports", EventKind.NEEDLE_REPORT),
    ):
        d = demand[kind]
        near = reach(network, ex, ey, d.x, d.y, SUITABILITY_RADIUS_M)
        raw[name] = np.asarray(near @ d.by_hour.sum(axis=1)).ravel() if len(ex) else np.zeros(0)
    services = [s for s in store.list_sites(program_id) if HR_SERVICES & set(s.services)]
    sx, sy = to_metres([s.lon for s in services], [s.lat for s in services], crs=deployment.crs)
    gap = np.full(len(ex), SERVICE_GAP_CAP_M)
    if services and len(ex):
        if network is None:
            m = straight_reach(ex, ey, np.asarray(sx), np.asarray(sy), SERVICE_GAP_CAP_M).metres
        else:
            m = network_reach(
                network, ex, ey, np.asarray(sx), np.asarray(sy), SERVICE_GAP_CAP_M
            ).metres
        for row in range(len(ex)):
            found = m.data[m.indptr[row] : m.indptr[row + 1]]
            if len(found):
                gap[row] = float(found.min())
    raw["service_gap"] = gap
    if k is not None:
        # Sums of released counts (each at least k): whole numbers, once float noise is gone.
        for c in ("overdoses", "needle_reports"):
            raw[c] = np.round(raw[c])
    total_weight = sum(weights.values())
    scaled = {
        c: (v / v.max() if len(v) and v.max() > 0 else np.zeros(len(v))) for c, v in raw.items()
    }
    score = np.zeros(len(ex))
    for c in weights:
        score += weights[c] * scaled[c] / total_weight
    ranking = []
    for rank, j in enumerate(np.argsort(-score, kind="stable").tolist(), start=1):
        criteria = {}
        for c in weights:
            value = float(raw[c][j])
            shown: Any = round(value) if c == "service_gap" or k is not None else round(value, 2)
            if c != "service_gap" and k is not None and value == 0:
                shown = "none released nearby (0)"
            criteria[c] = {
                "value": shown,
                "scaled": round(float(scaled[c][j]), 3),
                "weight": weights[c],
                "contribution": round(weights[c] * float(scaled[c][j]) / total_weight, 3),
            }
        ranking.append(
            {
                "rank": rank,
                **_candidate_name(cands, eligible[j], deployment),
                "score": round(float(score[j]), 3),
                "criteria": criteria,
            }
        )
    return {
        "window": window.label,
        "audience": "all events" if k is None else "sums of released cells",
        "routing": routing,
        "radius_m": SUITABILITY_RADIUS_M,
        "criteria": {
            "overdoses": f"overdoses within {SUITABILITY_RADIUS_M:g} m walking",
            "needle_reports": f"needle reports within {SUITABILITY_RADIUS_M:g} m walking",
            "service_gap": "walking metres to the nearest harm-reduction service "
            f"(up to {SERVICE_GAP_CAP_M:g}): farther fills a gap",
        },
        "scoring": "each criterion divided by its largest value among the candidates, then "
        "weighted; exclusion zones are a hard rule",
        "candidate_source": "grid cells (no candidates loaded)"
        if cands.from_grid
        else "loaded candidates",
        "ranking": ranking,
        "excluded": [
            {**_candidate_name(cands, i, deployment), "reason": why}
            for i, why in sorted(cands.excluded.items())
        ],
    }


def catchment_shapes(
    store: Store,
    deployment: Deployment,
    networks: NetworkCache,
    program_id: int,
    places: Sequence[tuple[float, float]],
    minutes: float,
    kind: EventKind,
) -> list[dict[str, Any]]:
    """Each (lon, lat) place's walking catchment as GeoJSON: the ``kind``'s grid cells whose
    centre it reaches within ``minutes``."""
    network, _ = walking(networks, store, deployment, program_id)
    x, y = to_metres([p[0] for p in places], [p[1] for p in places], crs=deployment.crs)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    cell_m = deployment.cell_m(kind)
    ix, iy = deployment.study_cells(cell_m)
    cx, cy = cell_centres(ix, iy, grid=deployment.grid, cell_m=cell_m)
    reached = reach(network, x, y, cx, cy, walk_limit_m(minutes)).tocsr()
    x0 = deployment.grid.origin_x_m + ix * cell_m
    y0 = deployment.grid.origin_y_m + iy * cell_m
    boxes = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    out = []
    for s in range(len(x)):
        hit = reached.indices[reached.indptr[s] : reached.indptr[s + 1]]
        shape_m = shapely.union_all(boxes[hit]) if len(hit) else shapely.Point(x[s], y[s])
        out.append(deployment.to_geojson_geometry(shape_m))
    return out


def zone_shapes(store: Store, deployment: Deployment, program_id: int) -> list[dict[str, Any]]:
    return [
        {"name": f"{f.name}: {f.buffer_m:g} m", "geometry": deployment.to_geojson_geometry(zone)}
        for f, zone in exclusion_zones(store, deployment, program_id)
    ]
