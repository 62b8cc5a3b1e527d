"""The trends map: one layer per month, stepped through with a slider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import folium
from branca.element import Element

from maps.base import (
    Legend,
    Tiles,
    add_header,
    add_outline,
    add_sites,
    base_map,
    fit_to_data,
    page_of,
    render,
)
from maps.records import BasisNote, Geometry, Month, Site, feature_collection
from maps.words import period_words

# ColorBrewer Purples: sequential, for how many reports a shown cell holds. Each label says
# exactly the counts its colour is given (a manager's 1-report square is "1 to 4").
BINS = [
    (1, "#efedf5", "1 to 4 reports"),
    (5, "#dadaeb", "5 to 9 reports"),
    (10, "#9e9ac8", "10 to 24 reports"),
    (25, "#6a51a3", "25 or more reports"),
]


@dataclass(frozen=True)
class TrendPage:
    title: str
    bounds: tuple[float, float, float, float]
    area: Geometry
    months: Sequence[Month]  # in order; each with the cells the viewer may see
    sites: Sequence[Site] = field(default_factory=list)
    header_html: str = ""
    note: str = ""
    basis: BasisNote | None = None  # what share of the reports it rests on


def _style(feature: dict[str, Any]) -> dict[str, Any]:
    count = int(feature["properties"]["count"])
    colour = BINS[0][1]
    for floor, fill, _ in BINS:
        if count >= floor:
            colour = fill
    return {"fillColor": colour, "color": "#555555", "weight": 0.5, "fillOpacity": 0.8}


def trend_map(page: TrendPage, *, tiles: Tiles) -> str:
    fmap = base_map(page.bounds, tiles=tiles)
    add_outline(fmap, page.area)
    drawn: list[Element] = []
    for i, month in enumerate(page.months):
        label = period_words(month.label)
        group = folium.FeatureGroup(name=label, overlay=False, show=i == len(page.months) - 1)
        if month.cells:  # a quiet month stays on the slider, drawn empty
            cells = [(c.geometry, {"count": c.count}) for c in month.cells]
            layer = folium.GeoJson(
                feature_collection(cells, decimals=None),
                style_function=_style,
                tooltip=folium.GeoJsonTooltip(fields=["count"], aliases=[f"Reports in {label}"]),
            ).add_to(group)
            drawn.append(layer)
        group.add_to(fmap)
    fit_to_data(fmap, drawn)
    add_sites(fmap, page.sites, show=False)
    folium.LayerControl(collapsed=True).add_to(fmap)  # the slider is the main control
    count = len(page.months)
    slider = (
        '<div class="trend-controls">'
        f'<label for="month">Month</label> <input id="month" class="trend-slider" type="range" '
        f'min="0" max="{count - 1}" value="{count - 1}" step="1"></div>'
        '<script src="/static/trends.js" defer></script>'
    )
    page_of(fmap).html.add_child(Element(slider))
    items = [(colour, label) for _, colour, label in BINS]
    fmap.add_child(Legend("Reports per square", items, page.note, basis=page.basis))
    add_header(fmap, page.header_html)
    return render(fmap)
