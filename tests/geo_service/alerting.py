"""What the alert tests share: a rule through the API, an alert drafted straight into the
store (as the engine will), and named-area squares around the test town."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from geo_service.storage.alert_records import NewAlert, StoredAlert
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN

# Well-formed (16 URL-safe characters, as storage.sql.alerts.new_ref makes) and naming nothing.
UNKNOWN_REF = "no-such-alert-00"
REF = r"[A-Za-z0-9_-]{16}"
RULE: dict[str, Any] = {
    "name": "Overdoses: 3 in 24 hours",
    "kind": "overdose",
    "method": "count",
    "window_hours": 24,
    "threshold": 3,
    "areas": "all",
}


def add_rule(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/v1/alert-rules", json={**RULE, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def town_id(store: SqlStore, name: str = "town") -> int:
    found = store.program_id(name)
    assert found is not None
    return found


def draft(
    store: SqlStore,
    program_id: int,
    rule_id: int,
    *,
    day: str = "2026-11-30",
    area: str = "all",
    releasable: int | None = 4,
    drafted_at: int | None = None,
) -> str:
    """A drafted alert, as the engine drafts one (observed 4 against 1.5 expected); its
    reference, the only name answers give it."""
    now = int(time.time()) if drafted_at is None else drafted_at
    alert = NewAlert(
        program_id=program_id,
        rule_id=rule_id,
        area=area,
        area_name="the whole program area",
        day=day,
        window_start=now - 86400,
        window_end=now,
        observed=4,
        expected=1.5,
        statistic=2.7,
        level=2,
        releasable=releasable,
        status="drafted",
        drafted_at=now,
    )
    alert_id = store.draft_alert(alert)
    assert alert_id is not None
    return ref_of(store, program_id, alert_id)


def ref_of(store: SqlStore, program_id: int, alert_id: int) -> str:
    stored = store.alert(program_id, alert_id)
    assert stored is not None
    return stored.ref


def stored(store: SqlStore, program_id: int, ref: str) -> StoredAlert:
    """The alert behind a reference, with the id the store (and nothing outside it) uses."""
    found = store.alert_by_ref(program_id, ref)
    assert found is not None
    return found


def square(
    name: Any, half_lon: float = 0.008, half_lat: float = 0.005, **at: float
) -> dict[str, Any]:
    """A Feature: a lon/lat box around the town (±0.008°, ±0.005° is about 1.1 km²)."""
    lon, lat = at.get("lon", TOWN[0]), at.get("lat", TOWN[1])
    ring = [
        [lon - half_lon, lat - half_lat],
        [lon + half_lon, lat - half_lat],
        [lon + half_lon, lat + half_lat],
        [lon - half_lon, lat + half_lat],
        [lon - half_lon, lat - half_lat],
    ]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"name": name},
    }
