"""Open alerts for the page tests: a rule and one alert of it, drafted a while ago and then
sent, dismissed or left a draft (as the engine and a manager leave them), and the words the
pages show for it. Not collected: tests/geo_service/test_peer_alert_pages.py and
tests/browser/test_alert_banner_browser.py use it."""

from __future__ import annotations

import time

from geo_service.storage.alert_records import NewAlert, NewAlertRule, StoredAlert
from geo_service.storage.sql import SqlStore

DAY = "2026-11-30"
HEADLINE = "More overdoses than usual in the last 24 hours"
HEADLINE_FR = "Plus de surdoses que d'habitude dans les dernières 24 heures"
HOSTILE = "</script><script>alert(1)</script>${x}`whoami`<b>"


def make(
    store: SqlStore,
    program_id: int,
    *,
    area_name: str = "Lakeview",
    status: str = "sent",
    releasable: int | None = 3,
    kind: str = "overdose",
    age_s: int = 3600,
) -> StoredAlert:
    """A rule and one alert of it drafted ``age_s`` ago, then sent, dismissed or left a
    draft, as the engine and a manager would leave it."""
    now = int(time.time())
    rule_id = store.add_alert_rule(
        NewAlertRule(program_id, "spike", kind, "count", 24, 3, "program", False, "{}", now)
    )
    drafted = now - age_s
    alert_id = store.draft_alert(
        NewAlert(
            program_id=program_id,
            rule_id=rule_id,
            area="all",
            area_name=area_name,
            day=DAY,
            window_start=drafted - 86_400,
            window_end=drafted,
            observed=max(releasable or 0, 3),
            expected=1.25,
            statistic=None,
            level=2,
            releasable=releasable,
            status="drafted",
            drafted_at=drafted,
        )
    )
    assert alert_id is not None
    if status != "drafted":
        assert store.decide_alert(program_id, alert_id, status=status, now=now, key_id=None)
    made = store.alert(program_id, alert_id)
    assert made is not None and made.status == status
    return made
