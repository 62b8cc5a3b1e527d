"""The JSON answers' schemas: clean-up routes, coverage, siting, the audit trail, the
publication settings and deletion. Peers and planners get shares where managers get counts,
so counts are optional where a role may not see them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo_service.models.basis import AnswerBasis
from geo_service.models.geojson import Geometry
from geo_service.settings import EventKind

WeekTable = list[list[float | None]]  # 7 days (Mo..Su) × 24 hours


class NetworkInfo(BaseModel):
    source: str
    imported_on: str
    nodes: int
    edges: int
    length_km: float


class Routing(BaseModel):
    """How walks were measured: a loaded walking network, or straight lines × a factor."""

    mode: Literal["walking network", "straight line"]
    note: str
    detour_factor: float | None = None
    network: NetworkInfo | None = None


class RouteProperties(BaseModel):
    """start/end (name), path (team, distance_m, duration_min, stops) or stop (team, order,
    stop, cell_m, arrival_minute, expected_needles, needles_reported, days_since_cleaned,
    value, reason)."""

    kind: Literal["start", "end", "path", "stop"]
    name: str | None = None
    team: int | None = None
    distance_m: int | None = None
    duration_min: float | None = None
    stops: int | None = None
    order: int | None = None
    stop: str | None = None
    cell_m: int | None = None
    arrival_minute: float | None = None
    expected_needles: float | None = None
    needles_reported: int | None = None
    days_since_cleaned: int | None = None
    value: float | None = None
    reason: str | None = None


class RouteFeature(BaseModel):
    type: Literal["Feature"]
    id: str | None = None
    geometry: Geometry
    properties: RouteProperties


class SkippedStop(BaseModel):
    stop: str
    reason: str


class RouteSummary(BaseModel):
    budget_min: float
    teams: int
    walking_kmh: float
    minutes_per_stop: float
    window: str
    audience: str
    routing: Routing
    distance_m: int
    duration_min: float
    budget_used: float
    candidates: int
    stops_visited: int
    stops_skipped: int
    expected_needles: float
    skipped: list[SkippedStop]
    solver: str
    solve_seconds: float
    basis: AnswerBasis
    warnings: list[str]


class CleanupRoute(BaseModel):
    """A planned clean-up walk: start and end, each team's path, the stops in order."""

    type: Literal["FeatureCollection"]
    features: list[RouteFeature]
    summary: RouteSummary


class HourShares(BaseModel):
    days: list[str]
    share_open: WeekTable
    share_anytime: WeekTable
    events: WeekTable | None = Field(default=None, description="managers and stewards")
    note: str | None = Field(default=None, description="peers and planners: blank hours")
    left_out: str | None = Field(
        default=None, description="how many events with a date only were left out, if any"
    )


class GapProperties(BaseModel):
    rank: int
    events: float
    uncovered_events: float | None = Field(default=None, description="managers and stewards")
    uncovered_anytime: float | None = Field(default=None, description="managers and stewards")
    share_uncovered: float | None = Field(default=None, description="peers and planners")
    out_of_reach: bool | None = Field(default=None, description="peers and planners")


class GapCell(BaseModel):
    type: Literal["Feature"]
    geometry: Geometry
    properties: GapProperties


class GapCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[GapCell]


class CoverageResult(BaseModel):
    kind: EventKind
    minutes: float
    walk_m: int
    events: float | None
    share_open: float | None
    share_anytime: float | None
    by_hour: HourShares
    uncovered: GapCollection
    basis: AnswerBasis


class CoverageSite(BaseModel):
    id: int
    name: str
    opening_hours: str | None


class CoverageAnswer(BaseModel):
    service: str
    window: str
    audience: str
    routing: Routing
    sites: list[CoverageSite]
    results: list[CoverageResult]
    basis: AnswerBasis
    warnings: list[str]


class Place(BaseModel):
    """A candidate (id, name, type, notes) or a grid cell (id null)."""

    id: int | None
    name: str
    type: str | None = None
    notes: str | None = None
    lon: float
    lat: float


class ExcludedPlace(Place):
    reason: str = Field(description="the exclusion zone it lies in")


class Amount(BaseModel):
    share_of_events: float | None
    events: float | None = Field(default=None, description="managers and stewards")
    note: str | None = Field(default=None, description="when below the threshold k")


class ChosenSite(Place):
    rank: int
    adds: Amount


class BeforeAfterHours(BaseModel):
    days: list[str]
    before: WeekTable
    after: WeekTable


class SolverInfo(BaseModel):
    status: str
    gap: float
    bound_share: float
    seconds: float
    method: str


class LockerPlanAnswer(BaseModel):
    """The chosen sites in order with what each adds, coverage before and after, and the
    solver's proven gap; with nothing chosen, ``reason`` says why."""

    service: str
    minutes: float
    window: str
    opening_hours: str
    kinds: list[EventKind]
    audience: str
    routing: Routing
    candidates: int
    excluded: list[ExcludedPlace]
    candidate_source: str
    basis: AnswerBasis
    warnings: list[str]
    chosen: list[ChosenSite]
    reason: str | None = None
    coverage_before: float | None = None
    coverage_after: float | None = None
    by_hour: BeforeAfterHours | None = None
    solver: SolverInfo | None = None


class CriterionScore(BaseModel):
    value: int | float | str = Field(description="the criterion's raw value, as shown")
    scaled: float
    weight: float
    contribution: float


class RankedCandidate(Place):
    rank: int
    score: float
    criteria: dict[str, CriterionScore]


class RankingAnswer(BaseModel):
    window: str
    audience: str
    routing: Routing
    radius_m: float
    criteria: dict[str, str] = Field(description="what each criterion measures")
    scoring: str
    candidate_source: str
    ranking: list[RankedCandidate]
    excluded: list[ExcludedPlace]
    basis: AnswerBasis
    warnings: list[str]
    reason: str | None = Field(default=None, description="why nothing is ranked")


class AuditEntry(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    detail: dict[str, Any]
    hash: str


class ChainCheck(BaseModel):
    verified: bool
    rows: int
    first_broken_id: int | None
    reason: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_after: int | None = Field(description="pass as 'after' for the next page")
    chain: ChainCheck | None = Field(default=None, description="with verify=true")


class Thresholds(BaseModel):
    peer: int
    planner: int
    public: int


class PublicationSettings(BaseModel):
    k: Thresholds = Field(description="the threshold in force for each audience")
    floors: Thresholds = Field(description="the lowest each may be set to")
    public_enabled: bool
    bucket: str
    drop_top_keys: int
    grace_days: int


class DeletedRows(BaseModel):
    events: int
    monthly_aggregates: int
    sites: int
    context: int
    network_edges: int


class DeleteAnswer(BaseModel):
    deleted: DeletedRows = Field(description="the rows deleted, per table")


class ReportAnswer(BaseModel):
    """What the phone is told after a report: thanks and the map, never a count."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["stored"]
    thanks: str
    map: str = Field(description="the latest released map of the report's kind")
