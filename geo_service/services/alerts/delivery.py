"""Delivering a sent alert to its subscribers (Atom feed readers poll; webhooks and email are
pushed from here). Placeholder seam: the delivery work replaces this module's body."""

from __future__ import annotations

from geo_service.settings import Settings
from geo_service.storage import Store


def deliver_alert(store: Store, settings: Settings, program_id: int, alert_id: int) -> None:
    """Push one sent alert to the program's webhooks and email subscribers, recording each
    delivery; never raises (a failed delivery is recorded, not lost, and never fails the
    request that sent the alert)."""
    _ = (store, settings, program_id, alert_id)
