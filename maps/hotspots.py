"""The hot-spot map: Gi* classes, ranked clusters, an optional heat layer, service sites.

Takes records of what the service has already cut to the viewer's role; draws cells and
polygons only (never one marker per event), so a page's size follows the cells, not the
events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import folium

from maps.base import (
    Legend,
    Tiles,
    add_header,
    add_outline,
    add_sites,
    base_map,
    fit_to_data,
    render,
)
from maps.language import _
from maps.records import (
    BasisNote,
    Cluster,
    Geometry,
    GiCell,
    HeatCell,
    MapCollection,
    Site,
    feature_collection,
)
from maps.rolled_up import LEGEND_ITEM, ROLLED_UP_STYLE, HatchPattern
from maps.words import GI_LEGEND_DETAILS, ROLLED_UP, gi_details, gi_words

# ColorBrewer RdBu: diverging and colour-blind safe; hot is red, cold is blue.
GI_COLOUR = {
    3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", 0: "#f7f7f7",
    -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac",
}  # fmt: skip


def gi_style() -> dict[int, tuple[str, str]]:
    """Each Gi* class's colour and words, in the language being spoken."""
    return {v: (c, gi_words(v)) for v, c in GI_COLOUR.items()}


# ColorBrewer YlOrRd, 10 steps for heat levels 1..10.
HEAT = [
    "#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c",
    "#fc4e2a", "#e31a1c", "#bd0026", "#a50026", "#800026",
]  # fmt: skip


@dataclass(frozen=True)
class HotspotPage:
    title: str
    bounds: tuple[float, float, float, float]
    area: Geometry
    cells: Sequence[GiCell]
    clusters: Sequence[Cluster]
    heat: Sequence[HeatCell] = ()
    sites: Sequence[Site] = field(default_factory=list)
    header_html: str = ""
    note: str = ""
    details: bool = False  # managers: the statistician's terms in a details line
    basis: BasisNote | None = None  # what share of the reports it rests on


def _cell_style(feature: dict[str, Any]) -> dict[str, Any]:
    level = feature["properties"].get("gi_class")
    if level is None:  # a rolled-up square: an outline and hatching, not a hot-looking fill
        return dict(ROLLED_UP_STYLE)
    return {
        "fillColor": GI_COLOUR[int(level)],
        "color": "#555555",
        "weight": 0.5,
        "fillOpacity": 0.8,
    }


def _coarse_first(cells: Sequence[GiCell], details: bool) -> MapCollection:
    # Larger (rolled-up) squares underneath, the stored-size squares drawn over them.
    ordered = sorted(cells, key=lambda c: -(c.cell_m or 0))
    return feature_collection([(c.geometry, _gi_properties(c, details)) for c in ordered])


def _gi_properties(cell: GiCell, details: bool) -> dict[str, object]:
    properties: dict[str, object] = {
        "count": cell.count,
        "gi_class": cell.gi_class,
        "what": _(ROLLED_UP) if cell.gi_class is None else gi_words(cell.gi_class),
    }
    if details:
        properties["details"] = (
            _("rolled up") if cell.gi_class is None else gi_details(cell.gi_class)
        )
    if cell.cell_m is not None:
        properties["cell_m"] = cell.cell_m
    return properties


def _heat_style(feature: dict[str, Any]) -> dict[str, Any]:
    level = max(1, min(10, int(feature["properties"]["level"])))
    return {"fillColor": HEAT[level - 1], "weight": 0, "fillOpacity": 0.6}


def _cluster_style(_: dict[str, Any]) -> dict[str, Any]:
    return {"color": "#000000", "weight": 2, "dashArray": "6 4", "fill": False}


def hotspot_map(page: HotspotPage, *, tiles: Tiles) -> str:
    fmap = base_map(page.bounds, tiles=tiles)
    add_outline(fmap, page.area)
    if page.heat:
        folium.GeoJson(
            feature_collection([(h.geometry, {"level": h.level}) for h in page.heat]),
            name=_("Heat (where reports gather)"),
            style_function=_heat_style,
            show=False,
        ).add_to(fmap)
    if page.cells:
        fmap.add_child(HatchPattern())
        squares = folium.GeoJson(
            _coarse_first(page.cells, page.details),
            name=_("Busier and quieter places"),
            style_function=_cell_style,
            tooltip=folium.GeoJsonTooltip(
                fields=["count", "what", *(["details"] if page.details else [])],
                aliases=[
                    _("Reports"),
                    _("What it means"),
                    *([_("Details")] if page.details else []),
                ],
            ),
        ).add_to(fmap)
        fit_to_data(fmap, [squares])
    if page.clusters:
        folium.GeoJson(
            feature_collection(
                [(c.geometry, {"rank": c.rank, "count": c.count}) for c in page.clusters]
            ),
            name=_("Clusters, ranked"),
            style_function=_cluster_style,
            tooltip=folium.GeoJsonTooltip(
                fields=["rank", "count"], aliases=[_("Cluster number"), _("Reports")]
            ),
        ).add_to(fmap)
    add_sites(fmap, page.sites)
    folium.LayerControl(collapsed=True).add_to(fmap)
    items = [gi_style()[v] for v in (3, 2, 1, 0, -1, -2, -3)]
    items.append((LEGEND_ITEM[0], _(LEGEND_ITEM[1])))
    details = _(GI_LEGEND_DETAILS) if page.details else ""
    fmap.add_child(Legend(_("What the colours mean"), items, page.note, details, page.basis))
    add_header(fmap, page.header_html)
    return render(fmap)
