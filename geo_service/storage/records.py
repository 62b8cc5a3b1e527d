"""What the store keeps and hands back: frozen records, no coordinates of a report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
# A JSON object as stored: an audit entry's detail, a batch's answer.
JsonObject = dict[str, object]


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
    naloxone_given: list[bool | None] | None = None  # overdoses only; None: all unknown
    # 'hour' (a time of day, in its bucket) or 'day' (a date only: the whole local day,
    # left out of hour-of-week tables); None: all 'hour'
    time_precision: list[str] | None = None
    details: ReportDetails | None = None  # phone reports only; None: none recorded

    def __len__(self) -> int:
        return len(self.kind)


@dataclass(frozen=True)
class ReportDetails:
    """What a phone report adds beyond the CSV columns, one entry per row (None: not asked)."""

    picked_up: list[bool | None]
    minutes: list[int | None]
    outcome: list[str | None]
    supplies: list[str | None]


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
    day_only: npt.NDArray[np.bool_] | None = None  # time_precision 'day': no hour of the week


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
    naloxone_given: bool | None = None
    time_precision: str = "hour"
    picked_up: bool | None = None
    minutes: int | None = None
    outcome: str | None = None
    supplies: str | None = None


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
class StoredGeography:
    """A program's geography as stored: area as GeoJSON in WGS 84, CRS, time zone, grid.

    ``cell_m`` and ``bucket_hours`` map an event kind's value to its size and hours."""

    area_geojson: str
    projected_crs: str
    timezone: str
    grid_origin_x_m: float
    grid_origin_y_m: float
    grid_base_cell_m: int
    cell_m: dict[str, int]
    bucket_hours: dict[str, int]


@dataclass(frozen=True)
class ProgramSummary:
    """One line of ``program list``: the name, whether it has its own geography, events."""

    id: int
    name: str
    created_on: str
    own_geography: bool
    events: int


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
    day_only: npt.NDArray[np.bool_] | None = None  # time_precision 'day': no hour of the week


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
    detail: JsonObject = field(default_factory=dict)


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
    target: str  # events | sites | candidates | exclusions
    idempotency_key: str | None  # its keyed digest (batches.idempotency_digest), never raw
    fingerprint: str
    received_on: str
    response: JsonObject = field(default_factory=dict)


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


@dataclass(frozen=True)
class InviteRecord:
    """A one-time invite as stored: never the code, only its keyed hash (not returned)."""

    id: int
    program: str
    program_id: int
    role: str
    session_days: int
    created_at: int  # UTC epoch seconds
    expires_at: int
    created_by: str
    used_at: int | None
    used_key_id: int | None  # the per-phone key the join made
    revoked_at: int | None
    label: str | None


@dataclass(frozen=True)
class NewInvite:
    program_id: int
    role: str
    code_hash: str
    session_days: int
    created_at: int
    expires_at: int
    created_by: str
    label: str | None


@dataclass(frozen=True)
class Redemption:
    """What a join must write in one transaction: the phone's own key and its session."""

    code_hash: str
    now: int
    key_hash: str  # of a key nobody is shown: the phone holds only the session cookie
    key_prefix: str
    token_hash: str
