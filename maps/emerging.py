"""The emerging hot-spot map: each square coloured by its pattern over the latest months (or
weeks), with the pattern's plain name in the legend and in a popup.

Reds for busy patterns and blues for quiet ones, as ArcGIS Pro draws them: the deepest red
for what is new or growing, paler for what comes and goes or has passed. The names are the
peer names of :data:`analysis.emerging.PEER_NAMES`, spoken in the page's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import folium

from analysis.emerging import PEER_NAMES, Pattern
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
from maps.language import N_, _
from maps.records import BasisNote, Geometry, Site, feature_collection

# Busy first, from new and growing (deep red) to gone (pale); quiet mirrors it in blues.
PATTERN_COLOUR: dict[Pattern, str] = {
    Pattern.NEW_HOT: "#67000d",
    Pattern.INTENSIFYING_HOT: "#a50f15",
    Pattern.CONSECUTIVE_HOT: "#cb181d",
    Pattern.PERSISTENT_HOT: "#ef3b2c",
    Pattern.OSCILLATING_HOT: "#fb6a4a",
    Pattern.SPORADIC_HOT: "#fc9272",
    Pattern.DIMINISHING_HOT: "#fcbba1",
    Pattern.HISTORICAL_HOT: "#fee0d2",
    Pattern.NEW_COLD: "#08306b",
    Pattern.INTENSIFYING_COLD: "#08519c",
    Pattern.CONSECUTIVE_COLD: "#2171b5",
    Pattern.PERSISTENT_COLD: "#4292c6",
    Pattern.OSCILLATING_COLD: "#6baed6",
    Pattern.SPORADIC_COLD: "#9ecae1",
    Pattern.DIMINISHING_COLD: "#c6dbef",
    Pattern.HISTORICAL_COLD: "#deebf7",
}
HOT_PATTERNS = [p for p in PATTERN_COLOUR if p > 0]
LEGEND_NOTE = N_(
    "Each square is compared with the squares around it, month by month; its colour says "
    "how that changed. Squares where nothing stands out are left clear."
)


@dataclass(frozen=True)
class EmergingCell:
    """A square with a pattern; ``details``: the trend in a statistician's words (managers)."""

    geometry: Geometry
    pattern: Pattern
    details: str | None = None


@dataclass(frozen=True)
class EmergingPage:
    title: str
    bounds: tuple[float, float, float, float]
    area: Geometry
    cells: Sequence[EmergingCell]
    sites: Sequence[Site] = field(default_factory=list)
    header_html: str = ""
    note: str = ""
    details: bool = False  # managers: a details line per square
    basis: BasisNote | None = None


def pattern_words(pattern: Pattern) -> str:
    """The pattern's plain name in the language being spoken."""
    return _(PEER_NAMES[pattern])


def _style(feature: dict[str, Any]) -> dict[str, Any]:
    pattern = Pattern(int(feature["properties"]["pattern"]))
    return {
        "fillColor": PATTERN_COLOUR[pattern],
        "color": "#555555",
        "weight": 0.5,
        "fillOpacity": 0.75,
    }


def legend_items(cells: Sequence[EmergingCell]) -> list[tuple[str, str]]:
    """Every busy pattern, and the quiet ones this map shows, each in its colour."""
    shown = {c.pattern for c in cells}
    patterns = HOT_PATTERNS + [p for p in PATTERN_COLOUR if p < 0 and p in shown]
    return [(PATTERN_COLOUR[p], pattern_words(p)) for p in patterns]


def emerging_map(page: EmergingPage, *, tiles: Tiles) -> str:
    fmap = base_map(page.bounds, tiles=tiles)
    add_outline(fmap, page.area)
    if page.cells:
        fields = ["what", *(["details"] if page.details else [])]
        aliases = [_("What is happening here"), *([_("Details")] if page.details else [])]
        squares = folium.GeoJson(
            feature_collection(
                [
                    (
                        c.geometry,
                        {
                            "pattern": int(c.pattern),
                            "what": pattern_words(c.pattern),
                            **({"details": c.details} if page.details else {}),
                        },
                    )
                    for c in page.cells
                ]
            ),
            name=_("How places changed"),
            style_function=_style,
            popup=folium.GeoJsonPopup(fields=fields, aliases=aliases),
        ).add_to(fmap)
        fit_to_data(fmap, [squares])
    add_sites(fmap, page.sites)
    folium.LayerControl(collapsed=True).add_to(fmap)
    note = " ".join(part for part in (_(LEGEND_NOTE), page.note) if part)
    fmap.add_child(
        Legend(_("What the colours mean"), legend_items(page.cells), note, "", page.basis)
    )
    add_header(fmap, page.header_html)
    return render(fmap)
