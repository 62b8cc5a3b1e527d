"""Alerts for the delivery tests, put straight into the store (the engine and the /v1 alert
routes are built elsewhere): a rule, a drafted alert, and its decision."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from geo_service.storage.alert_records import NewAlert, NewAlertRule, StoredAlert
from geo_service.storage.sql import SqlStore

Keys = dict[str, dict[str, str]]
NOW = 1_764_700_000  # 2025-12-02, UTC


def make_alert(
    store: SqlStore,
    program_id: int,
    *,
    area_name: str = "Downtown",
    releasable: int | None = 3,
    observed: int = 3,
    status: str = "sent",
    method: str = "count",
) -> StoredAlert:
    """A new rule and one alert of it: ``status`` is drafted, sent or dismissed. Its ``ref``
    names it in URLs and answers; its ``id`` is what the store's own methods take."""
    rule_id = store.add_alert_rule(
        NewAlertRule(program_id, "spike", "overdose", method, 24, 3, "program", False, "{}", NOW)
    )
    alert_id = store.draft_alert(
        NewAlert(
            program_id=program_id,
            rule_id=rule_id,
            area="all",
            area_name=area_name,
            day="2025-12-01",
            window_start=NOW - 86_400,
            window_end=NOW,
            observed=observed,
            expected=1.25,
            statistic=None,
            level=2,
            releasable=releasable,
            status="drafted",
            drafted_at=NOW,
        )
    )
    assert alert_id is not None
    if status != "drafted":
        store.decide_alert(program_id, alert_id, status=status, now=NOW + 60, key_id=None)
    made = store.alert(program_id, alert_id)
    assert made is not None and made.status == status
    return made


def subscribe(client: TestClient, keys: Keys, channel: str, target: str, audience: str) -> Any:
    answer = client.post(
        "/v1/alert-subscribers",
        json={"channel": channel, "target": target, "audience": audience},
        headers=keys["steward"],
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def town(store: SqlStore) -> int:
    program_id = store.program_id("town")
    assert program_id is not None
    return program_id
