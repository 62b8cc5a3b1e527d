"""Clean-up routes for peers, and the log of finished clean-ups that feeds the next plan.

Stops are needle-report cells. Peers and planners get only the released cells of a finished
period (the publication step); managers and stewards get every cell of the last 90 days. A
stop's value is the needles expected there now: the reported rate times the days since the
cell was last cleaned (capped), raised near schools, daycares and playgrounds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Any

import gpxpy
import gpxpy.gpx
import numpy as np
import orjson
import pandas as pd
import shapely

from analysis.grid import cell_centres
from analysis.projection import to_lonlat, to_metres
from analysis.routing import (
    DETOUR_FACTOR,
    Plan,
    RouteSettings,
    Walks,
    network_walks,
    plan_routes,
    straight_walks,
)
from geo_service.auth import EVENT_READERS, Principal, Role
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter, NotFound, Unprocessable
from geo_service.ingest.batches import Checked, Sender, run_batch
from geo_service.ingest.layers import exclusion_zones
from geo_service.ingest.privacy import coarsen_times
from geo_service.periods import Period, latest_published, parse_period
from geo_service.services.hotspots import FULL_VIEW, HotspotCache
from geo_service.services.network import NetworkCache
from geo_service.services.releases import check_period, get_release, grace_days, late_rows
from geo_service.settings import EventKind, Settings
from geo_service.storage import EventRows, NetworkInfo, Store

MANAGER_WINDOW_DAYS = 90
PILE_UP_CAP_DAYS = 90  # needles are also picked up by others; expectation stops growing
CLEANUP_LOOKBACK_DAYS = 365
SENSITIVE_PLACES = frozenset({"school", "daycare", "playground"})
NEAR_PLACE_BOOST = 1.5
DAY_S = 86_400


@dataclass(frozen=True)
class Place:
    """A start or end: a service site (public, exact) or a snapped point."""

    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Candidate:
    cell_m: int
    ix: int
    iy: int
    x: float
    y: float
    reported: int  # needles reported in the window (released count for peers)
    window_days: float
    days_since_cleaned: float | None  # None: not cleaned in the past year
    near: str | None  # the school, daycare or playground it lies near

    @property
    def id(self) -> str:
        return f"{self.cell_m}:{self.ix}:{self.iy}"

    @property
    def expected(self) -> float:
        rate = self.reported / max(self.window_days, 1.0)
        days = PILE_UP_CAP_DAYS if self.days_since_cleaned is None else self.days_since_cleaned
        return rate * min(days, PILE_UP_CAP_DAYS)

    @property
    def value(self) -> float:
        return self.expected * (NEAR_PLACE_BOOST if self.near else 1.0)

    def reason(self, window: str) -> str:
        parts = [f"{self.reported} needles reported in {window}"]
        if self.days_since_cleaned is None:
            parts.append("not cleaned in the past year")
        else:
            parts.append(f"last cleaned {self.days_since_cleaned:.0f} days ago")
        if self.near:
            parts.append(f"near {self.near} (counts {NEAR_PLACE_BOOST:g}×)")
        return "; ".join(parts)


@dataclass(frozen=True)
class CleanupQuery:
    budget_min: float
    teams: int = 1
    walking_kmh: float = 4.5
    minutes_per_stop: float = 10.0
    start_site: int | None = None
    start: tuple[float, float] | None = None  # lon, lat; snapped before use
    end_site: int | None = None
    end: tuple[float, float] | None = None
    period: str | None = None
    search_seconds: float = 1.0


@dataclass
class PlannedRoute:
    query: CleanupQuery
    settings: RouteSettings
    candidates: list[Candidate]
    window: str
    plan: Plan
    walks: Walks
    start: Place
    end: Place
    network: NetworkInfo | None


# -- where the crew starts -----------------------------------------------------------------


def _place(
    store: Store,
    deployment: Deployment,
    program_id: int,
    *,
    site_id: int | None,
    point: tuple[float, float] | None,
    network: Any,
    what: str,
) -> Place | None:
    if site_id is not None and point is not None:
        raise InvalidParameter(f"give either {what}_site or {what}, not both")
    if site_id is not None:
        site = next((s for s in store.list_sites(program_id) if s.id == site_id), None)
        if site is None:
            raise NotFound(f"this program has no site with that {what}_site id")
        x, y = to_metres(np.array([site.lon]), np.array([site.lat]), crs=deployment.crs)
        return Place(float(x[0]), float(y[0]), site.name)
    if point is None:
        return None
    lon, lat = point
    inside = deployment.contains([lon], [lat])[0] if math.isfinite(lon + lat) else False
    if not inside:
        raise InvalidParameter(f"{what} must be a longitude and latitude inside the service area")
    x, y = to_metres(np.array([lon]), np.array([lat]), crs=deployment.crs)
    # The sent point itself never appears in an answer: it is replaced by the nearest path
    # node (public map data) or, without a network, by the centre of its grid cell.
    if network is not None:
        node, _ = network.nearest(x, y)
        return Place(float(network.x[node[0]]), float(network.y[node[0]]), f"{what} (nearest path)")
    cell_m = deployment.cell_m(EventKind.NEEDLE_REPORT)
    ix = np.floor((x - deployment.grid.origin_x_m) / cell_m)
    iy = np.floor((y - deployment.grid.origin_y_m) / cell_m)
    cx, cy = cell_centres(ix, iy, grid=deployment.grid, cell_m=cell_m)
    return Place(float(cx[0]), float(cy[0]), f"{what} (centre of its grid cell)")


# -- candidate stops -----------------------------------------------------------------------


def candidates(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    cache: HotspotCache,
    *,
    program_id: int,
    role: Role,
    period_text: str | None,
    now: float,
) -> tuple[list[Candidate], str]:
    """Needle-report cells a crew may be sent to, and a label for the window they come from."""
    kind = EventKind.NEEDLE_REPORT
    base_m = deployment.cell_m(kind)
    cells: dict[tuple[int, int], int] = {}
    if role in FULL_VIEW and period_text is None:
        start = int(now) - MANAGER_WINDOW_DAYS * DAY_S
        cells = _all_cells(store, deployment, program_id, start, int(now))
        window, days = f"the last {MANAGER_WINDOW_DAYS} days", float(MANAGER_WINDOW_DAYS)
    else:
        choice = store.publication(program_id)
        label = period_text or latest_published(
            choice.bucket, now=now, grace_days=grace_days(choice), tz=deployment.tz
        )
        period: Period = parse_period(label, deployment)
        check_period(period, choice, now=now, full_view=role in FULL_VIEW)
        days = (period.end - period.start) / DAY_S
        window = period.label
        if role in FULL_VIEW:
            cells = _all_cells(store, deployment, program_id, period.start, period.end)
        else:
            release = get_release(
                store, deployment, settings, program_id=program_id, kind=kind, period=period,
                now=now,
            )  # fmt: skip
            # Only base cells: a rolled-up square a kilometre wide is not a place to walk to.
            cells = release.base_cells()
    if not cells:
        return [], window
    ix = np.array([c[0] for c in cells], dtype=np.int64)
    iy = np.array([c[1] for c in cells], dtype=np.int64)
    cx, cy = cell_centres(ix, iy, grid=deployment.grid, cell_m=base_m)
    cleaned = _last_cleaned(store, deployment, program_id, ix, iy, base_m, now)
    near = _near_sensitive_places(store, deployment, program_id, cx, cy)
    out = [
        Candidate(base_m, int(ix[i]), int(iy[i]), float(cx[i]), float(cy[i]),
                  cells[(int(ix[i]), int(iy[i]))], days, cleaned[i], near[i])
        for i in range(len(ix))
    ]  # fmt: skip
    return out, window


def _all_cells(
    store: Store, deployment: Deployment, program_id: int, start: int, end: int
) -> dict[tuple[int, int], int]:
    """Needles reported per stop cell in a window, every cell (managers and stewards)."""
    base_m = deployment.cell_m(EventKind.NEEDLE_REPORT)
    cells: dict[tuple[int, int], int] = {}
    for group in store.event_cells(program_id, EventKind.NEEDLE_REPORT.value, start=start, end=end):
        levels = deployment.grid.levels_between(group.cell_m, base_m)
        gx, gy = (group.ix >> levels).tolist(), (group.iy >> levels).tolist()
        for x, y, n in zip(gx, gy, group.count.tolist(), strict=True):
            cells[(x, y)] = cells.get((x, y), 0) + n
    return cells


def _last_cleaned(
    store: Store,
    deployment: Deployment,
    program_id: int,
    ix: np.ndarray,
    iy: np.ndarray,
    base_m: int,
    now: float,
) -> list[float | None]:
    since = int(now) - CLEANUP_LOOKBACK_DAYS * DAY_S
    last: dict[tuple[int, int, int], int] = {}  # (size, ix, iy) -> end of the latest clean-up
    for group in store.event_cells(
        program_id, EventKind.CLEANUP.value, start=since, end=int(now) + DAY_S
    ):
        size, gx, gy = group.cell_m, group.ix, group.iy
        if size < base_m:  # finer clean-up cells count for the stop cell holding them
            levels = deployment.grid.levels_between(size, base_m)
            size, gx, gy = base_m, gx >> levels, gy >> levels
        for x, y, end in zip(gx.tolist(), gy.tolist(), group.last_end.tolist(), strict=True):
            last[(size, x, y)] = max(last.get((size, x, y), 0), end)
    sizes = {key[0] for key in last}
    # Whole local days, date to date: the documented exception is the day a square was last
    # cleaned. Fractional days (shown through a stop's value) gave the hour a crew member
    # logged it, and, to someone polling, the moment the log arrived.
    today = dt.datetime.fromtimestamp(now, deployment.tz).date()
    out: list[float | None] = []
    for x, y in zip(ix.tolist(), iy.tolist(), strict=True):
        ends = []
        for size in sizes:  # a coarser clean-up cell counts for every stop inside it
            levels = deployment.grid.levels_between(base_m, size)
            ends.append(last.get((size, x >> levels, y >> levels), 0))
        end = max(ends, default=0)
        if end == 0:
            out.append(None)
            continue
        cleaned_on = dt.datetime.fromtimestamp(end - 1, deployment.tz).date()
        out.append(float(max(0, (today - cleaned_on).days)))
    return out


def _near_sensitive_places(
    store: Store, deployment: Deployment, program_id: int, x: np.ndarray, y: np.ndarray
) -> list[str | None]:
    """The sensitive place whose buffered zone (point or polygon) holds each stop, if any."""
    near: list[str | None] = [None] * len(x)
    for feature, zone in exclusion_zones(store, deployment, program_id):
        if feature.feature_type not in SENSITIVE_PLACES:
            continue
        for i in np.flatnonzero(shapely.contains_xy(zone, x, y)).tolist():
            near[i] = near[i] or feature.name
    return near


# -- planning ------------------------------------------------------------------------------


def plan_cleanup(
    store: Store,
    deployment: Deployment,
    settings: Settings,
    cache: HotspotCache,
    networks: NetworkCache,
    *,
    program_id: int,
    role: Role,
    query: CleanupQuery,
    now: float,
) -> PlannedRoute:
    # A RoutingError here or below is answered from the table in errors.py.
    route_settings = RouteSettings(
        budget_min=query.budget_min,
        walking_kmh=query.walking_kmh,
        minutes_per_stop=query.minutes_per_stop,
        teams=query.teams,
        search_seconds=query.search_seconds,
    )
    loaded = networks.get(store, deployment, program_id)
    info, network = loaded if loaded else (None, None)
    start = _place(store, deployment, program_id, site_id=query.start_site, point=query.start,
                   network=network, what="start")  # fmt: skip
    if start is None:
        raise InvalidParameter("say where the crew starts: start_site (a site id) or start")
    end = _place(store, deployment, program_id, site_id=query.end_site, point=query.end,
                 network=network, what="end") or start  # fmt: skip
    stops, window = candidates(store, deployment, settings, cache, program_id=program_id,
                               role=role, period_text=query.period, now=now)  # fmt: skip
    x = np.array([start.x, end.x] + [c.x for c in stops], dtype=np.float64)
    y = np.array([start.y, end.y] + [c.y for c in stops], dtype=np.float64)
    walks = network_walks(network, x, y) if network is not None else straight_walks(x, y)
    plan = plan_routes(walks, [c.value for c in stops], route_settings)
    return PlannedRoute(query, route_settings, stops, window, plan, walks, start, end, info)


def routing_note(route: PlannedRoute) -> dict[str, Any]:
    if route.network is None:
        return {
            "mode": "straight line",
            "detour_factor": DETOUR_FACTOR,
            "note": (
                f"no walking network is loaded: distances are straight lines × {DETOUR_FACTOR} "
                "and paths are drawn straight. Load one with "
                "'geo-service network import FILE.osm.pbf'"
            ),
        }
    n = route.network
    return {
        "mode": "walking network",
        "note": f"walking paths from {n.source} (imported {n.imported_on})",
        "network": {"source": n.source, "imported_on": n.imported_on, "nodes": n.nodes,
                    "edges": n.edges, "length_km": n.length_km},
    }  # fmt: skip


def _lonlat_line(deployment: Deployment, line: list[tuple[float, float]]) -> list[list[float]]:
    xy = np.array(line, dtype=np.float64)
    lon, lat = to_lonlat(xy[:, 0], xy[:, 1], crs=deployment.crs)
    coords: list[list[float]] = np.round(np.column_stack([lon, lat]), 6).tolist()
    # Consecutive repeats (a stop on its own node) add nothing to a drawn line.
    return [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]


def team_paths(route: PlannedRoute, deployment: Deployment) -> list[list[list[float]]]:
    paths = []
    for team in route.plan.routes:
        points = [0, *(s + 2 for s in team.stops), 1]
        line: list[tuple[float, float]] = []
        for a, b in itertools.pairwise(points):
            leg = route.walks.line(a, b)
            line.extend(leg if not line else leg[1:])
        paths.append(_lonlat_line(deployment, line or [(route.start.x, route.start.y)]))
    return paths


def route_geojson(route: PlannedRoute, deployment: Deployment, role: Role) -> dict[str, Any]:
    plan, stops = route.plan, route.candidates
    features: list[dict[str, Any]] = []
    for label, place in (("start", route.start), ("end", route.end)):
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Point",
                    "coordinates": deployment.to_lonlat_point(place.x, place.y),
                },
                "properties": {"kind": label, "name": place.label},
            }
        )
    for team_no, (team, path) in enumerate(
        zip(plan.routes, team_paths(route, deployment), strict=True), start=1
    ):
        features.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": path if len(path) > 1 else path * 2,
                },
                "properties": {
                    "kind": "path",
                    "team": team_no,
                    "distance_m": round(team.distance_m),
                    "duration_min": round(team.duration_min, 1),
                    "stops": len(team.stops),
                },
            }
        )
        for order, (s, arrival) in enumerate(zip(team.stops, team.arrival_min, strict=True), 1):
            c = stops[s]
            features.append(
                {
                    "type": "Feature",
                    "id": c.id,
                    "geometry": {
                        "type": "Point",
                        "coordinates": deployment.to_lonlat_point(c.x, c.y),
                    },
                    "properties": {
                        "kind": "stop",
                        "team": team_no,
                        "order": order,
                        "stop": c.id,
                        "cell_m": c.cell_m,
                        "arrival_minute": round(arrival, 1),
                        "expected_needles": round(c.expected, 1),
                        "needles_reported": c.reported,
                        "days_since_cleaned": None
                        if c.days_since_cleaned is None
                        else round(c.days_since_cleaned),
                        "value": round(c.value, 2),
                        "reason": c.reason(route.window),
                    },
                }
            )
    warnings: list[str] = []
    summary: dict[str, Any] = {
        "budget_min": route.settings.budget_min,
        "teams": route.settings.teams,
        "walking_kmh": route.settings.walking_kmh,
        "minutes_per_stop": route.settings.minutes_per_stop,
        "window": route.window,
        "audience": "all cells" if role in FULL_VIEW else "released cells only",
        "routing": routing_note(route),
        "distance_m": round(sum(t.distance_m for t in plan.routes)),
        "duration_min": round(max((t.duration_min for t in plan.routes), default=0.0), 1),
        "budget_used": round(
            max((t.duration_min for t in plan.routes), default=0.0) / route.settings.budget_min, 3
        ),
        "candidates": len(stops),
        "stops_visited": len(plan.visited),
        "stops_skipped": len(plan.skipped),
        "expected_needles": round(sum(stops[s].expected for s in plan.visited), 1),
        "skipped": [{"stop": stops[s].id, "reason": why} for s, why in plan.skipped.items()],
        "solver": plan.solver,
        "solve_seconds": round(plan.solve_seconds, 3),
        "warnings": warnings,
    }
    if route.network is None:
        warnings.append(routing_note(route)["note"])
    if not stops:
        warnings.append(
            f"no needle-report cells to visit in {route.window}"
            + ("" if role in FULL_VIEW else " pass the publication threshold; try a quarter")
        )
    return {"type": "FeatureCollection", "features": features, "summary": summary}


def route_gpx(route: PlannedRoute, deployment: Deployment) -> str:
    """Waypoints for the stops and one track per team, for phone map apps (GPX 1.1)."""
    doc = gpxpy.gpx.GPX()
    doc.creator = "geo-service clean-up planner"
    stops = route.candidates
    for team_no, (team, path) in enumerate(
        zip(route.plan.routes, team_paths(route, deployment), strict=True), start=1
    ):
        for order, (s, arrival) in enumerate(zip(team.stops, team.arrival_min, strict=True), 1):
            c = stops[s]
            lon, lat = deployment.to_lonlat_point(c.x, c.y)
            doc.waypoints.append(
                gpxpy.gpx.GPXWaypoint(
                    latitude=lat,
                    longitude=lon,
                    name=f"Team {team_no} stop {order}",
                    description=f"arrive about minute {arrival:.0f}; about "
                    f"{c.expected:.0f} needles expected. {c.reason(route.window)}",
                )
            )
        track = gpxpy.gpx.GPXTrack(name=f"Team {team_no}")
        segment = gpxpy.gpx.GPXTrackSegment()
        segment.points.extend(gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon)
                              for lon, lat in path)  # fmt: skip
        track.segments.append(segment)
        doc.tracks.append(track)
    xml: str = doc.to_xml(version="1.1")
    return xml


def stop_cells(
    deployment: Deployment, stop_ids: list[str]
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Stop ids ("cell_m:ix:iy") as clean-up cells; a reason for each id that is not one."""
    target_m = deployment.cell_m(EventKind.CLEANUP)
    ix = np.zeros(len(stop_ids), dtype=np.int64)
    iy = np.zeros(len(stop_ids), dtype=np.int64)
    problems: list[str | None] = []
    for n, text in enumerate(stop_ids):
        try:
            size, x, y = (int(p) for p in text.split(":"))
            deployment.grid.check_cell_size(size)
        except ValueError:
            problems.append("stop must be a stop id from a plan, such as 125:-402:7301")
            continue
        cx, cy = cell_centres([x], [y], grid=deployment.grid, cell_m=size)
        if not shapely.intersects_xy(deployment.service_area_m, cx, cy)[0]:
            problems.append("that stop is outside the service area")
            continue
        ix[n] = int(np.floor((cx[0] - deployment.grid.origin_x_m) / target_m))
        iy[n] = int(np.floor((cy[0] - deployment.grid.origin_y_m) / target_m))
        problems.append(None)
    return ix, iy, problems


def log_cleanup(
    store: Store,
    deployment: Deployment,
    principal: Principal,
    stops: list[tuple[str, int]],
    finished: dt.datetime,
    *,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a finished clean-up as ``cleanup`` events on the stops' cells, all or nothing:
    half a clean-up would mislead the next plan."""
    ix, iy, problems = stop_cells(deployment, [s for s, _ in stops])
    rejected = [{"index": n, "code": "invalid_stop", "detail": why}
                for n, why in enumerate(problems) if why]  # fmt: skip
    if rejected:
        raise Unprocessable(
            "some stops are not stops from a plan; nothing was stored. See 'rejected'",
            code="batch_rejected",
            rejected=rejected,
        )
    check_finished_at(store, deployment, principal, finished)
    n = len(stops)
    moments = pd.DatetimeIndex([pd.Timestamp(finished).tz_convert("UTC")] * n)
    bucket_start, bucket_hours = coarsen_times(moments, [EventKind.CLEANUP.value] * n, deployment)
    rows = EventRows(
        kind=[EventKind.CLEANUP.value] * n,
        cell_m=np.full(n, deployment.cell_m(EventKind.CLEANUP), dtype=np.int64),
        cell_ix=ix,
        cell_iy=iy,
        bucket_start=bucket_start,
        bucket_hours=bucket_hours,
        count=np.array([needles for _, needles in stops], dtype=np.int64),
        source=["peer"] * n,
        fatal=[None] * n,
        naloxone_doses=[None] * n,
        place_type=[None] * n,
    )
    # Like POST /v1/events: a clean-up in a period already released is kept for managers and
    # enters no release (a quarter made later included), so none can be slipped in afterwards.
    late = late_rows(store, deployment, principal.program_id, rows)
    held_back = []
    if late.any():
        rows = dataclasses.replace(rows, late=late)
        held_back = [
            {
                "index": int(i),
                "code": "period_already_published",
                "detail": "stored for managers; its month was already published, so it will "
                "not appear in what peers, planners or the public see",
            }
            for i in np.flatnonzero(late).tolist()
        ]
    fingerprint = hashlib.sha256(
        orjson.dumps([ix.tolist(), iy.tolist(), rows.count.tolist(), bucket_start.tolist()])
    ).hexdigest()
    return run_batch(
        store,
        Sender(principal.program_id, principal.key_id, idempotency_key, all_or_nothing=True),
        Checked("cleanups", fingerprint, n, held_back=held_back),
        lambda record: store.store_events(record, rows),
    )


def check_finished_at(
    store: Store, deployment: Deployment, principal: Principal, finished: dt.datetime
) -> None:
    """The bounds POST /v1/events puts on ``observed_at``: peers log clean-ups from the
    program's grace window only (so none lands in a period that is, or is about to be,
    published), and no one logs one older than the retention period."""
    now = dt.datetime.now(dt.UTC)
    if principal.role not in EVENT_READERS:
        days = grace_days(store.publication(principal.program_id))
        if finished < now - dt.timedelta(days=days):
            raise InvalidParameter(
                f"this key logs clean-ups from the last {days} days; older ones are imported "
                "by a manager or steward"
            )
    months = deployment.settings.retention_months
    retained = (pd.Timestamp(now) - pd.DateOffset(months=months)).to_pydatetime()
    if finished < retained:
        raise InvalidParameter(
            f"finished_at is older than the {months}-month retention period; such clean-ups "
            "are not kept"
        )
