"""Spike alerts' request bodies and answers (issue 19). Below manager level an alert has no
rule, no status and no observed or expected count: those members are left out of the answer,
so they are optional here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo_service.models.geojson import Geometry


class AlertRuleRequest(BaseModel):
    """A rule as the steward sends it; the service checks each value and answers 400 with
    what is wrong (see README, "Alerts")."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="the steward's words for the rule, 1-100 characters")
    kind: str = Field(description="overdose or needle_report")
    method: str = Field(description="count, naloxone, ears_c1, ears_c2, ears_c3 or ewma")
    window_hours: int = Field(24, description="24, or 1 for a count rule on hourly reports")
    threshold: int | None = Field(
        None,
        description="count: reports in the window; naloxone: doses in the window; ears and "
        "ewma: the fewest reports that may raise an alert (default 3)",
    )
    areas: str = Field("all", description="program, cells (>= 1 km²), named or all")
    auto_send: bool = Field(
        False, description="send without review (one reporting key alone never does)"
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description='ears: {"threshold": SDs, "min_sigma": 0.5}; ewma: {"alarm_at": "red"}',
    )


class AlertRuleAnswer(BaseModel):
    id: int
    name: str
    kind: str
    method: str
    window_hours: int
    threshold: int
    areas: str
    auto_send: bool
    options: dict[str, Any]
    created_at: str


class AlertRuleList(BaseModel):
    rules: list[AlertRuleAnswer]


class AlertAreaProperties(BaseModel):
    id: int
    name: str
    created_at: str


class AlertAreaFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: Geometry
    properties: AlertAreaProperties


class AlertAreaCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[AlertAreaFeature]


class AlertDeleted(BaseModel):
    deleted: int = Field(description="the id of the rule or area removed")


class AlertWindow(BaseModel):
    start: str | None
    end: str | None


class AlertRuleRef(BaseModel):
    id: int
    name: str
    method: str


class AlertAnswer(BaseModel):
    """One alert as the caller's role may see it. Peers and planners: the headline, the area
    in words, the window, and a count only when it reaches their k."""

    id: str = Field(description="random: alerts cannot be counted from their ids")
    kind: str
    headline: str
    area: str = Field(description="the area in words: the whole program, a square, a name")
    day: str
    window: AlertWindow
    sent_at: str | None
    count: int | None = Field(description="null below k (peers and planners)")
    count_words: str | None
    what_to_do: list[str]
    # managers and stewards only
    status: Literal["drafted", "sent", "dismissed"] | None = None
    rule: AlertRuleRef | None = None
    area_key: str | None = None
    observed: int | None = None
    expected: float | None = None
    statistic: float | None = None
    level: int | None = None
    releasable: int | None = None
    drafted_at: str | None = None
    decided_at: str | None = None
    poster_public: bool | None = None


class AlertList(BaseModel):
    alerts: list[AlertAnswer]
    next_before: str | None = Field(description="the 'before' of the next page, if any")


class PosterChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public: bool = Field(description="true: anyone may open the alert's printable poster")


class AlertSettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str | None = Field(
        description="the number the poster tells people to call; null clears it"
    )


class AlertSettingsAnswer(BaseModel):
    phone: str | None
