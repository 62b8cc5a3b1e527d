"""The audit of sub-k reads (DESIGN.md §4.8): a manager's or steward's answer that shows a
cell with fewer events than peers would ever be shown is a row in the audit trail.

Managers and stewards are trusted to see every cell, so such reads are allowed; the trail is
what lets a steward see who looked at the small numbers, through which route, and how many.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from geo_service.audit import record
from geo_service.auth import FULL_VIEW, Principal
from geo_service.services.publication import Audience, threshold
from geo_service.settings import Settings
from geo_service.storage import Store


def audit_small_cells(
    store: Store,
    settings: Settings,
    principal: Principal,
    *,
    route: str,
    counts: Iterable[float | None],
    parameters: Mapping[str, Any],
) -> None:
    """Record the read if any count shown is above 0 and below the peers' k.

    ``parameters`` are the request's options (names and plain values: never a coordinate or a
    box); the row holds them with the number of cells shown and how many were below k.
    """
    if principal.role not in FULL_VIEW:
        return
    k = threshold(settings, store.publication(principal.program_id), Audience.PEER)
    shown = [float(n) for n in counts if n is not None]
    below = sum(1 for n in shown if 0 < n < k)
    if not below:
        return
    record(
        store,
        "small_cells.read",
        actor=principal.actor,
        program_id=principal.program_id,
        key_id=principal.key_id,
        route=route,
        parameters=dict(sorted(parameters.items())),
        cells=len(shown),
        below_k=below,
        k=k,
    )


def feature_counts(collection: Mapping[str, Any], name: str = "count") -> list[float | None]:
    """One number per feature of a GeoJSON FeatureCollection (None where it has none)."""
    return [f.get("properties", {}).get(name) for f in collection.get("features", [])]
