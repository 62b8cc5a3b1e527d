"""A small program for the alert tests: a store, its deployment, rows placed on known cells
at known moments, and rules."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.grid import snap_to_cells
from analysis.projection import to_metres
from geo_service.deployment import Deployment
from geo_service.services.alerts.series import program_tally
from geo_service.settings import EventKind, Settings
from geo_service.storage import BatchRecord, EventRows
from geo_service.storage.alert_records import NewAlertRule
from geo_service.storage.sql import SqlStore, open_store
from tests.conftest import TOWN, make_settings

ZONE = "America/Winnipeg"
# Noon on a summer Monday in the program's time zone: buckets of 6 hours end on it.
NOW = int(pd.Timestamp("2026-06-15 12:00", tz=ZONE).timestamp())
HOUR = 3600
DAY = 86_400


@dataclass(frozen=True)
class Town:
    store: SqlStore
    deployment: Deployment
    settings: Settings
    program_id: int


@contextmanager
def alert_town(tmp_path: Path, database_url: str | None = None) -> Iterator[Town]:
    settings = make_settings(tmp_path)
    deployment = Deployment(settings)
    store = open_store(database_url or settings.database_url, grid_record=deployment.grid_record())
    try:
        program_id = store.get_or_create_program("town", deployment.geography.stored())
        yield Town(store, deployment, settings, program_id)
    finally:
        store.close()


def cell(
    deployment: Deployment, kind: str, east_m: float = 0.0, north_m: float = 0.0
) -> tuple[int, int, int]:
    """The cell of ``kind`` holding the point ``east_m``/``north_m`` from the town's centre."""
    size = deployment.cell_m(EventKind(kind))
    x, y = to_metres(np.array([TOWN[0]]), np.array([TOWN[1]]), crs=deployment.crs)
    ix, iy = snap_to_cells(x + east_m, y + north_m, grid=deployment.grid, cell_m=size)
    return size, int(ix[0]), int(iy[0])


def rows(
    kind: str,
    starts: Sequence[int],
    where: tuple[int, int, int] | Sequence[tuple[int, int, int]],
    *,
    hours: int | None = None,
    counts: Sequence[int] | None = None,
    naloxone: Sequence[int | None] | None = None,
) -> EventRows:
    """Rows of ``kind`` whose buckets start at ``starts`` (epoch seconds), on one cell or one
    cell each."""
    n = len(starts)
    cells: list[tuple[int, int, int]] = (
        [where] * n if isinstance(where[0], int) else list(where)  # type: ignore[list-item, arg-type]
    )
    bucket = hours or (6 if kind == "overdose" else 1)
    return EventRows(
        kind=[kind] * n,
        cell_m=np.array([c[0] for c in cells], dtype=np.int64),
        cell_ix=np.array([c[1] for c in cells], dtype=np.int64),
        cell_iy=np.array([c[2] for c in cells], dtype=np.int64),
        bucket_start=np.asarray(starts, dtype=np.int64),
        bucket_hours=np.full(n, bucket, dtype=np.int64),
        count=np.asarray(counts if counts is not None else [1] * n, dtype=np.int64),
        source=[None] * n,
        fatal=[None] * n,
        naloxone_doses=list(naloxone) if naloxone is not None else [None] * n,
        place_type=[None] * n,
    )


def store_rows(town: Town, stored: EventRows, *, key_id: int | None = None) -> None:
    """One batch through the store with the program's daily tally (as ingest does)."""
    record = BatchRecord(
        uuid.uuid4().hex, town.program_id, key_id, "events", None, "x", "2026-01-01", {}
    )
    town.store.store_events(
        record, stored, program_tally(town.store, town.deployment, town.program_id)
    )


def add_rule(
    town: Town,
    method: str,
    *,
    kind: str = "overdose",
    threshold: int = 3,
    window_hours: int = 24,
    areas: str = "all",
    auto_send: bool = False,
    options: dict[str, object] | None = None,
) -> int:
    return town.store.add_alert_rule(
        NewAlertRule(
            program_id=town.program_id,
            name=f"{method} {kind}",
            kind=kind,
            method=method,
            window_hours=window_hours,
            threshold=threshold,
            areas=areas,
            auto_send=auto_send,
            options=json.dumps(options or {}),
            created_at=NOW - 30 * DAY,
        )
    )


def square_around(
    deployment: Deployment, east_m: float, north_m: float, half_m: float
) -> dict[str, object]:
    """A GeoJSON square (WGS 84) of side ``2 * half_m`` around a point of the town."""
    from analysis.projection import to_lonlat

    x, y = to_metres(np.array([TOWN[0]]), np.array([TOWN[1]]), crs=deployment.crs)
    cx, cy = float(x[0]) + east_m, float(y[0]) + north_m
    xs = np.array([cx - half_m, cx + half_m, cx + half_m, cx - half_m, cx - half_m])
    ys = np.array([cy - half_m, cy - half_m, cy + half_m, cy + half_m, cy - half_m])
    lon, lat = to_lonlat(xs, ys, crs=deployment.crs)
    return {
        "type": "Polygon",
        "coordinates": [[[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]],
    }
