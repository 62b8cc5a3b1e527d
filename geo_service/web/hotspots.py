"""The hot-spot map (``/maps/hotspots``) and its downloads (``.geojson``, ``.csv``): the same
answers as ``/v1/hotspots``, for the viewer's role. Its window is a ``period``, or for
managers and stewards a ``datetime`` instant or interval parsed as ``/v1/hotspots`` does."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, cast
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request
from shapely.geometry import mapping
from starlette.responses import Response

from geo_service.errors import Forbidden, InvalidParameter
from geo_service.geojson import Feature, FeatureCollection
from geo_service.i18n import language_of
from geo_service.periods import (
    ONLY_PERIODS_BELOW_MANAGER,
    Bucket,
    latest_published,
    parse_datetime,
    parse_period,
)
from geo_service.services.basis import Basis
from geo_service.services.deadline import timed_answer
from geo_service.services.hotspots import HotspotQuery, Method
from geo_service.services.program import ProgramContext
from geo_service.services.publication import AUDIENCE_OF_ROLE
from geo_service.services.releases import check_period, grace_days, release_rule
from geo_service.services.small_cell_audit import audit_small_cells, feature_counts
from geo_service.settings import EventKind
from geo_service.web.pages import (
    HeaderForm,
    Link,
    Select,
    bounds,
    header,
    kind_words,
    map_tiles,
    serve_map,
    sites_for_map,
)
from geo_service.web.period_choices import period_choice
from geo_service.web.session import FormTokenDep, ViewerContext
from geo_service.web.stored_pages import stored_or_built, stored_page_key
from maps.band_chart import BandCurve, band_chart
from maps.hotspots import HotspotPage, hotspot_map
from maps.language import N_, SOURCE_LANGUAGE, _, speaking
from maps.records import BasisNote, Cluster, GiCell, HeatCell
from maps.words import MONTH_LEAVES_OUT, period_words, window_words

router = APIRouter(include_in_schema=False)
PeriodText = Annotated[str | None, Query(max_length=10)]
BandText = Annotated[str | None, Query(max_length=12)]
AUTOMATIC = "auto"
CURVE = "moran_z_by_distance"
DatetimeText = Annotated[str | None, Query(max_length=80)]


def _chosen_period(ctx: ProgramContext, period: str | None) -> str:
    """The asked period, else the latest quarter published for this program."""
    return period or latest_published(
        Bucket.QUARTER,
        now=ctx.now,
        grace_days=grace_days(ctx.store.publication(ctx.program_id)),
        tz=ctx.deployment.tz,
    )


@dataclass(frozen=True)
class MapWindow:
    """What a map shows: a period, or (managers) a ``datetime`` window, and its words."""

    period: str | None
    datetime: str | None
    words: str

    @property
    def query(self) -> str:
        if self.period is not None:
            return f"period={quote(self.period)}"
        return f"datetime={quote(self.datetime or '', safe='')}"


def map_window(ctx: ProgramContext, period: str | None, datetime: str | None) -> MapWindow:
    """The window asked for, refused as ``/v1/hotspots`` refuses it (an empty ``period``,
    as the selector's first option sends, means the default)."""
    if datetime is None:
        chosen = _chosen_period(ctx, period)
        return MapWindow(chosen, None, period_words(chosen))
    if period:
        raise InvalidParameter("give either datetime or period, not both")
    if not ctx.full_view:
        raise InvalidParameter(ONLY_PERIODS_BELOW_MANAGER)
    start, end = parse_datetime(datetime)
    tz = ctx.deployment.tz
    first = None if start is None else dt.datetime.fromtimestamp(start, tz).date()
    last = None if end is None else dt.datetime.fromtimestamp(end - 1, tz).date()
    return MapWindow(None, datetime, window_words(first, last))


def _answer(
    ctx: ProgramContext,
    kind: EventKind,
    method: Method,
    window: MapWindow,
    distance_m: float | None = None,
) -> FeatureCollection:
    """What ``/v1/hotspots`` answers this viewer, as a parsed FeatureCollection (the
    published bytes, which for peers are cut from a frozen release)."""
    store, deployment = ctx.store, ctx.deployment
    period = None
    start: int | None
    end: int | None
    if window.period is not None:
        period = parse_period(window.period, deployment)
        publication = store.publication(ctx.program_id)
        check_period(period, publication, now=ctx.now, full_view=ctx.full_view)
        start, end = period.start, period.end
    else:
        start, end = parse_datetime(window.datetime or "..")
    query = HotspotQuery(
        kind=kind,
        method=method,
        cell_m=deployment.cell_m(kind),
        start=start,
        end=end,
        distance_m=distance_m,
    )
    # The answer is the API's, cached for every viewer: built in English whatever the page
    # speaks (the page tells its own words from its numbers).
    with speaking(SOURCE_LANGUAGE):
        body, _replayed = timed_answer(ctx, query, period)
    return cast(FeatureCollection, orjson.loads(body))


def _spoken_basis(basis: Mapping[str, object], window: str) -> BasisNote:
    """The answer's basis in the page's language: the answer's numbers, the page's window."""
    used, released, in_window = (
        basis["reports_used"],
        basis["reports_released"],
        basis["reports_in_window"],
    )
    of = released if released is not None else in_window
    assert isinstance(used, int) and isinstance(of, int | None)
    busiest_only = MONTH_LEAVES_OUT in str(basis["words"])  # the answer's words are English
    return Basis(used, of or 0, released is not None, window, busiest_only).note()


def _note(ctx: ProgramContext, peers_view: bool) -> str:
    head = _("Squares show where reports were made (to about a block).") + " "
    if not peers_view:
        return head + _("You see every square (manager view).")
    rule = release_rule(ctx.settings, ctx.store.publication(ctx.program_id), 0)
    return head + _(
        "A square is shown only when it has at least {k} reports besides those of "
        "the person who reported most there; quieter places look empty."
    ).format(k=rule.k)


def _int(feature: Feature, name: str) -> int:
    value = feature["properties"][name]
    assert isinstance(value, int)
    return value


def _gi_cell(feature: Feature) -> GiCell:
    properties = feature["properties"]
    gi_class, cell_m = properties["gi_class"], properties.get("cell_m")
    assert (gi_class is None or isinstance(gi_class, int)) and (
        cell_m is None or isinstance(cell_m, int)
    )
    confidence = str(properties["confidence"])
    return GiCell(feature["geometry"], _int(feature, "count"), gi_class, confidence, cell_m)


def _band_choice(
    ctx: ProgramContext, kind: EventKind, window: MapWindow, band: str | None
) -> tuple[FeatureCollection, list[Select], str]:
    """The Gi* answer at the asked band, with the band control and chart for managers.

    The control offers "automatic" and each band the automatic rule tried, spelt from the
    server's own curve; an asked band must be one of them (never a value echoed back)."""
    cells = _answer(ctx, kind, Method.GI_STAR, window)
    if not ctx.full_view:
        if band is not None:
            raise Forbidden("choosing the band is for managers and stewards")
        return cells, [], ""
    parameters = cast(dict[str, Any], cells["summary"])["parameters"]
    curve = [(float(p["distance_m"]), float(p["z"])) for p in parameters.get(CURVE, [])]
    automatic = float(parameters.get("automatic_distance_m", 0.0))
    options = [(AUTOMATIC, _("automatic ({distance} m)").format(distance=f"{automatic:g}"))] + [
        (f"{d:g}", f"{d:g} m") for d, _ in curve
    ]
    if not curve:  # nothing to analyse in this window: no bands were tried
        options = [(AUTOMATIC, _("automatic"))]
    picked = band or AUTOMATIC
    if picked not in {value for value, _ in options}:
        raise InvalidParameter(
            "distance_m must be 'auto' or one of the bands the band control lists"
        )
    in_use = automatic
    if picked != AUTOMATIC:
        in_use = float(picked)
        cells = _answer(ctx, kind, Method.GI_STAR, window, in_use)
    chart = band_chart(BandCurve(curve, in_use, automatic)) if curve else ""
    return cells, [Select("distance_m", N_("Band"), options, picked)], chart


def _hotspot_page(
    ctx: ProgramContext, kind: EventKind, window: MapWindow, band: str | None = None
) -> HotspotPage:
    cells, band_select, chart = _band_choice(ctx, kind, window, band)
    clusters = _answer(ctx, kind, Method.DBSCAN, window)
    heat = _answer(ctx, kind, Method.DENSITY, window)
    title = _("Hot spots of {kind}, {window}").format(kind=kind_words(kind), window=window.words)
    # Listed after the answers, so the period just released is among them; a datetime
    # window leads the list in words (choosing it again keeps the default period).
    lead = None if window.period is not None else ("", window.words)
    form = HeaderForm(
        "/maps/hotspots",
        [period_choice(ctx, kind, window.period or "", lead=lead), *band_select],
        hidden=[("kind", kind.value)],
    )
    query = f"kind={kind.value}&{window.query}"
    links = [
        Link(f"/maps/hotspots.geojson?{query}", "GeoJSON", download=True),
        Link(f"/maps/hotspots.csv?{query}", "CSV", download=True),
    ]
    strong_heat = [
        HeatCell(f["geometry"], level) for f in heat["features"] if (level := _int(f, "level")) >= 2
    ]
    return HotspotPage(
        title=title,
        bounds=bounds(ctx.deployment),
        area=mapping(ctx.deployment.service_area),
        cells=[_gi_cell(f) for f in cells["features"]],
        clusters=[
            Cluster(f["geometry"], _int(f, "rank"), _int(f, "count")) for f in clusters["features"]
        ],
        heat=strong_heat,
        sites=sites_for_map(ctx),
        header_html=header(title, form, links, ctx.role, chart),
        note=_note(ctx, AUDIENCE_OF_ROLE.get(ctx.role) is not None),
        details=ctx.full_view,
        basis=_spoken_basis(cast(Mapping[str, object], cells["summary"]["basis"]), window.words),
    )


@router.get("/maps/hotspots")
async def hotspots_page(
    request: Request,
    ctx: ViewerContext,
    token: FormTokenDep,
    kind: EventKind = EventKind.NEEDLE_REPORT,
    period: PeriodText = None,
    distance_m: BandText = None,
    datetime: DatetimeText = None,
) -> Response:
    audience = AUDIENCE_OF_ROLE.get(ctx.role)
    cache = ctx.services.hotspots
    store = ctx.store
    version = store.data_version(ctx.program_id)
    base = map_tiles(ctx)  # its streets' tag is in the key: a new network, a new page
    asked = (period, datetime, distance_m)
    language = language_of(request)
    # Its words are in the request's language: the language is in the key.
    page_key = (
        "map:hotspots", ctx.program_id, version, kind, asked, audience, ctx.role.value,
        base.streets, language,
    )  # fmt: skip

    def build() -> str:
        window = map_window(ctx, period, datetime)

        def rendered() -> str:
            return hotspot_map(_hotspot_page(ctx, kind, window, distance_m), tiles=base)

        if audience is not None and window.period is not None:
            # Peers' pages are made of frozen releases: stored by them, for every worker and
            # host. A cache keyed on the data version would time when data arrive.
            page = ("map:hotspots", asked, audience, language)
            released = window.period
            return stored_or_built(
                ctx, lambda: stored_page_key(ctx, kind, released, page, base), rendered
            )
        cached = cache.cached_body(page_key) if audience is None else None
        if cached is not None:
            return cached.decode()
        built = rendered()
        if audience is None:
            cache.keep_body(page_key, built.encode())
        return built

    return await serve_map(request, build, ctx.settings, token)


def _csv(answer: FeatureCollection) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    fields = sorted({k for f in answer["features"] for k in f["properties"]})
    writer.writerow(["cell", *fields])
    for f in answer["features"]:
        writer.writerow([f["id"], *(f["properties"].get(k, "") for k in fields)])
    return out.getvalue()


@router.get("/maps/hotspots.{fmt}")
def hotspots_download(
    fmt: str,
    ctx: ViewerContext,
    kind: EventKind = EventKind.NEEDLE_REPORT,
    period: PeriodText = None,
    datetime: DatetimeText = None,
) -> Response:
    if fmt not in ("geojson", "csv"):
        raise InvalidParameter("downloads are .geojson or .csv")
    window = map_window(ctx, period, datetime)
    chosen = window.period or "window"
    answer = _answer(ctx, kind, Method.GI_STAR, window)
    audit_small_cells(
        ctx.store,
        ctx.settings,
        ctx.principal,
        route="/maps/hotspots." + fmt,
        counts=feature_counts(answer),
        parameters={"kind": kind}
        | ({"period": window.period} if window.period else {"datetime": window.datetime}),
    )
    name = f"hotspots-{kind.value}-{chosen}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "geojson":
        return Response(orjson.dumps(answer), media_type="application/geo+json", headers=headers)
    return Response(_csv(answer), media_type="text/csv", headers=headers)
