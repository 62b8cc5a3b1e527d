"""GeoJSON as answers carry it (RFC 7946 types), and stored rows presented as GeoJSON: each
event as its grid cell polygon, times in UTC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NotRequired, TypedDict

import numpy as np

from geo_service.deployment import Deployment
from geo_service.settings import EventKind
from geo_service.storage import StoredEvent, StoredSite

GEOJSON = "application/geo+json"

Position = Sequence[float]  # lon, lat (WGS 84)


class Geometry(TypedDict):
    """A geometry object. Its coordinates nest by type (a Point's position, a Polygon's
    rings...); the service builds them and serialises them, and never reads them back."""

    type: str
    coordinates: Sequence[object]


class Feature(TypedDict):
    type: Literal["Feature"]
    id: NotRequired[str | int]
    geometry: Geometry
    properties: dict[str, object]


class FeatureCollection(TypedDict):
    type: Literal["FeatureCollection"]
    features: list[Feature]
    summary: NotRequired[dict[str, object]]  # what the answer is and how it was made


def polygon(ring: Sequence[Position]) -> Geometry:
    """One grid cell (or any single-ring polygon) as a geometry."""
    return {"type": "Polygon", "coordinates": [ring]}


def utc_text(epoch_s: int) -> str:
    """RFC 3339 in UTC for any stored instant; numpy's calendar has no year 1-9999 limit, so
    an odd date an old import left behind reads back instead of failing the whole answer."""
    return str(np.datetime_as_string(np.datetime64(epoch_s, "s"))) + "Z"


def events_to_features(rows: list[StoredEvent], deployment: Deployment) -> list[Feature]:
    """Each event as its grid cell polygon (WGS 84, 6 decimals ≈ 0.1 m)."""
    if not rows:
        return []
    ring = deployment.cell_rings(
        np.array([r.cell_ix for r in rows], dtype=np.int64),
        np.array([r.cell_iy for r in rows], dtype=np.int64),
        np.array([r.cell_m for r in rows], dtype=np.float64),
    )
    features: list[Feature] = []
    for row, coords in zip(rows, ring, strict=True):
        props: dict[str, object] = {
            "kind": row.kind,
            "cell": f"{row.cell_m}:{row.cell_ix}:{row.cell_iy}",
            "cell_m": row.cell_m,
            "bucket_start": utc_text(row.bucket_start),
            "bucket_end": utc_text(row.bucket_start + row.bucket_hours * 3600),
            "count": row.count,
            "source": row.source,
            "batch_id": row.batch_id,
            "time_precision": row.time_precision,
        }
        if row.kind == EventKind.OVERDOSE.value:
            props["fatal"] = row.fatal
            props["naloxone_doses"] = row.naloxone_doses
            props["naloxone_given"] = row.naloxone_given
        if row.kind == EventKind.NEEDLE_REPORT.value:
            props["place_type"] = row.place_type
        # What a phone report added (POST /v1/reports); absent for other rows.
        extra = {"picked_up": row.picked_up, "minutes": row.minutes, "outcome": row.outcome}
        extra["supplies"] = row.supplies
        props.update({name: value for name, value in extra.items() if value is not None})
        features.append(
            {
                "type": "Feature",
                "id": row.id,
                "geometry": polygon(coords),
                "properties": props,
            }
        )
    return features


def site_feature(site: StoredSite) -> Feature:
    """A service site as a Point (its exact place: sites are public), /v1/sites and /ogc."""
    return {
        "type": "Feature",
        "id": site.id,
        "geometry": {"type": "Point", "coordinates": [site.lon, site.lat]},
        "properties": {
            "name": site.name,
            "site_type": site.site_type,
            "services": list(site.services),
            "opening_hours": site.opening_hours,
            "address": site.address,
        },
    }
