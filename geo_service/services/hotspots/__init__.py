"""Hot spots for the API: load cells, run the analysis, publish per role, cache the answers.

Managers and stewards: the analysis runs on every event of the window and they see every
cell. Peers and planners: the analysis runs on a frozen release alone (DESIGN §4.5), so
nothing they receive, data-chosen defaults included, depends on a hidden report; they get
classes, not the statistics (z-scores, raw densities).

``compute`` runs the analyses, ``features`` cuts them to GeoJSON for a role, ``cache`` keeps
a worker's answers.
"""

from geo_service.auth import FULL_VIEW
from geo_service.services.hotspots.cache import HotspotCache, release_cells
from geo_service.services.hotspots.compute import (
    Analysis,
    HotspotQuery,
    Method,
    analyse_cells,
    load_cells,
)
from geo_service.services.hotspots.features import publish

__all__ = [
    "FULL_VIEW",
    "Analysis",
    "HotspotCache",
    "HotspotQuery",
    "Method",
    "analyse_cells",
    "load_cells",
    "publish",
    "release_cells",
]
