"""Rolled-up squares: reports whose small squares were too few to show, counted in a larger
square (a release feature at level >= 1). A filled square a few kilometres wide reads as a
big hot area, so these are drawn as a dashed outline over a light hatching instead: dark
grey on any fill colour, told apart by pattern, not by hue (colour-blind safe).

The hatching is an SVG pattern in the page (markup, not script) that ``maps.css`` gives
the squares' paths by class; where it cannot apply (a canvas renderer), the square is an
outline with an almost clear fill.
"""

from __future__ import annotations

from typing import Any

from branca.element import MacroElement
from jinja2 import Template

from maps.words import ROLLED_UP

HATCH_ID = "rolled-up-hatch"
INK = "#333333"
# Ink covers stroke/spacing x opacity of the pattern's area: 1.5/8 x 0.5, about 9 %.
HATCH_SPACING, HATCH_STROKE, HATCH_OPACITY = 8, 1.5, 0.5
ROLLED_UP_STYLE: dict[str, Any] = {
    "color": INK,
    "weight": 1.5,
    "dashArray": "6 4",
    "fillColor": INK,
    "fillOpacity": 0.05,
    "className": "rolled-up",
}
SWATCH = f"repeating-linear-gradient(45deg, {INK} 0 2px, transparent 2px 7px)"
LEGEND_ITEM = (SWATCH, ROLLED_UP)  # its words are an English message: shown through _()


class HatchPattern(MacroElement):
    """The hatching's SVG pattern, once per page."""

    _template = Template(
        """
{% macro html(this, kwargs) %}
<svg class="map-patterns" width="0" height="0" aria-hidden="true" focusable="false"><defs>
<pattern id="{{ this.pattern_id }}" width="{{ this.spacing }}" height="{{ this.spacing }}"
 patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<line x1="0" y1="0" x2="0" y2="{{ this.spacing }}" stroke="{{ this.ink }}"
 stroke-width="{{ this.stroke }}" stroke-opacity="{{ this.opacity }}"/></pattern></defs></svg>
{% endmacro %}
"""
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "HatchPattern"
        self.pattern_id = HATCH_ID
        self.spacing = HATCH_SPACING
        self.stroke = HATCH_STROKE
        self.opacity = HATCH_OPACITY
        self.ink = INK
