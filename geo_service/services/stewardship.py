"""Community ownership: export a program's data, delete it, and the retention job."""

from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import orjson

from geo_service.audit import record
from geo_service.deployment import Deployment
from geo_service.geojson import (
    Feature,
    FeatureCollection,
    events_to_features,
    polygon,
    utc_text,
)
from geo_service.ingest.layers import context_feature
from geo_service.periods import month_of, month_start
from geo_service.services.gpkg import GPKG_MEDIA, geopackage
from geo_service.storage import MonthlyAggregate, RetentionResult, Store, StoredEvent

EVENT_COLUMNS = [
    "record",
    "kind",
    "cell_m",
    "cell_ix",
    "cell_iy",
    "bucket_start",
    "bucket_hours",
    "month",
    "count",
    "source",
    "fatal",
    "naloxone_doses",
    "place_type",
    "time_precision",
    "naloxone_given",
    # A phone report's answers (POST /v1/reports); blank for other rows.
    "picked_up",
    "minutes",
    "outcome",
    "supplies",
]


def export_program(
    store: Store,
    deployment: Deployment,
    *,
    program_id: int,
    fmt: str,
    actor: str,
    key_id: int | None = None,
) -> tuple[bytes, str]:
    """All of a program's events (as cells and buckets: nothing finer exists) and its
    monthly aggregates, as GeoJSON or CSV; as a GeoPackage also its sites, candidate sites
    and exclusions, a layer each. Audited."""
    rows = store.all_events(program_id)
    aggregates = store.aggregates(program_id)
    record(
        store,
        "export",
        actor=actor,
        program_id=program_id,
        key_id=key_id,
        format=fmt,
        events=len(rows),
        aggregates=len(aggregates),
    )
    if fmt == "gpkg":
        return _program_geopackage(store, deployment, program_id, rows, aggregates), GPKG_MEDIA
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EVENT_COLUMNS)
        for e in rows:
            start = utc_text(e.bucket_start)
            writer.writerow(
                [
                    "event",
                    e.kind,
                    e.cell_m,
                    e.cell_ix,
                    e.cell_iy,
                    start,
                    e.bucket_hours,
                    "",
                    e.count,
                    e.source or "",
                    _flag(e.fatal),
                    _blank(e.naloxone_doses),
                    e.place_type or "",
                    e.time_precision,
                    _flag(e.naloxone_given),
                    _flag(e.picked_up),
                    _blank(e.minutes),
                    e.outcome or "",
                    e.supplies or "",
                ]
            )
        for a in aggregates:
            writer.writerow(
                [
                    "monthly_aggregate",
                    a.kind,
                    a.cell_m,
                    a.cell_ix,
                    a.cell_iy,
                    "",
                    "",
                    a.month,
                    a.count,
                    *[""] * (len(EVENT_COLUMNS) - 9),
                ]
            )
        return out.getvalue().encode(), "text/csv"
    features = events_to_features(rows, deployment) + _aggregate_features(aggregates, deployment)
    body: FeatureCollection = {"type": "FeatureCollection", "features": features}
    return orjson.dumps(body), "application/geo+json"


def _aggregate_features(
    aggregates: list[MonthlyAggregate], deployment: Deployment
) -> list[Feature]:
    rings = deployment.cell_rings(
        np.array([a.cell_ix for a in aggregates], dtype=np.int64),
        np.array([a.cell_iy for a in aggregates], dtype=np.int64),
        np.array([a.cell_m for a in aggregates], dtype=np.float64),
    )
    return [
        {
            "type": "Feature",
            "geometry": polygon(ring),
            "properties": {
                "record": "monthly_aggregate",
                "kind": a.kind,
                "cell": f"{a.cell_m}:{a.cell_ix}:{a.cell_iy}",
                "month": a.month,
                "count": a.count,
            },
        }
        for a, ring in zip(aggregates, rings, strict=True)
    ]


def _program_geopackage(
    store: Store,
    deployment: Deployment,
    program_id: int,
    rows: list[StoredEvent],
    aggregates: list[MonthlyAggregate],
) -> bytes:
    """Everything a steward may take home, one layer each: events as their cell polygons
    with bucket times, monthly aggregates, service sites, candidate sites, exclusions."""
    sites: list[Feature] = [
        {
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
        for site in store.list_sites(program_id)
    ]
    context = {
        layer: [context_feature(f) for f in store.list_context(program_id, layer)]
        for layer in ("candidate", "exclusion")
    }
    return geopackage(
        {
            "events": events_to_features(rows, deployment),
            "monthly_aggregates": _aggregate_features(aggregates, deployment),
            "sites": sites,
            "candidates": context["candidate"],
            "exclusions": context["exclusion"],
        }
    )


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


def retention_cutoff(now: dt.datetime, *, months: int, deployment: Deployment) -> int:
    """The start of the local month ``months`` before this one: older buckets are folded."""
    return month_start(month_of(now.astimezone(deployment.tz)) - months, deployment.tz)


def run_retention(
    store: Store,
    deployment: Deployment,
    *,
    months: int,
    now: dt.datetime | None = None,
    program_id: int | None = None,
) -> tuple[int, RetentionResult]:
    """Fold old events (``program_id``'s only, in its deployment's time zone; ``None``:
    every program's) into monthly aggregates."""
    cutoff = retention_cutoff(now or dt.datetime.now(dt.UTC), months=months, deployment=deployment)
    result = store.roll_up_before(cutoff, tz=deployment.timezone, program_id=program_id)
    record(
        store,
        "retention.run",
        actor="cli",
        program_id=program_id,
        months=months,
        events_removed=result.events_removed,
        aggregate_rows=result.aggregate_rows,
    )
    return cutoff, result
