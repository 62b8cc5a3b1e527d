"""A planned clean-up walk as GeoJSON (stops, paths, summary) or GPX for phone map apps."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

import gpxpy
import gpxpy.gpx
import numpy as np

from analysis.projection import to_lonlat
from analysis.routing import DETOUR_FACTOR
from geo_service.auth import FULL_VIEW, Role
from geo_service.deployment import Deployment
from geo_service.geojson import Feature, Geometry
from geo_service.services.cleanup.plan import PlannedRoute
from geo_service.services.cleanup.stops import Candidate


class NetworkShown(TypedDict):
    source: str
    imported_on: str
    nodes: int
    edges: int
    length_km: float


class RoutingNote(TypedDict):
    mode: str
    note: str
    detour_factor: NotRequired[float]
    network: NotRequired[NetworkShown]


class Skipped(TypedDict):
    stop: str
    reason: str


class RouteSummary(TypedDict):
    budget_min: float
    teams: int
    walking_kmh: float
    minutes_per_stop: float
    window: str
    audience: str
    routing: RoutingNote
    distance_m: int
    duration_min: float
    budget_used: float
    candidates: int
    stops_visited: int
    stops_skipped: int
    expected_needles: float
    skipped: list[Skipped]
    solver: str
    solve_seconds: float
    basis: dict[str, object]
    warnings: list[str]


class RouteCollection(TypedDict):
    type: Literal["FeatureCollection"]
    features: list[Feature]
    summary: RouteSummary


def routing_note(route: PlannedRoute) -> RoutingNote:
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
        "network": {
            "source": n.source,
            "imported_on": n.imported_on,
            "nodes": n.nodes,
            "edges": n.edges,
            "length_km": n.length_km,
        },
    }


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


@dataclass(frozen=True)
class ShownStop:
    """A stop as answers show it: where (WGS 84), when, and why."""

    team: int
    order: int
    candidate: Candidate
    position: list[float]  # lon, lat
    arrival_minute: float
    expected_needles: float
    reason: str


@dataclass(frozen=True)
class ShownPath:
    """A team's walk as answers show it; a one-point walk is drawn from there to there."""

    team: int
    line: list[list[float]]  # lon, lat
    distance_m: int
    duration_min: float
    stops: list[ShownStop]


def shown_paths(route: PlannedRoute, deployment: Deployment) -> list[ShownPath]:
    paths = []
    for team_no, (team, line) in enumerate(
        zip(route.plan.routes, team_paths(route, deployment), strict=True), start=1
    ):
        stops = [
            ShownStop(
                team_no,
                order,
                c,
                deployment.to_lonlat_point(c.x, c.y),
                round(arrival, 1),
                round(c.expected, 1),
                c.reason(route.window),
            )
            for order, (c, arrival) in enumerate(
                zip((route.candidates[s] for s in team.stops), team.arrival_min, strict=True), 1
            )
        ]
        drawn = line if len(line) > 1 else line * 2
        paths.append(
            ShownPath(team_no, drawn, round(team.distance_m), round(team.duration_min, 1), stops)
        )
    return paths


def route_summary(route: PlannedRoute, role: Role) -> RouteSummary:
    plan, stops = route.plan, route.candidates
    longest = max((t.duration_min for t in plan.routes), default=0.0)
    warnings: list[str] = []
    if route.network is None:
        warnings.append(routing_note(route)["note"])
    basis = route.basis
    if not stops:
        warnings.append(
            f"no needle-report cells to visit in {route.window}"
            if role in FULL_VIEW
            else f"no needle-report cells to visit: {basis.why_nothing('walk to')}"
        )
    warnings += basis.warnings
    return {
        "budget_min": route.settings.budget_min,
        "teams": route.settings.teams,
        "walking_kmh": route.settings.walking_kmh,
        "minutes_per_stop": route.settings.minutes_per_stop,
        "window": route.window,
        "audience": "all cells" if role in FULL_VIEW else "released cells only",
        "routing": routing_note(route),
        "distance_m": round(sum(t.distance_m for t in plan.routes)),
        "duration_min": round(longest, 1),
        "budget_used": round(longest / route.settings.budget_min, 3),
        "candidates": len(stops),
        "stops_visited": len(plan.visited),
        "stops_skipped": len(plan.skipped),
        "expected_needles": round(sum(stops[s].expected for s in plan.visited), 1),
        "skipped": [{"stop": stops[s].id, "reason": why} for s, why in plan.skipped.items()],
        "solver": plan.solver,
        "solve_seconds": round(plan.solve_seconds, 3),
        "basis": basis.to_json(),
        "warnings": warnings,
    }


def _point(position: list[float], properties: dict[str, object], id_: str | None = None) -> Feature:
    geometry: Geometry = {"type": "Point", "coordinates": position}
    if id_ is None:
        return {"type": "Feature", "geometry": geometry, "properties": properties}
    return {"type": "Feature", "id": id_, "geometry": geometry, "properties": properties}


def route_geojson(route: PlannedRoute, deployment: Deployment, role: Role) -> RouteCollection:
    features: list[Feature] = [
        _point(deployment.to_lonlat_point(place.x, place.y), {"kind": label, "name": place.label})
        for label, place in (("start", route.start), ("end", route.end))
    ]
    for path in shown_paths(route, deployment):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": path.line},
                "properties": {
                    "kind": "path",
                    "team": path.team,
                    "distance_m": path.distance_m,
                    "duration_min": path.duration_min,
                    "stops": len(path.stops),
                },
            }
        )
        for stop in path.stops:
            c = stop.candidate
            since = c.days_since_cleaned
            properties: dict[str, object] = {
                "kind": "stop",
                "team": stop.team,
                "order": stop.order,
                "stop": c.id,
                "cell_m": c.cell_m,
                "arrival_minute": stop.arrival_minute,
                "expected_needles": stop.expected_needles,
                "needles_reported": c.reported,
                "days_since_cleaned": None if since is None else round(since),
                "value": round(c.value, 2),
                "reason": stop.reason,
            }
            features.append(_point(stop.position, properties, c.id))
    return {
        "type": "FeatureCollection",
        "features": features,
        "summary": route_summary(route, role),
    }


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
        segment.points.extend(
            gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon) for lon, lat in path
        )
        track.segments.append(segment)
        doc.tracks.append(track)
    xml: str = doc.to_xml(version="1.1")
    return xml
