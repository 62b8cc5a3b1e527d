"""Which OGC API collections a reader may open: one per layer its role may read on /v1.

A collection is a released layer (one event kind and one published period), the service
sites, or the planning layers (candidate sites, exclusions). Ids are stable and spelled from
what they hold: ``needle_report-cells-2025-05``, ``overdose-cells-2025-Q2``, ``sites``,
``candidates``, ``exclusions``. A collection the reader may not open is simply not in the
catalogue, so asking for it answers exactly as an id that never existed.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field

from geo_service.auth import POLICY, Action, Role
from geo_service.deployment import Deployment
from geo_service.errors import NotFound
from geo_service.ingest.sites import Service
from geo_service.periods import (
    Bucket,
    Period,
    finished_periods,
    latest_published,
    month_of,
    parse_period,
)
from geo_service.services.program import ProgramContext, Services
from geo_service.services.publication import AUDIENCE_OF_ROLE, Audience
from geo_service.services.releases import grace_days
from geo_service.settings import EventKind
from maps.language import N_, _
from maps.words import period_words

CELLS_ID = re.compile(r"(needle_report|overdose|cleanup)-cells-([0-9A-Z-]{4,7})")
NO_SUCH_COLLECTION = "there is no collection with that id here"
KIND_TITLES = {
    EventKind.NEEDLE_REPORT: N_("Needle reports"),
    EventKind.OVERDOSE: N_("Overdoses"),
    EventKind.CLEANUP: N_("Clean-ups"),
}
SERVICE_WORDS = {Service.NEEDLES: N_("needles"), Service.NALOXONE: N_("naloxone")}
BUCKET_ORDER = (Bucket.MONTH, Bucket.QUARTER, Bucket.HALF, Bucket.YEAR)


class LayerKind(enum.StrEnum):
    CELLS = "cells"
    HOTSPOTS = "hotspots"
    COVERAGE_GAPS = "coverage-gaps"
    SITES = "sites"
    CANDIDATES = "candidates"
    EXCLUSIONS = "exclusions"


# What a role must be allowed to read each fixed layer (cells: any key; see the module doc).
FIXED_LAYERS: dict[LayerKind, Action] = {
    LayerKind.SITES: Action.READ_SITES,
    LayerKind.CANDIDATES: Action.MAP_PLANNING_LAYERS,
    LayerKind.EXCLUSIONS: Action.MAP_PLANNING_LAYERS,
}
FIXED_TITLES = {
    LayerKind.SITES: (N_("Service sites"), N_("Public places offering harm-reduction services")),
    LayerKind.CANDIDATES: (
        N_("Candidate sites"),
        N_("Places considered for a locker, a vending machine or a consumption site"),
    ),
    LayerKind.EXCLUSIONS: (
        N_("Exclusions"),
        N_("Schools, daycares and playgrounds, with the distance kept from them"),
    ),
}


# Analyses of the latest published quarter (quarters are published whatever the bucket):
# Gi* hot spots with the data-chosen band, as /v1/hotspots answers them, and the cells a
# 10-minute walk to a site offering the service does not reach, as /v1/coverage does.
HOTSPOT_KINDS = (EventKind.NEEDLE_REPORT, EventKind.OVERDOSE)
GAP_SERVICES = {Service.NEEDLES: EventKind.NEEDLE_REPORT, Service.NALOXONE: EventKind.OVERDOSE}
GAP_MINUTES = 10.0


@dataclass(frozen=True)
class Reader:
    """Who reads /ogc: a key's role in its program, or the public (``role`` None) of a
    program whose steward publishes a public layer."""

    services: Services
    program_id: int
    role: Role | None
    now: float = field(compare=False)
    ctx: ProgramContext | None = field(default=None, compare=False)  # None: the public

    @classmethod
    def of(cls, ctx: ProgramContext) -> Reader:
        return cls(ctx.services, ctx.program_id, ctx.role, ctx.now, ctx)

    @property
    def deployment(self) -> Deployment:
        return self.services.deployment_for(self.program_id)

    @property
    def audience(self) -> Audience:
        """The release audience: peers and planners their own, the public its coarsening;
        managers and stewards the peer layer, as /v1/published gives them by default."""
        if self.role is None:
            return Audience.PUBLIC
        return AUDIENCE_OF_ROLE.get(self.role, Audience.PEER)

    def may(self, action: Action) -> bool:
        return self.role is not None and self.role in POLICY[action]


@dataclass(frozen=True)
class Collection:
    id: str
    layer: LayerKind
    title: str  # in the request's language
    description: str
    kind: EventKind | None = None
    period: Period | None = None
    service: Service | None = None


def released_periods(reader: Reader) -> list[Period]:
    """Every period published by now within the retention window, by length, newest first.

    The list never depends on which releases exist or hold reports: a release is made when
    first asked for, and a period listed only once it has reports would tell a peer that
    someone reported then (see web.period_choices). Months are left out of a program that
    publishes by quarter, as /v1/published refuses them."""
    services, deployment = reader.services, reader.deployment
    choice = services.store.publication(reader.program_id)
    tz = deployment.tz
    now_month = month_of(dt.datetime.fromtimestamp(reader.now, tz))
    first = now_month - services.settings.retention_months
    by_bucket = finished_periods(first, now=reader.now, grace_days=grace_days(choice), tz=tz)
    if choice.bucket == Bucket.QUARTER:
        by_bucket.pop(Bucket.MONTH, None)
    return [parse_period(label, deployment) for b in BUCKET_ORDER for label in by_bucket.get(b, [])]


def cells_collection(kind: EventKind, period: Period, audience: Audience) -> Collection:
    kind_title = _(KIND_TITLES[kind])
    window = period_words(period.label)
    description = _(
        "Released squares of {kind}, {period}: a square shows a count only when enough "
        "reports remain after removing the largest reporter; other squares look empty"
    ).format(kind=kind_title.lower(), period=window)
    if audience is Audience.PUBLIC:
        description += " " + _("(the public layer: squares twice as wide)")
    return Collection(
        f"{kind.value}-cells-{period.label}",
        LayerKind.CELLS,
        f"{kind_title}, {window}",
        description,
        kind,
        period,
    )


def latest_quarter(reader: Reader) -> Period:
    choice = reader.services.store.publication(reader.program_id)
    tz = reader.deployment.tz
    label = latest_published("quarter", now=reader.now, grace_days=grace_days(choice), tz=tz)
    return parse_period(label, reader.deployment)


def analysis_collections(reader: Reader) -> list[Collection]:
    """Hot spots and coverage gaps of the latest published quarter, for anyone with a key
    (as /v1/hotspots and /v1/coverage answer them); not for the public."""
    if reader.ctx is None:
        return []
    period = latest_quarter(reader)
    window = period_words(period.label)
    out = [
        Collection(
            f"{kind.value}-hotspots",
            LayerKind.HOTSPOTS,
            _("Hot spots of {kind}, {period}").format(
                kind=_(KIND_TITLES[kind]).lower(), period=window
            ),
            _(
                "Squares busier (or quieter) than the streets around them, Getis-Ord Gi* on "
                "the released squares, with the distance band chosen from the data"
            ),
            kind,
            period,
        )
        for kind in HOTSPOT_KINDS
    ]
    for service, kind in GAP_SERVICES.items():
        title = _("Coverage gaps: {kind} beyond a 10-minute walk to {service}, {period}")
        out.append(
            Collection(
                f"{service.value}-coverage-gaps",
                LayerKind.COVERAGE_GAPS,
                title.format(
                    kind=_(KIND_TITLES[kind]).lower(),
                    service=_(SERVICE_WORDS[service]),
                    period=window,
                ),
                _(
                    "Released squares with reports that no site offering the service reaches "
                    "within a 10-minute walk while it is open, most first"
                ),
                kind,
                period,
                service,
            )
        )
    return out


def catalogue(reader: Reader) -> list[Collection]:
    """The collections this reader may open, in a stable order."""
    periods = released_periods(reader)
    cells = [
        cells_collection(kind, period, reader.audience) for kind in EventKind for period in periods
    ]
    return cells + analysis_collections(reader) + fixed_collections(reader)


def find_collection(reader: Reader, collection_id: str) -> Collection:
    """One collection by id, or 404: the same 404 whether the id never existed or this
    reader's role may not open it."""
    cells = CELLS_ID.fullmatch(collection_id)
    if cells is None:
        for found in analysis_collections(reader) + fixed_collections(reader):
            if found.id == collection_id:
                return found
        raise NotFound(NO_SUCH_COLLECTION)
    kind, label = EventKind(cells.group(1)), cells.group(2)
    for period in released_periods(reader):
        if period.label == label:
            return cells_collection(kind, period, reader.audience)
    raise NotFound(NO_SUCH_COLLECTION)


def fixed_collections(reader: Reader) -> list[Collection]:
    """The layers that are not periods: sites, candidates, exclusions (by role)."""
    out = []
    for layer, action in FIXED_LAYERS.items():
        if reader.may(action):
            title, description = FIXED_TITLES[layer]
            out.append(Collection(layer.value, layer, _(title), _(description)))
    return out
