"""Storage behind a small interface, so SQLite and PostGIS differ only where databases do."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EventRows:
    """Blurred events ready to store, column by column (no coordinates exist here)."""

    kind: list[str]
    cell_m: IntArray
    cell_ix: IntArray
    cell_iy: IntArray
    bucket_start: IntArray
    bucket_hours: IntArray
    count: IntArray
    source: list[str | None]
    fatal: list[bool | None]
    naloxone_doses: list[int | None]
    place_type: list[str | None]
    # Rows whose period was already released: stored for managers, in no release ever.
    late: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.kind)


@dataclass(frozen=True)
class SiteRecord:
    name: str
    site_type: str
    services: tuple[str, ...]
    opening_hours: str | None
    address: str | None
    lon: float
    lat: float


@dataclass(frozen=True)
class StoredSite(SiteRecord):
    id: int = 0


@dataclass(frozen=True)
class ContextFeature:
    layer: str  # candidate | exclusion
    feature_type: str
    name: str
    lon: float
    lat: float
    notes: str | None = None
    buffer_m: float | None = None
    geometry: str | None = None  # GeoJSON of a polygon exclusion; lon/lat lie inside it
    id: int = 0


@dataclass(frozen=True)
class EventBuckets:
    """Events of one kind summed per stored cell and time bucket."""

    cell_m: int
    ix: IntArray
    iy: IntArray
    bucket_start: IntArray
    bucket_hours: IntArray
    count: IntArray


@dataclass(frozen=True)
class NetworkInfo:
    """What was imported: enough to say so in every route answer."""

    version: int
    source: str
    imported_on: str
    nodes: int
    edges: int
    length_km: float
    area_share: float


@dataclass(frozen=True)
class NetworkRows:
    """A walking network's nodes (lon/lat, public OSM data) and undirected edges."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    u: IntArray
    v: IntArray
    length_m: npt.NDArray[np.float64]


@dataclass(frozen=True)
class StoredEvent:
    id: int
    batch_id: str
    kind: str
    cell_m: int
    cell_ix: int
    cell_iy: int
    bucket_start: int
    bucket_hours: int
    count: int
    source: str | None
    fatal: bool | None
    naloxone_doses: int | None
    place_type: str | None


@dataclass(frozen=True)
class EventQuery:
    program_id: int
    kinds: tuple[str, ...] = ()
    start: int | None = None  # UTC epoch seconds, inclusive: buckets ending after it
    end: int | None = None  # exclusive: buckets starting before it
    envelope_m: tuple[float, float, float, float] | None = None
    after_id: int = 0
    limit: int = 1000


@dataclass(frozen=True)
class EventCells:
    """Stored events summed per stored cell (all of one kind share one cell size)."""

    cell_m: int
    ix: IntArray
    iy: IntArray
    count: IntArray
    first_start: IntArray  # UTC epoch seconds of the earliest bucket
    last_end: IntArray  # end of the latest bucket


@dataclass(frozen=True)
class ProgramPublication:
    """A program's stored publication choices; ``None`` means the deployment default."""

    k_peer: int | None = None
    k_planner: int | None = None
    k_public: int | None = None
    public_enabled: bool = False
    bucket: str = "month"
    grace_days: int | None = None  # None: the default (7)
    drop_top_keys: int | None = None  # None: the default (1)


@dataclass(frozen=True)
class EventAtoms:
    """A period's reports, one per row, for the release step (late rows left out)."""

    cell_m: int
    ix: IntArray
    iy: IntArray
    bucket_start: IntArray
    reporter: IntArray  # the submitting key's id; a unique negative id for key-less imports
    count: IntArray  # needles named (1 for an overdose)
    bucket_hours: IntArray
    row_id: IntArray  # the event rows' ids: a release keeps the largest it read


@dataclass(frozen=True)
class StoredRelease:
    """A frozen release as stored: its rule and body (JSON text) and their hash."""

    kind: str
    period: str
    made_on: str
    rule: str
    body: str
    content_hash: str


@dataclass(frozen=True)
class MonthlyAggregate:
    program_id: int
    kind: str
    month: str  # YYYY-MM, local
    cell_m: int
    cell_ix: int
    cell_iy: int
    count: int


@dataclass(frozen=True)
class RetentionResult:
    events_removed: int
    aggregate_rows: int


@dataclass(frozen=True)
class AuditEntry:
    """What happened, by whom; ``detail`` holds counts and names, never coordinates."""

    action: str
    actor: str
    program_id: int | None = None
    key_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str
    program_id: int | None
    key_id: int | None
    actor: str
    action: str
    detail: str  # the JSON text exactly as hashed
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    program_id: int
    key_id: int | None
    target: str  # events | sites
    idempotency_key: str | None  # its keyed digest (batches.idempotency_digest), never raw
    fingerprint: str
    received_on: str
    response: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyRecord:
    id: int
    program: str
    program_id: int
    role: str
    prefix: str
    label: str | None
    created_on: str
    revoked_on: str | None


class Store(Protocol):
    """What the routes and CLI need from a database."""

    dialect: str

    def close(self) -> None: ...
    def ping(self) -> str: ...
    def check_grid(self, record: dict[str, Any]) -> None: ...
    def get_or_create_program(self, name: str) -> int: ...
    def program_id(self, name: str) -> int | None: ...
    def add_key(
        self, program_id: int, role: str, key_hash: str, prefix: str, label: str | None
    ) -> int: ...
    def key_by_hash(self, key_hash: str) -> KeyRecord | None: ...
    def add_session(self, token_hash: str, key_id: int, expires_at: int, now: int) -> None: ...
    def key_by_session(self, token_hash: str, now: int) -> KeyRecord | None: ...
    def end_session(self, token_hash: str) -> None: ...
    def list_keys(self, program: str | None = None) -> list[KeyRecord]: ...
    def revoke_key(self, key_id: int) -> bool: ...
    def server_secret(self) -> str: ...
    def find_batch(
        self, program_id: int, target: str, key_id: int | None, idempotency_key: str
    ) -> BatchRecord | None: ...
    def store_events(self, batch: BatchRecord, rows: EventRows) -> None: ...
    def store_event_stream(self, batch: BatchRecord, chunks: Iterable[EventRows]) -> None: ...
    def store_sites(self, batch: BatchRecord, sites: list[SiteRecord]) -> None: ...
    def query_events(
        self, query: EventQuery, *, grid_origin: tuple[float, float]
    ) -> list[StoredEvent]: ...
    def event_cells(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventCells]: ...
    def data_version(self, program_id: int) -> int: ...
    def event_atoms(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventAtoms]: ...
    def publication(self, program_id: int) -> ProgramPublication: ...
    def release(self, program_id: int, kind: str, period: str) -> StoredRelease | None: ...
    def add_release(self, program_id: int, release: StoredRelease) -> bool: ...
    def released_periods(self, program_id: int) -> set[tuple[str, str]]: ...
    def roll_up_before(self, cutoff: int, *, tz: str, chunk_rows: int = ...) -> RetentionResult: ...
    def aggregates(self, program_id: int) -> list[MonthlyAggregate]: ...
    def all_events(self, program_id: int) -> list[StoredEvent]: ...
    def set_publication(self, program_id: int, choice: ProgramPublication) -> None: ...
    def append_audit(self, entry: AuditEntry) -> AuditRow: ...
    def audit_rows(
        self, program_id: int | None = None, *, after_id: int = 0, limit: int | None = None
    ) -> list[AuditRow]: ...
    def audit_head(self) -> str: ...
    def list_sites(self, program_id: int) -> list[StoredSite]: ...
    def store_context(
        self,
        program_id: int,
        features: list[ContextFeature],
        *,
        batch: BatchRecord | None = None,
        replace_layer: str | None = None,
    ) -> None: ...
    def event_buckets(
        self, program_id: int, kind: str, *, start: int | None, end: int | None
    ) -> list[EventBuckets]: ...
    def list_context(self, program_id: int, layer: str) -> list[ContextFeature]: ...
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
    def count_rows(self, program_id: int) -> dict[str, int]: ...
    def delete_program_data(self, program_id: int) -> None: ...
