"""OGC API – Features (issue 20): the collections a reader may open and their features,
through the same role and release rules as /v1. The routes are in ``geo_service.api.ogc``."""

from geo_service.services.ogc.catalogue import (
    Collection,
    LayerKind,
    Reader,
    catalogue,
    find_collection,
)
from geo_service.services.ogc.features import (
    BBox,
    ItemsQuery,
    Page,
    feature_of,
    find_feature,
    layer_features,
    page_of,
    select,
    spatial_extent,
    temporal_extent,
)

__all__ = [
    "BBox",
    "Collection",
    "ItemsQuery",
    "LayerKind",
    "Page",
    "Reader",
    "catalogue",
    "feature_of",
    "find_collection",
    "find_feature",
    "layer_features",
    "page_of",
    "select",
    "spatial_extent",
    "temporal_extent",
]
