"""What the store keeps for alerts (issue 19): daily series, named areas, rules, alerts and
their delivery. Counts and words only; an area is a key, never a coordinate of a report."""

from __future__ import annotations

from dataclasses import dataclass

from geo_service.storage.records import IntArray

# The whole program area's series key; coarse cells are "cell:<m>:<ix>:<iy>", named areas
# "area:<id>".
PROGRAM_AREA = "all"


@dataclass(frozen=True)
class DailyTally:
    """Additions to the daily series, one entry per (kind, area, day)."""

    kind: list[str]
    area: list[str]
    day: list[str]  # local date, YYYY-MM-DD
    events: IntArray
    amount: IntArray
    naloxone: IntArray

    def __len__(self) -> int:
        return len(self.kind)


@dataclass(frozen=True)
class DailyCount:
    area: str
    day: str
    events: int
    amount: int
    naloxone: int


@dataclass(frozen=True)
class AlertArea:
    id: int
    program_id: int
    name: str
    geometry: str  # GeoJSON, WGS 84
    created_at: int


@dataclass(frozen=True)
class NewAlertRule:
    program_id: int
    name: str
    kind: str
    method: str  # count | naloxone | ears_c1 | ears_c2 | ears_c3 | ewma
    window_hours: int
    threshold: int
    areas: str  # program | cells | named | all
    auto_send: bool
    options: str  # JSON object
    created_at: int


@dataclass(frozen=True)
class AlertRule(NewAlertRule):
    id: int
    deleted_at: int | None = None


@dataclass(frozen=True)
class NewAlert:
    program_id: int
    rule_id: int
    area: str
    area_name: str
    day: str
    window_start: int
    window_end: int
    observed: int
    expected: float | None
    statistic: float | None
    level: int
    releasable: int | None
    status: str  # drafted | sent
    drafted_at: int


@dataclass(frozen=True)
class StoredAlert(NewAlert):
    id: int
    decided_at: int | None = None
    decided_by: int | None = None
    poster_public: bool = False
    ref: str = ""  # the alert's only name outside the store (random; ids are never shown)


@dataclass(frozen=True)
class NewSubscriber:
    program_id: int
    channel: str  # webhook | email
    target: str
    audience: str
    secret: str | None
    created_at: int


@dataclass(frozen=True)
class Subscriber(NewSubscriber):
    id: int


@dataclass(frozen=True)
class Delivery:
    alert_id: int
    subscriber_id: int
    at: int
    ok: bool
    detail: str
