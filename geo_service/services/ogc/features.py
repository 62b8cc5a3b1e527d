"""The features of an OGC API collection, from the same service calls /v1 answers with.

Released cells come from :func:`get_release` and :func:`release_features` (what
/v1/published returns, ids included); sites and the planning layers from the store as
/v1/sites, /v1/candidates and /v1/exclusions list them. Filters and pages only ever pick
among those features, so no parameter reaches a number the release does not show.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo_service.errors import NotFound, Unprocessable
from geo_service.geojson import Feature, site_feature, utc_text
from geo_service.ingest.layers import context_feature
from geo_service.services.coverage import CoverageQuestion, coverage_report
from geo_service.services.deadline import timed_answer
from geo_service.services.hotspots import HotspotQuery, Method
from geo_service.services.ogc.catalogue import GAP_MINUTES, Collection, LayerKind, Reader
from geo_service.services.ogc.recent import RECENT, BuiltLayer
from geo_service.services.releases import Release, View, get_release, release_features
from geo_service.services.small_cell_audit import audit_small_cells, feature_counts

NO_SUCH_FEATURE = "there is no feature with that id in this collection"
MAX_GAPS = 500  # the most gap cells /v1/coverage lists (its ``top``)
BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat (CRS84)


@dataclass(frozen=True)
class ItemsQuery:
    """A page of a collection: ``interval`` in UTC epoch seconds, its end exclusive."""

    limit: int = 100
    offset: int = 0
    bbox: BBox | None = None
    interval: tuple[int | None, int | None] | None = None


@dataclass(frozen=True)
class Page:
    features: list[Feature]
    matched: int  # features passing the filters, over every page


def _release(reader: Reader, collection: Collection) -> Release:
    assert collection.kind is not None and collection.period is not None
    services = reader.services
    return get_release(
        services.store,
        reader.deployment,
        services.settings,
        program_id=reader.program_id,
        kind=collection.kind,
        period=collection.period,
        now=reader.now,
        view=View(reader.audience),
    )


def layer_features(reader: Reader, collection: Collection) -> list[Feature]:
    """Every feature of the collection, in a stable order (the release's, for cells)."""
    store, program_id = reader.services.store, reader.program_id
    if collection.layer is LayerKind.CELLS:
        return release_features(_release(reader, collection), reader.deployment)
    if collection.layer is LayerKind.HOTSPOTS:
        return hotspot_features(reader, collection)
    if collection.layer is LayerKind.COVERAGE_GAPS:
        return gap_features(reader, collection)
    if collection.layer is LayerKind.SITES:
        return [site_feature(site) for site in store.list_sites(program_id)]
    layer = "candidate" if collection.layer is LayerKind.CANDIDATES else "exclusion"
    return [_as_feature(context_feature(f)) for f in store.list_context(program_id, layer)]


def _built_cells(reader: Reader, collection: Collection) -> BuiltLayer:
    """The released layer's features, by the very function /v1/published uses, built once
    for a client paging through it (see :mod:`recent`). A kept layer is found by the stored
    release's content hash alone; a missing one goes through :func:`get_release`."""
    assert collection.kind is not None and collection.period is not None
    deployment = reader.deployment
    caller = reader.ctx.principal.key_id if reader.ctx is not None else None
    key = (caller, reader.program_id, collection.id, reader.audience)
    stored = reader.services.store.release(
        reader.program_id, collection.kind.value, collection.period.label
    )
    kept = RECENT.peek((*key, stored.content_hash), deployment) if stored else None
    if kept is not None:
        return kept
    release = _release(reader, collection)
    return RECENT.get(
        (*key, release.content_hash),
        deployment,
        lambda: BuiltLayer.of(release_features(release, deployment), deployment),
    )


def page_of(reader: Reader, collection: Collection, query: ItemsQuery) -> Page:
    """A page of the collection, with how many features meet the filters."""
    if not in_time(collection, query.interval):
        return Page([], 0)
    if collection.layer is not LayerKind.CELLS:
        return select(layer_features(reader, collection), collection, query)
    built = _built_cells(reader, collection)
    features = built.features
    if query.bbox is not None and features:
        meets = shapely.intersects(built.shapes, shapely.box(*query.bbox))
        features = [f for f, kept in zip(features, meets, strict=True) if kept]
    return Page(features[query.offset : query.offset + query.limit], len(features))


def feature_of(reader: Reader, collection: Collection, feature_id: str) -> Feature:
    """One feature by the id its pages carry; 404 for any other."""
    if collection.layer is LayerKind.CELLS:
        return find_feature(_built_cells(reader, collection).features, feature_id)
    return find_feature(layer_features(reader, collection), feature_id)


def hotspot_features(reader: Reader, collection: Collection) -> list[Feature]:
    """Gi* hot spots of the period as /v1/hotspots answers them (default options); for
    peers and planners computed on the release alone, by the same cached service call."""
    ctx, kind, period = reader.ctx, collection.kind, collection.period
    assert ctx is not None and kind is not None and period is not None
    query = HotspotQuery(
        kind, Method.GI_STAR, ctx.deployment.cell_m(kind), period.start, period.end
    )
    body = orjson.loads(timed_answer(ctx, query, period)[0])
    if ctx.full_view:
        audit_small_cells(
            ctx.store,
            ctx.settings,
            ctx.principal,
            route="/ogc/collections/{collectionId}/items",
            counts=feature_counts(body),
            parameters={"collection": collection.id},
        )
    return [_as_feature(f) for f in body["features"]]


def gap_features(reader: Reader, collection: Collection) -> list[Feature]:
    """The coverage gaps /v1/coverage lists for the service, kind and period (released
    squares for peers and planners), ranked; a program with no such site has none."""
    ctx, kind, period = reader.ctx, collection.kind, collection.period
    assert ctx is not None and kind is not None and period is not None
    assert collection.service is not None
    question = CoverageQuestion(collection.service, [GAP_MINUTES], [kind], period.label, MAX_GAPS)
    try:
        answer = coverage_report(ctx, question).to_json()
    except Unprocessable as exc:  # no site offers the service: no gap is ranked either
        if exc.code != "no_site_offers_service":
            raise
        return []
    gaps = answer["results"][0]["uncovered"]
    if ctx.full_view:
        audit_small_cells(
            ctx.store,
            ctx.settings,
            ctx.principal,
            route="/ogc/collections/{collectionId}/items",
            counts=feature_counts(gaps, "events"),
            parameters={"collection": collection.id},
        )
    # The rank is the id: the gaps of a frozen release and the same sites rank the same.
    return [_as_feature({**f, "id": f["properties"]["rank"]}) for f in gaps["features"]]


def _as_feature(raw: dict[str, Any]) -> Feature:
    return {
        "type": "Feature",
        "id": raw["id"],
        "geometry": raw["geometry"],
        "properties": raw["properties"],
    }


def _positions(coordinates: Any) -> Iterator[Sequence[float]]:
    if coordinates and isinstance(coordinates[0], int | float):
        yield coordinates
        return
    for part in coordinates:
        yield from _positions(part)


def feature_bounds(feature: Feature) -> BBox:
    """The feature's bounding box in lon/lat."""
    positions = list(_positions(feature["geometry"]["coordinates"]))
    lons = [p[0] for p in positions]
    lats = [p[1] for p in positions]
    return min(lons), min(lats), max(lons), max(lats)


def _meets(feature: Feature, bbox: BBox, box: BaseGeometry) -> bool:
    """Whether the feature's geometry meets the box: bounds first, then the shape itself
    (a grid cell in lon/lat is a slightly turned square, so its bounds say too much)."""
    bounds = feature_bounds(feature)
    if bounds[2] < bbox[0] or bounds[0] > bbox[2] or bounds[3] < bbox[1] or bounds[1] > bbox[3]:
        return False
    return bool(shape(feature["geometry"]).intersects(box))


def in_time(collection: Collection, interval: tuple[int | None, int | None] | None) -> bool:
    """Whether a period's features meet the interval; layers without time always do."""
    if interval is None or collection.period is None:
        return True
    start, end = interval
    period = collection.period
    return (start is None or start < period.end) and (end is None or end > period.start)


def select(features: list[Feature], collection: Collection, query: ItemsQuery) -> Page:
    """The page of features meeting ``bbox`` and ``datetime``, and how many met them."""
    if not in_time(collection, query.interval):
        return Page([], 0)
    bbox = query.bbox
    if bbox is None:
        kept = features
    else:
        box = shapely.box(*bbox)
        kept = [f for f in features if _meets(f, bbox, box)]
    return Page(kept[query.offset : query.offset + query.limit], len(kept))


def find_feature(features: list[Feature], feature_id: str) -> Feature:
    """One feature by the id its lists carry (as text, since a path holds text)."""
    for feature in features:
        if str(feature.get("id")) == feature_id:
            return feature
    raise NotFound(NO_SUCH_FEATURE)


def spatial_extent(reader: Reader) -> BBox:
    """The program's service area's bounds: the same for every layer, and no data's."""
    xmin, ymin, xmax, ymax = reader.deployment.service_area.bounds
    return (round(xmin, 6), round(ymin, 6), round(xmax, 6), round(ymax, 6))


def temporal_extent(collection: Collection) -> list[str | None]:
    """The period as an RFC 3339 interval (UTC); open at both ends for layers without time."""
    period = collection.period
    if period is None:
        return [None, None]
    return [utc_text(period.start), utc_text(period.end)]
