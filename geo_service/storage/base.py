"""What callers need from a database, one small protocol per aggregate; ``Store`` is all of them.

Code that touches one aggregate can ask for its protocol alone, so a test double stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from geo_service.storage.alert_records import (
    AlertArea,
    AlertRule,
    DailyCount,
    DailyTally,
    Delivery,
    NewAlert,
    NewAlertRule,
    NewSubscriber,
    StoredAlert,
    Subscriber,
)
from geo_service.storage.records import (
    AuditEntry,
    AuditRow,
    BatchRecord,
    ContextFeature,
    EventAtoms,
    EventBuckets,
    EventCells,
    EventQuery,
    EventRows,
    InviteRecord,
    KeyRecord,
    MonthlyAggregate,
    NetworkInfo,
    NetworkRows,
    NewInvite,
    ProgramPublication,
    ProgramSummary,
    Redemption,
    RetentionResult,
    SiteRecord,
    StoredEvent,
    StoredGeography,
    StoredRelease,
    StoredSite,
)
from geo_service.storage.window_records import WindowReports


class DatabaseStore(Protocol):
    """The connection itself: which database, is it there, does its grid match."""

    dialect: str

    def close(self) -> None: ...
    def ping(self) -> str: ...
    def check_grid(self, record: Mapping[str, object]) -> None: ...


class ProgramStore(Protocol):
    """Programs, their publication choices and the data version that stales caches."""

    def get_or_create_program(self, name: str, geography: StoredGeography | None = None) -> int: ...
    def add_program(self, name: str, geography: StoredGeography) -> int | None: ...
    def geography_version(self, program_id: int) -> int: ...
    def program_geography(self, program_id: int) -> tuple[int, StoredGeography | None]: ...
    def set_geography(self, program_id: int, geography: StoredGeography) -> None: ...
    def list_programs(self) -> list[ProgramSummary]: ...
    def stored_cells(self, program_id: int) -> list[tuple[int, int, int]]: ...
    def has_events(self, program_id: int) -> bool: ...
    def program_id(self, name: str) -> int | None: ...
    def data_version(self, program_id: int) -> int: ...
    def publication(self, program_id: int) -> ProgramPublication: ...
    def set_publication(self, program_id: int, choice: ProgramPublication) -> None: ...
    def count_rows(self, program_id: int) -> dict[str, int]: ...
    def delete_program_data(self, program_id: int) -> None: ...


class KeyStore(Protocol):
    """API keys and the sign-in sessions made from them."""

    def add_key(
        self, program_id: int, role: str, key_hash: str, prefix: str, label: str | None
    ) -> int: ...
    def key_by_hash(self, key_hash: str) -> KeyRecord | None: ...
    def add_session(self, token_hash: str, key_id: int, expires_at: int, now: int) -> None: ...
    def key_by_session(self, token_hash: str, now: int) -> KeyRecord | None: ...
    def end_session(self, token_hash: str) -> None: ...
    def list_keys(self, program: str | None = None) -> list[KeyRecord]: ...
    def revoke_key(self, key_id: int) -> bool: ...


class InviteStore(Protocol):
    """One-time invites; a join makes the phone's own key and session in one go."""

    def add_invite(self, invite: NewInvite) -> int: ...
    def list_invites(self, program_id: int | None = None) -> list[InviteRecord]: ...
    def revoke_invite(self, invite_id: int, now: int, program_id: int | None = None) -> bool: ...
    def redeem_invite(self, join: Redemption) -> tuple[InviteRecord, int] | None: ...


class BatchStore(Protocol):
    """Idempotent batches: the secret their keys are digested with, and earlier answers."""

    def server_secret(self) -> str: ...
    def find_batch(
        self, program_id: int, target: str, key_id: int | None, idempotency_key: str
    ) -> BatchRecord | None: ...


class EventStore(Protocol):
    """Blurred events (late rows included), their sums, and retention into monthly aggregates."""

    def store_events(
        self,
        batch: BatchRecord,
        rows: EventRows,
        tally: Callable[[EventRows], DailyTally] | None = None,
    ) -> None: ...
    def store_event_stream(
        self,
        batch: BatchRecord,
        chunks: Iterable[EventRows],
        tally: Callable[[EventRows], DailyTally] | None = None,
    ) -> None: ...
    def query_events(
        self, query: EventQuery, *, grid_origin: tuple[float, float]
    ) -> list[StoredEvent]: ...
    def all_events(self, program_id: int) -> list[StoredEvent]: ...
    def event_cells(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventCells]: ...
    def event_buckets(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventBuckets]: ...
    def roll_up_before(
        self, cutoff: int, *, tz: str, chunk_rows: int = ..., program_id: int | None = None
    ) -> RetentionResult: ...
    def aggregates(self, program_id: int) -> list[MonthlyAggregate]: ...
    def first_event_start(self, program_id: int, kind: str) -> int | None: ...


class ReleaseStore(Protocol):
    """Frozen releases, and the per-report rows a new one is made from."""

    def event_atoms(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventAtoms]: ...
    def release(self, program_id: int, kind: str, period: str) -> StoredRelease | None: ...
    def add_release(self, program_id: int, release: StoredRelease) -> bool: ...
    def released_periods(self, program_id: int) -> set[tuple[str, str]]: ...


class AuditStore(Protocol):
    """The hash-chained audit log."""

    def append_audit(self, entry: AuditEntry) -> AuditRow: ...
    def audit_rows(
        self, program_id: int | None = None, *, after_id: int = 0, limit: int | None = None
    ) -> list[AuditRow]: ...
    def audit_head(self) -> str: ...


class SiteStore(Protocol):
    """Service sites: public places with their services and opening hours."""

    def store_sites(self, batch: BatchRecord, sites: list[SiteRecord]) -> None: ...
    def list_sites(self, program_id: int) -> list[StoredSite]: ...


class LayerStore(Protocol):
    """Planning layers: candidate sites and exclusion zones."""

    def store_context(
        self,
        program_id: int,
        features: list[ContextFeature],
        *,
        batch: BatchRecord | None = None,
        replace_layer: str | None = None,
    ) -> None: ...
    def list_context(self, program_id: int, layer: str) -> list[ContextFeature]: ...


class NetworkStore(Protocol):
    """A program's walking network (public OSM data)."""

    def replace_network(
        self,
        program_id: int,
        *,
        source: str,
        rows: NetworkRows,
        area_share: float,
        progress: Callable[[int], None] | None = None,
    ) -> NetworkInfo: ...
    def network_info(self, program_id: int) -> NetworkInfo | None: ...
    def load_network(self, program_id: int) -> tuple[NetworkInfo, NetworkRows] | None: ...


class AlertStore(Protocol):
    """Daily series, named areas, alert rules, alerts and their delivery (issue 19)."""

    def daily_series(
        self, program_id: int, kind: str, *, first_day: str, areas: Sequence[str] | None = None
    ) -> list[DailyCount]: ...
    def replace_daily_series(self, program_id: int, tally: DailyTally) -> None: ...
    def add_alert_area(self, program_id: int, name: str, geometry: str, now: int) -> int: ...
    def alert_areas(self, program_id: int) -> list[AlertArea]: ...
    def delete_alert_area(self, program_id: int, area_id: int, now: int) -> bool: ...
    def add_alert_rule(self, rule: NewAlertRule) -> int: ...
    def alert_rules(self, program_id: int, *, with_deleted: bool = False) -> list[AlertRule]: ...
    def delete_alert_rule(self, program_id: int, rule_id: int, now: int) -> bool: ...
    def draft_alert(self, alert: NewAlert) -> int | None: ...
    def alert(self, program_id: int, alert_id: int) -> StoredAlert | None: ...
    def alert_by_ref(self, program_id: int, ref: str) -> StoredAlert | None: ...
    def list_alerts(
        self,
        program_id: int,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[StoredAlert]: ...
    def decide_alert(
        self, program_id: int, alert_id: int, *, status: str, now: int, key_id: int | None
    ) -> StoredAlert | None: ...
    def set_poster_public(self, program_id: int, alert_id: int, public: bool) -> bool: ...
    def add_subscriber(self, subscriber: NewSubscriber) -> int: ...
    def subscribers(self, program_id: int) -> list[Subscriber]: ...
    def delete_subscriber(self, program_id: int, subscriber_id: int, now: int) -> bool: ...
    def add_delivery(self, delivery: Delivery) -> None: ...
    def deliveries(self, alert_id: int) -> list[Delivery]: ...
    def alert_phone(self, program_id: int) -> str | None: ...
    def set_alert_phone(self, program_id: int, phone: str | None) -> None: ...
    def program_name(self, program_id: int) -> str | None: ...
    def public_poster(self, ref: str) -> tuple[StoredAlert, str] | None: ...


class AlertWindowStore(Protocol):
    """The reports of an alert rule's short window, with their reporters."""

    def window_reports(
        self, program_id: int, kind: str, *, start: int, end: int
    ) -> WindowReports: ...
    def drafted_on(self, program_id: int, day: str) -> set[tuple[int, str]]: ...


class LimitStore(Protocol):
    """Request counts per fixed minute and failed invite codes, shared by every worker.

    Identities are digests (``a:`` an address, ``k:`` an Authorization header), never the
    address or the key itself."""

    def count_request(self, identity: str, window: int) -> int: ...
    def count_known_key(self, key: str, window: int, *, known_since: int) -> int | None: ...
    def key_proved(
        self, key: str, window: int, *, address: str | None = None, address_window: int = 0
    ) -> None: ...
    def forget_key(self, key: str) -> None: ...
    def forget_counts_before(self, window: int) -> None: ...
    def add_join_failure(self, address: str, at: float, *, forget_before: float) -> None: ...
    def join_failure_times(
        self, address: str, since: float, *, per_address: int, overall: int
    ) -> tuple[float | None, float | None]: ...


class Store(
    DatabaseStore,
    ProgramStore,
    KeyStore,
    InviteStore,
    BatchStore,
    EventStore,
    ReleaseStore,
    AuditStore,
    SiteStore,
    LayerStore,
    NetworkStore,
    AlertStore,
    AlertWindowStore,
    LimitStore,
    Protocol,
):
    """Everything the routes and CLI need from a database."""
