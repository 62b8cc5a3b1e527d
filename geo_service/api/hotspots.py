"""``/v1/hotspots``: Gi* hot spots, density clusters and heat surfaces, cut to the role."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Annotated, Self

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import Field, model_validator
from starlette.responses import Response

from analysis.grid import GridError
from geo_service.context import ContextDep
from geo_service.errors import Forbidden, InvalidParameter, problem_response
from geo_service.geojson import GEOJSON
from geo_service.i18n import language_of
from geo_service.models import KEYED, GeoJSONAnswer, HotspotCollection, problems
from geo_service.params import Ask
from geo_service.periods import ONLY_PERIODS_BELOW_MANAGER, Period, parse_datetime, parse_period
from geo_service.services.deadline import AnalysisOverdue, answer_within, timed_answer
from geo_service.services.hotspots import HotspotQuery, Method
from geo_service.services.hotspots.cube import TimeStep
from geo_service.services.hotspots.emerging import EmergingQuery, emerging_answer
from geo_service.services.hotspots.scan import (
    MANAGERS_ONLY,
    MAX_PERMUTATIONS,
    ScanQuery,
    scan_answer,
    today,
)
from geo_service.services.program import ProgramContext
from geo_service.services.releases import check_period, levels_above_stored
from geo_service.services.small_cell_audit import audit_small_cells, feature_counts
from geo_service.settings import EventKind
from maps.language import SOURCE_LANGUAGE, translations

router = APIRouter(prefix="/v1", tags=["hotspots"], responses=KEYED)

METHOD_OPTIONS = {
    Method.GI_STAR: frozenset({"distance_m", "permutations", "seed", "fdr"}),
    Method.DBSCAN: frozenset({"eps_m", "min_events"}),
    Method.HDBSCAN: frozenset({"min_cluster_size", "min_samples"}),
    Method.DENSITY: frozenset({"bandwidth_m"}),
    Method.EMERGING: frozenset({"distance_m", "time_step", "steps", "time_step_interval", "alpha"}),
    Method.STSCAN: frozenset({"max_days", "max_radius_m", "permutations", "seed", "last_day"}),
}
# The change-over-time methods pick their own window (the latest steps, or the year up to
# last_day) at the stored cell size.
OWN_WINDOW = frozenset({Method.EMERGING, Method.STSCAN})
# Options only the change-over-time methods read (not part of a HotspotQuery).
CHANGE_OPTIONS = frozenset(
    {"time_step", "steps", "time_step_interval", "alpha", "max_days", "max_radius_m", "last_day"}
)
# What one peer or planner request may cost: permutations, and a band of at most this share
# of the service area's width (a wider band makes the whole town one neighbourhood anyway).
MAX_PERMUTATIONS_BELOW_MANAGER = 999
MAX_BAND_SHARE_OF_WIDTH = 0.25


def overdue_response(exc: AnalysisOverdue) -> Response:
    response = problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
    response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


def check_costs(ctx: ProgramContext, ask: HotspotParams) -> None:
    """Bound what one request below manager level may make the server compute."""
    if ctx.full_view:
        return
    if ask.permutations > MAX_PERMUTATIONS_BELOW_MANAGER:
        raise InvalidParameter(
            f"peers and planners may ask for at most {MAX_PERMUTATIONS_BELOW_MANAGER} permutations"
        )
    xmin, _, xmax, _ = ctx.deployment.service_area_m.bounds
    widest = math.floor((xmax - xmin) * MAX_BAND_SHARE_OF_WIDTH)
    if ask.distance_m is not None and ask.distance_m > widest:
        raise InvalidParameter(
            f"distance_m may be at most {widest} m here, a quarter of the service area's width"
        )


def check_options(given: set[str], method: Method) -> None:
    """Refuse options of another method instead of ignoring them (unknown names are refused
    app-wide by ``geo_service.params``)."""
    if method in OWN_WINDOW:
        window = sorted(given & {"datetime", "period", "cell_m"})
        if window:
            raise InvalidParameter(
                f"{', '.join(window)} does not apply to method={method.value}: it reads the "
                "latest time steps (steps, last_day) at the stored cell size"
            )
    for other, names in METHOD_OPTIONS.items():
        stray = sorted((given & names) - METHOD_OPTIONS[method])
        if stray:
            raise InvalidParameter(
                f"{', '.join(stray)} applies only to method={other.value}, not {method.value}"
            )


class HotspotParams(Ask):
    """The options of one hot-spot request; each method's own options are refused with
    another method (``METHOD_OPTIONS``)."""

    kind: EventKind
    method: Method = Method.GI_STAR
    datetime: str | None = Field(
        None, description="managers, stewards: RFC 3339 instant or interval a/b, '..' open"
    )
    period: str | None = Field(
        None,
        description="a finished month (2025-05), quarter (2025-Q2), half-year (2025-H1) or "
        "year (2025); required for peers and planners",
    )
    cell_m: int | None = Field(
        None,
        ge=1,
        description="cell size: the kind's stored size × 2^k (default: stored size); for "
        "peers and planners the release's cells summed into the larger squares",
    )
    distance_m: float | None = Field(
        None,
        gt=0,
        le=50_000,
        description="gi_star, emerging: distance band (default: from the data)",
    )
    permutations: int = Field(
        0, ge=0, le=9999, description="gi_star: 0 for analytic p-values, e.g. 999"
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="gi_star, stscan: permutation seed")
    fdr: bool = Field(True, description="gi_star: Benjamini–Hochberg correction")
    eps_m: float | None = Field(
        None, gt=0, le=50_000, description="dbscan: radius (default 2 cells)"
    )
    min_events: int | None = Field(
        None, ge=1, le=10**9, description="dbscan: events for a core (default 10)"
    )
    min_cluster_size: int | None = Field(
        None, ge=2, le=10**9, description="hdbscan: events (default 15)"
    )
    min_samples: int | None = Field(
        None, ge=1, le=10**9, description="hdbscan: events (default: size)"
    )
    bandwidth_m: float | None = Field(
        None, gt=0, le=50_000, description="density: kernel sd (default 2 cells)"
    )
    time_step: TimeStep = Field(
        TimeStep.MONTH, description="emerging: month or week (peers and planners: month)"
    )
    steps: int | None = Field(
        None,
        ge=2,
        le=104,
        description="emerging: time steps back from the latest finished one (default 12 "
        "months or 26 weeks; at most 24 months or 104 weeks)",
    )
    time_step_interval: int = Field(
        1, ge=0, le=12, description="emerging: earlier steps in each bin's neighbourhood"
    )
    alpha: float = Field(
        0.05, ge=0.001, le=0.1, description="emerging: level for bins (after FDR) and trends"
    )
    max_days: int = Field(7, ge=1, le=31, description="stscan: longest window in days")
    max_radius_m: float = Field(
        500.0, gt=0, le=2000, description="stscan: largest circle's radius in metres"
    )
    last_day: dt.date | None = Field(
        None, description="stscan: the last day scanned (default today, local time)"
    )

    @model_validator(mode="after")
    def _options_of_the_method(self) -> Self:
        # InvalidParameter is not a ValueError: pydantic lets it through, answered as 400.
        check_options(set(self.model_fields_set), self.method)
        return self


def _cell_size(ctx: ProgramContext, ask: HotspotParams) -> int:
    deployment, kind = ctx.deployment, ask.kind
    stored_m = deployment.cell_m(kind)
    size = stored_m if ask.cell_m is None else ask.cell_m
    try:
        deployment.grid.check_cell_size(size)
    except GridError:
        raise InvalidParameter(
            f"cell_m must be {stored_m} m times a power of two ({stored_m}, {2 * stored_m}, "
            f"{4 * stored_m}, ...), so cells roll up exactly"
        ) from None
    if size < stored_m:
        raise InvalidParameter(
            f"cell_m must be at least {stored_m} m, the size {kind.value} events are stored at"
        )
    return size


def hotspot_query(ctx: ProgramContext, ask: HotspotParams) -> tuple[HotspotQuery, Period | None]:
    """The analysis a caller may ask for, and the published period it reads (if any)."""
    check_costs(ctx, ask)
    if ask.datetime is not None and ask.period is not None:
        raise InvalidParameter("give either datetime or period, not both")
    if not ctx.full_view:
        if ask.period is None or ask.datetime is not None:
            raise InvalidParameter(ONLY_PERIODS_BELOW_MANAGER)
        # Only sizes a release can be summed into, up to one square over the whole area.
        levels_above_stored(ctx.deployment, ask.kind, ask.cell_m)
    size = _cell_size(ctx, ask)
    period = None
    start: int | None
    end: int | None
    if ask.period is not None:
        period = parse_period(ask.period, ctx.deployment)
        choice = ctx.store.publication(ctx.program_id)
        check_period(period, choice, now=ctx.now, full_view=ctx.full_view)
        start, end = period.start, period.end
    else:
        start, end = parse_datetime(ask.datetime) if ask.datetime else (None, None)
    options = ask.model_dump(
        exclude={"kind", "method", "datetime", "period", "cell_m", *CHANGE_OPTIONS}
    )
    query = HotspotQuery(ask.kind, ask.method, size, start, end, **options)
    return query, period


@router.get(
    "/hotspots",
    summary="Hot spots, clusters or a heat surface of one kind of event",
    response_class=GeoJSONAnswer,
    responses={200: {"model": HotspotCollection}, **problems(400)},
)
def get_hotspots(
    request: Request, ctx: ContextDep, ask: Annotated[HotspotParams, Query()]
) -> Response:
    """Managers and stewards: computed on all of the program's events of ``kind`` in the
    window, every cell with its statistics.

    Peers and planners ask for a published month, quarter, half-year or year, and every method
    runs on its frozen release alone (its stored-size cells at their released counts, or with
    ``cell_m`` those cells summed into larger squares): defaults chosen from the data are
    chosen from the release, and hidden reports leave no mark.
    """
    if ask.method in OWN_WINDOW:
        return change_over_time(request, ctx, ask)
    query, period = hotspot_query(ctx, ask)
    try:
        body, cached = timed_answer(ctx, query, period)
    except AnalysisOverdue as exc:
        return overdue_response(exc)
    if ctx.full_view:
        audit_small_cells(
            ctx.store,
            ctx.settings,
            ctx.principal,
            route="/v1/hotspots",
            counts=feature_counts(orjson.loads(body)),
            parameters=request.query_params,
        )
    # Only managers learn whether an answer was cached: for a peer it would tell when data land.
    headers = {"X-Analysis-Cache": "hit" if cached else "miss"} if ctx.full_view else None
    return Response(body, media_type=GEOJSON, headers=headers)


def scan_query(ctx: ProgramContext, ask: HotspotParams) -> ScanQuery:
    permutations = ask.permutations if "permutations" in ask.model_fields_set else None
    if permutations is not None and permutations > MAX_PERMUTATIONS:
        raise InvalidParameter(f"stscan takes at most {MAX_PERMUTATIONS} permutations")
    return ScanQuery(
        kind=ask.kind,
        last_day=ask.last_day or today(ctx),
        max_days=ask.max_days,
        max_radius_m=ask.max_radius_m,
        permutations=MAX_PERMUTATIONS if permutations is None else permutations,
        seed=ask.seed,
    )


def emerging_query(ask: HotspotParams) -> EmergingQuery:
    return EmergingQuery(
        kind=ask.kind,
        time_step=ask.time_step,
        steps=ask.steps,
        distance_m=ask.distance_m,
        time_step_interval=ask.time_step_interval,
        alpha=ask.alpha,
    )


def _spoken_labels(body: bytes, language: str) -> bytes:
    """Each feature's ``label`` in the request's language (answers are cached in English)."""
    if language == SOURCE_LANGUAGE:
        return body
    spoken = translations(language).gettext
    collection = orjson.loads(body)
    for feature in collection["features"]:
        properties = feature["properties"]
        properties["label"] = spoken(properties["label"])
    return orjson.dumps(collection)


def change_over_time(request: Request, ctx: ProgramContext, ask: HotspotParams) -> Response:
    """``method=emerging`` or ``method=stscan``, within the analysis deadline."""
    emerging = ask.method is Method.EMERGING
    if not emerging and not ctx.full_view:
        raise Forbidden(MANAGERS_ONLY)
    check_costs(ctx, ask)
    if emerging:
        query = emerging_query(ask)
        compute: Callable[[], tuple[bytes, bool]] = lambda: emerging_answer(ctx, query)  # noqa: E731
    else:
        scan = scan_query(ctx, ask)
        compute = lambda: scan_answer(ctx, scan)  # noqa: E731
    try:
        body, cached = answer_within(ctx.settings.analysis_seconds, compute)
    except AnalysisOverdue as exc:
        return overdue_response(exc)
    if ctx.full_view:
        audit_small_cells(
            ctx.store,
            ctx.settings,
            ctx.principal,
            route="/v1/hotspots",
            counts=feature_counts(orjson.loads(body), "count" if emerging else "observed"),
            parameters=request.query_params,
        )
    headers = {"X-Analysis-Cache": "hit" if cached else "miss"} if ctx.full_view else {}
    if emerging:
        body = _spoken_labels(body, language_of(request))
        headers["Vary"] = "Accept-Language, Cookie"
        headers["Content-Language"] = language_of(request)
    return Response(body, media_type=GEOJSON, headers=headers or None)
