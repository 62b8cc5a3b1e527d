"""The trends map: one layer per month, stepped through with a slider labelled with the
month's name and its total ("March 2026 — 41 reports"), with previous/next buttons."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import folium
from branca.element import Element, MacroElement
from jinja2 import Template

from maps.base import (
    Legend,
    Tiles,
    add_header,
    add_outline,
    add_sites,
    base_map,
    fit_to_data,
    json_for_html,
    render,
)
from maps.language import N_, _
from maps.records import BasisNote, Geometry, Month, Site, feature_collection
from maps.rolled_up import LEGEND_ITEM, ROLLED_UP_STYLE, HatchPattern
from maps.words import month_total_words, period_words

# ColorBrewer Purples: sequential, for how many reports a shown cell holds. Each label says
# exactly the counts its colour is given (a manager's 1-report square is "1 to 4").
BINS = [
    (1, "#efedf5", N_("1 to 4 reports")),
    (5, "#dadaeb", N_("5 to 9 reports")),
    (10, "#9e9ac8", N_("10 to 24 reports")),
    (25, "#6a51a3", N_("25 or more reports")),
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
    if feature["properties"].get("rolled_up"):
        return dict(ROLLED_UP_STYLE)
    count = int(feature["properties"]["count"])
    colour = BINS[0][1]
    for floor, fill, _label in BINS:
        if count >= floor:
            colour = fill
    return {"fillColor": colour, "color": "#555555", "weight": 0.5, "fillOpacity": 0.8}


def month_words(month: Month) -> str:
    """The slider's label for a month: its name and the reports the viewer may see in it."""
    return month_total_words(month.label, sum(c.count for c in month.cells))


class MonthSlider(MacroElement):
    """The month slider with previous/next buttons and its label; ``/static/trends.js`` shows
    the chosen month's layer. The label is served for the latest month, so it reads without
    script; the other months' labels are JSON data, never script."""

    _template = Template(
        """
{% macro html(this, kwargs) %}
<div class="trend-controls" role="group" aria-label="{{ this.words.month }}">
  <output id="month-label" for="month" aria-live="polite">{{ this.last_words }}</output>
  <div class="trend-row">
    <button type="button" id="month-previous" class="trend-step"
      aria-label="{{ this.words.previous }}">&#8249;</button>
    <input id="month" class="trend-slider" type="range"
      min="0" max="{{ this.last }}" value="{{ this.last }}" step="1"
      aria-label="{{ this.words.month }}" aria-valuetext="{{ this.last_words }}">
    <button type="button" id="month-next" class="trend-step"
      aria-label="{{ this.words.next }}">&#8250;</button>
  </div>
</div>
<script type="application/json" id="trend-months">{{ this.data() }}</script>
<script src="/static/trends.js" defer></script>
{% endmacro %}
"""
    )

    def __init__(self, fmap: folium.Map, steps: Sequence[tuple[Element, str]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MonthSlider"
        self.fmap = fmap
        self.steps = list(steps)
        self.last = len(steps) - 1
        self.last_words = html.escape(steps[-1][1])
        self.words = {
            "month": html.escape(_("Month")),
            "previous": html.escape(_("Previous month")),
            "next": html.escape(_("Next month")),
        }

    def data(self) -> str:
        return json_for_html(
            {
                "map": self.fmap.get_name(),
                "months": [{"layer": g.get_name(), "words": w} for g, w in self.steps],
            }
        )


def _month_layer(fmap: folium.Map, month: Month, shown: bool) -> tuple[folium.FeatureGroup, Any]:
    """A month's group (out of the layer list: the slider picks months) and its squares."""
    label = period_words(month.label)
    group = folium.FeatureGroup(name=label, show=shown, control=False)
    layer = None
    if month.cells:  # a quiet month stays on the slider, drawn empty
        # Rolled-up squares first, so the small squares are drawn over them.
        ordered = sorted(month.cells, key=lambda c: not c.rolled_up)
        cells = [
            (
                c.geometry,
                {"count": c.count, "rolled_up": True} if c.rolled_up else {"count": c.count},
            )
            for c in ordered
        ]
        layer = folium.GeoJson(
            feature_collection(cells, decimals=None),
            style_function=_style,
            tooltip=folium.GeoJsonTooltip(
                fields=["count"], aliases=[_("Reports in {month}").format(month=label)]
            ),
        ).add_to(group)
    group.add_to(fmap)
    return group, layer


def trend_map(page: TrendPage, *, tiles: Tiles) -> str:
    fmap = base_map(page.bounds, tiles=tiles)
    add_outline(fmap, page.area)
    rolled_up = any(c.rolled_up for m in page.months for c in m.cells)
    if rolled_up:
        fmap.add_child(HatchPattern())
    drawn: list[Element] = []
    steps: list[tuple[Element, str]] = []
    for i, month in enumerate(page.months):
        group, layer = _month_layer(fmap, month, shown=i == len(page.months) - 1)
        if layer is not None:
            drawn.append(layer)
        steps.append((group, month_words(month)))
    fit_to_data(fmap, drawn)
    add_sites(fmap, page.sites, show=False)
    folium.LayerControl(collapsed=True).add_to(fmap)
    fmap.add_child(MonthSlider(fmap, steps))
    items = [(colour, _(label)) for _low, colour, label in BINS]
    if rolled_up:
        items.append((LEGEND_ITEM[0], _(LEGEND_ITEM[1])))
    fmap.add_child(Legend(_("Reports per square"), items, page.note, basis=page.basis))
    add_header(fmap, page.header_html)
    return render(fmap)
