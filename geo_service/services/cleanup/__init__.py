"""Clean-up routes for peers, and the log of finished clean-ups that feeds the next plan.

``stops`` chooses and values the needle-report cells a crew may visit, ``plan`` walks
through them, ``output`` draws the walk (GeoJSON, GPX) and ``cleaned`` logs a finished one
and knows when each stop was last cleaned.
"""

from geo_service.services.cleanup.cleaned import check_finished_at, log_cleanup, stop_cells
from geo_service.services.cleanup.output import (
    route_geojson,
    route_gpx,
    route_summary,
    shown_paths,
)
from geo_service.services.cleanup.plan import CleanupQuery, PlannedRoute, plan_cleanup
from geo_service.services.cleanup.stops import Candidate, candidates

__all__ = [
    "Candidate",
    "CleanupQuery",
    "PlannedRoute",
    "candidates",
    "check_finished_at",
    "log_cleanup",
    "plan_cleanup",
    "route_geojson",
    "route_gpx",
    "route_summary",
    "shown_paths",
    "stop_cells",
]
