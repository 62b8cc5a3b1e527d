"""``/v1/hotspots``: Gi* hot spots, density clusters and heat surfaces, cut to the role."""

from __future__ import annotations

import math
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from analysis.grid import GridError
from geo_service.auth import Role
from geo_service.context import DeploymentDep, HotspotCacheDep, PrincipalDep, SettingsDep, StoreDep
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter, problem_response
from geo_service.geojson import GEOJSON
from geo_service.periods import parse_datetime, parse_period
from geo_service.services.deadline import AnalysisOverdue, timed_answer
from geo_service.services.hotspots import FULL_VIEW, HotspotQuery, Method
from geo_service.services.releases import check_period
from geo_service.services.small_cell_audit import audit_small_cells, feature_counts
from geo_service.settings import EventKind

router = APIRouter(prefix="/v1", tags=["hotspots"])

METHOD_OPTIONS = {
    Method.GI_STAR: frozenset({"distance_m", "permutations", "seed", "fdr"}),
    Method.DBSCAN: frozenset({"eps_m", "min_events"}),
    Method.HDBSCAN: frozenset({"min_cluster_size", "min_samples"}),
    Method.DENSITY: frozenset({"bandwidth_m"}),
}
# What one peer or planner request may cost: permutations, and a band of at most this share
# of the service area's width (a wider band makes the whole town one neighbourhood anyway).
MAX_PERMUTATIONS_BELOW_MANAGER = 999
MAX_BAND_SHARE_OF_WIDTH = 0.25


def overdue_response(exc: AnalysisOverdue) -> Response:
    response = problem_response(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
    response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


def check_costs(
    role: Role, deployment: Deployment, *, distance_m: float | None, permutations: int
) -> None:
    """Bound what one request below manager level may make the server compute."""
    if role in FULL_VIEW:
        return
    if permutations > MAX_PERMUTATIONS_BELOW_MANAGER:
        raise InvalidParameter(
            f"peers and planners may ask for at most {MAX_PERMUTATIONS_BELOW_MANAGER} permutations"
        )
    xmin, _, xmax, _ = deployment.service_area_m.bounds
    widest = math.floor((xmax - xmin) * MAX_BAND_SHARE_OF_WIDTH)
    if distance_m is not None and distance_m > widest:
        raise InvalidParameter(
            f"distance_m may be at most {widest} m here, a quarter of the service area's width"
        )


def check_options(given: set[str], method: Method) -> None:
    """Refuse options of another method instead of ignoring them (unknown names are refused
    app-wide by ``geo_service.params``)."""
    for other, names in METHOD_OPTIONS.items():
        stray = sorted((given & names) - METHOD_OPTIONS[method])
        if stray:
            raise InvalidParameter(
                f"{', '.join(stray)} applies only to method={other.value}, not {method.value}"
            )


@router.get(
    "/hotspots",
    summary="Hot spots, clusters or a heat surface of one kind of event",
    responses={200: {"content": {GEOJSON: {}}}},
)
def get_hotspots(
    request: Request,
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    cache: HotspotCacheDep,
    kind: EventKind,
    method: Method = Method.GI_STAR,
    datetime: Annotated[
        str | None,
        Query(description="managers, stewards: RFC 3339 instant or interval a/b, '..' open"),
    ] = None,
    period: Annotated[
        str | None,
        Query(
            description="a finished month (2025-05) or quarter (2025-Q2); required for "
            "peers and planners"
        ),
    ] = None,
    cell_m: Annotated[
        int | None,
        Query(ge=1, description="cell size: the kind's stored size × 2^k (default: stored size)"),
    ] = None,
    distance_m: Annotated[
        float | None,
        Query(gt=0, le=50_000, description="gi_star: distance band (default: from the data)"),
    ] = None,
    permutations: Annotated[
        int, Query(ge=0, le=9999, description="gi_star: 0 for analytic p-values, e.g. 999")
    ] = 0,
    seed: Annotated[int, Query(ge=0, le=2**32 - 1, description="gi_star: permutation seed")] = 0,
    fdr: Annotated[bool, Query(description="gi_star: Benjamini–Hochberg correction")] = True,
    eps_m: Annotated[
        float | None, Query(gt=0, le=50_000, description="dbscan: radius (default 2 cells)")
    ] = None,
    min_events: Annotated[
        int | None, Query(ge=1, le=10**9, description="dbscan: events for a core (default 10)")
    ] = None,
    min_cluster_size: Annotated[
        int | None, Query(ge=2, le=10**9, description="hdbscan: events (default 15)")
    ] = None,
    min_samples: Annotated[
        int | None, Query(ge=1, le=10**9, description="hdbscan: events (default: size)")
    ] = None,
    bandwidth_m: Annotated[
        float | None,
        Query(gt=0, le=50_000, description="density: kernel sd (default 2 cells)"),
    ] = None,
) -> Response:
    """Managers and stewards: computed on all of the program's events of ``kind`` in the
    window, every cell with its statistics.

    Peers and planners ask for a published month or quarter, and every method runs on its
    frozen release alone (its stored-size cells at their released counts): defaults chosen
    from the data are chosen from the release, and hidden reports leave no mark.
    """
    check_options(set(request.query_params.keys()), method)
    check_costs(principal.role, deployment, distance_m=distance_m, permutations=permutations)
    full_view = principal.role in FULL_VIEW
    if datetime is not None and period is not None:
        raise InvalidParameter("give either datetime or period, not both")
    if not full_view:
        if period is None or datetime is not None:
            raise InvalidParameter(
                "peers and planners see finished months or quarters: ask with period=2025-05 "
                "or period=2025-Q2 instead of datetime"
            )
        if cell_m is not None:
            raise InvalidParameter(
                "peers and planners see the released cells; cell_m is for managers"
            )
    stored_m = deployment.cell_m(kind)
    size = stored_m if cell_m is None else cell_m
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
    chosen_period = None
    start: int | None
    end: int | None
    if period is not None:
        chosen_period = parse_period(period, deployment)
        check_period(
            chosen_period, store.publication(principal.program_id), now=time.time(),
            full_view=full_view,
        )  # fmt: skip
        start, end = chosen_period.start, chosen_period.end
    else:
        start, end = parse_datetime(datetime) if datetime else (None, None)
    query = HotspotQuery(
        kind=kind,
        method=method,
        cell_m=size,
        start=start,
        end=end,
        distance_m=distance_m,
        permutations=permutations,
        seed=seed,
        fdr=fdr,
        eps_m=eps_m,
        min_events=min_events,
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        bandwidth_m=bandwidth_m,
    )
    try:
        body, cached = timed_answer(
            cache, store, deployment, settings, principal, query, chosen_period
        )
    except AnalysisOverdue as exc:
        return overdue_response(exc)
    if full_view:
        audit_small_cells(
            store,
            settings,
            principal,
            route="/v1/hotspots",
            counts=feature_counts(orjson.loads(body)),
            parameters=request.query_params,
        )
    # Only managers learn whether an answer was cached: for a peer it would tell when data land.
    headers = {"X-Analysis-Cache": "hit" if cached else "miss"} if full_view else None
    return Response(body, media_type=GEOJSON, headers=headers)
