"""Planning a clean-up walk: where the crew starts and ends, and the routes through the stops."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.grid import cell_centres
from analysis.projection import to_metres
from analysis.routing import (
    Plan,
    RouteSettings,
    Walks,
    network_walks,
    plan_routes,
    straight_walks,
)
from geo_service.errors import InvalidParameter, NotFound
from geo_service.services.basis import Basis
from geo_service.services.cleanup.stops import Candidate, candidates
from geo_service.settings import EventKind
from geo_service.storage import NetworkInfo

if TYPE_CHECKING:
    from geo_service.services.program import ProgramContext


@dataclass(frozen=True)
class Place:
    """A start or end: a service site (public, exact) or a snapped point."""

    x: float
    y: float
    label: str


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


@dataclass(frozen=True)
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
    basis: Basis  # what share of the window's reports the stops hold


# -- where the crew starts -----------------------------------------------------------------


def _place(
    ctx: ProgramContext,
    *,
    site_id: int | None,
    point: tuple[float, float] | None,
    network: Any,
    what: str,
) -> Place | None:
    deployment = ctx.deployment
    if site_id is not None and point is not None:
        raise InvalidParameter(f"give either {what}_site or {what}, not both")
    if site_id is not None:
        site = next((s for s in ctx.store.list_sites(ctx.program_id) if s.id == site_id), None)
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


def plan_cleanup(ctx: ProgramContext, query: CleanupQuery) -> PlannedRoute:
    """The best walks through the stops within the budget, for each team."""
    # A RoutingError here or below is answered from the table in errors.py.
    route_settings = RouteSettings(
        budget_min=query.budget_min,
        walking_kmh=query.walking_kmh,
        minutes_per_stop=query.minutes_per_stop,
        teams=query.teams,
        search_seconds=query.search_seconds,
    )
    loaded = ctx.services.networks.get(ctx.store, ctx.deployment, ctx.program_id)
    info, network = loaded if loaded else (None, None)
    start = _place(ctx, site_id=query.start_site, point=query.start, network=network, what="start")
    if start is None:
        raise InvalidParameter("say where the crew starts: start_site (a site id) or start")
    end = _place(ctx, site_id=query.end_site, point=query.end, network=network, what="end")
    end = end or start
    stops, window, basis = candidates(ctx, query.period)
    x = np.array([start.x, end.x] + [c.x for c in stops], dtype=np.float64)
    y = np.array([start.y, end.y] + [c.y for c in stops], dtype=np.float64)
    walks = network_walks(network, x, y) if network is not None else straight_walks(x, y)
    plan = plan_routes(walks, [c.value for c in stops], route_settings)
    return PlannedRoute(query, route_settings, stops, window, plan, walks, start, end, info, basis)
