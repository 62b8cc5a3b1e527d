"""What the maps draw, as small frozen records: the app builds them from its services'
results, already cut to the viewer's role, so no map reads an API answer's keys.

Geometries stay GeoJSON geometry objects (``{"type", "coordinates"}``): Leaflet draws them as
they are, and the maps layer cannot know the app's own types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

Geometry = Mapping[str, object]  # a GeoJSON geometry object
WeekTable = Sequence[Sequence[float | None]]  # 7 days x 24 hours


@dataclass(frozen=True)
class Site:
    """A service site on the map, with today's opening hours (None: not given)."""

    name: str
    services: Sequence[str]
    lon: float
    lat: float
    today: str | None


@dataclass(frozen=True)
class Shape:
    """A named outline: an exclusion buffer, a chosen locker's walking catchment."""

    name: str
    geometry: Geometry


@dataclass(frozen=True)
class BasisNote:
    """What share of the window's reports a map rests on: ``words`` go in its legend; a
    ``warning`` (below half of them, or a handful) stands above the legend, never folded."""

    words: str
    warning: str = ""


# -- hot spots and trends --------------------------------------------------------------------


@dataclass(frozen=True)
class GiCell:
    """A hot-spot square: its count and Gi* class (None: a rolled-up, larger square)."""

    geometry: Geometry
    count: int
    gi_class: int | None
    confidence: str
    cell_m: int | None = None  # the square's size, when the answer gives it


@dataclass(frozen=True)
class Cluster:
    geometry: Geometry
    rank: int
    count: int


@dataclass(frozen=True)
class HeatCell:
    geometry: Geometry
    level: int  # 1..10


@dataclass(frozen=True)
class CountCell:
    """A square of the trends map: how many reports it holds that month."""

    geometry: Geometry
    count: int
    rolled_up: bool = False  # a larger square holding reports too few to show in small ones


@dataclass(frozen=True)
class Month:
    label: str  # 2025-05
    cells: Sequence[CountCell]  # empty: a quiet month, still a step of the slider


# -- coverage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catchment:
    """A site's walking catchment, and whether the site is open at the chosen hour."""

    name: str
    geometry: Geometry
    lon: float
    lat: float
    open: bool
    hours: str | None  # as given, OSM syntax


@dataclass(frozen=True)
class GapCell:
    """A cell with events no open site reaches: shaded by ``shade``; ``details`` are the
    tooltip's (name, value) pairs, as the viewer's role may see them."""

    geometry: Geometry
    rank: int
    shade: float
    details: Sequence[tuple[str, float | bool]]


@dataclass(frozen=True)
class HourShares:
    """The share of events covered by an open site, per hour of the week."""

    share_open: WeekTable
    note: str | None = None  # why some hours are blank (None: the default sentence)


# -- siting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    name: str  # overdoses, needle_reports, service_gap
    value: float | str  # as shown to the role
    weight: float
    contribution: float


@dataclass(frozen=True)
class RankedSite:
    rank: int
    name: str
    lon: float
    lat: float
    score: float
    criteria: Sequence[Criterion]


@dataclass(frozen=True)
class LeftOut:
    """A candidate inside an exclusion buffer."""

    name: str
    lon: float
    lat: float
    reason: str


@dataclass(frozen=True)
class Locker:
    """A chosen locker site: ``adds`` says what it adds (a share, or why none is shown)."""

    rank: int
    name: str
    adds: str


@dataclass(frozen=True)
class LockerSummary:
    minutes: float
    opening_hours: str
    coverage_before: float | None
    coverage_after: float | None
    chosen: Sequence[Locker]
    reason: str | None = None  # why nothing was chosen


# -- clean-up routes -------------------------------------------------------------------------


@dataclass(frozen=True)
class RouteEnd:
    kind: str  # start or end
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class TeamPath:
    team: int
    line: Sequence[Sequence[float]]  # (lon, lat) positions
    stops: int
    duration_min: float
    distance_m: float


@dataclass(frozen=True)
class RouteStop:
    team: int
    order: int
    stop: str  # the cell's id, sent back by the log form
    lon: float
    lat: float
    arrival_minute: float
    expected_needles: float
    notes: str  # besides the reports: when it was last cleaned, a school or park nearby
    reported: int  # what the expectation rests on, in the route's window


@dataclass(frozen=True)
class Route:
    ends: Sequence[RouteEnd]
    paths: Sequence[TeamPath]
    stops: Sequence[RouteStop]
    budget_min: float
    expected_needles: float
    stops_visited: int
    stops_skipped: int
    routing_note: str
    window: str  # the reports' period ("2025-Q2") or words ("the last 90 days")


class MapFeature(TypedDict):
    type: str
    geometry: dict[str, object]
    properties: dict[str, object]


class MapCollection(TypedDict):
    type: str
    features: list[MapFeature]


def feature_collection(
    features: Sequence[tuple[Geometry, Mapping[str, object]]], *, decimals: int | None = 5
) -> MapCollection:
    """A FeatureCollection of (geometry, properties), coordinates rounded to about a metre
    (finer than the grid needs, and each digit is page weight); ``decimals=None`` keeps
    them as they are."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {
                    "type": geometry["type"],
                    "coordinates": _rounded(geometry["coordinates"], decimals),
                },
                "properties": dict(properties),
            }
            for geometry, properties in features
        ],
    }


def _rounded(value: object, decimals: int | None) -> object:
    if decimals is None:
        return value
    if isinstance(value, float):
        return round(value, decimals)
    if isinstance(value, list):
        if value and isinstance(value[0], list) and value[0] and isinstance(value[0][0], float):
            # A ring or a line, the bulk of every page: rounded without a call per number.
            return [[round(x, decimals) for x in pair] for pair in value]
        return [_rounded(v, decimals) for v in value]
    return value
