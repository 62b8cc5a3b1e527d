"""The emerging hot-spot map alone: squares coloured by pattern (reds busy, blues quiet),
the plain names in the legend and the squares' popups, English and French."""

from __future__ import annotations

import html

from analysis.emerging import PEER_NAMES, Pattern
from maps.base import Tiles
from maps.emerging import PATTERN_COLOUR, EmergingCell, EmergingPage, emerging_map, legend_items
from maps.language import speaking
from maps.packing import unpacked_layers

BOUNDS = (-101.90, 54.75, -101.85, 54.79)
AREA = {
    "type": "Polygon",
    "coordinates": [[[-101.90, 54.75], [-101.85, 54.75], [-101.85, 54.79], [-101.90, 54.79],
                     [-101.90, 54.75]]],
}  # fmt: skip


def square(i: int) -> dict[str, object]:
    w = -101.89 + i * 0.002
    ring = [[w, 54.76], [w + 0.002, 54.76], [w + 0.002, 54.761], [w, 54.761], [w, 54.76]]
    return {"type": "Polygon", "coordinates": [ring]}


def page(*patterns: Pattern, details: bool = False) -> EmergingPage:
    cells = [
        EmergingCell(square(i), p, "trend z = 2.50" if details else None)
        for i, p in enumerate(patterns)
    ]
    return EmergingPage("What is changing", BOUNDS, AREA, cells, details=details)


def test_busy_patterns_are_red_and_quiet_ones_blue() -> None:
    for pattern, colour in PATTERN_COLOUR.items():
        red, blue = int(colour[1:3], 16), int(colour[5:7], 16)
        assert (red > blue) == (pattern > 0), pattern
    assert set(PATTERN_COLOUR) == set(Pattern) - {Pattern.NONE}


def test_the_legend_names_every_busy_pattern_and_only_the_quiet_ones_shown() -> None:
    items = legend_items(page(Pattern.NEW_HOT, Pattern.PERSISTENT_COLD).cells)
    names = [name for _, name in items]
    assert names[:8] == [PEER_NAMES[p] for p in PATTERN_COLOUR if p > 0]
    assert names[8:] == [PEER_NAMES[Pattern.PERSISTENT_COLD]]
    assert (PATTERN_COLOUR[Pattern.NEW_HOT], "newly busy") in items


def test_each_square_carries_its_colour_and_plain_name() -> None:
    built = emerging_map(page(Pattern.NEW_HOT, Pattern.INTENSIFYING_HOT), tiles=Tiles(None))
    (layer,) = [
        features
        for features in unpacked_layers(built).values()
        if features and features[0]["properties"].get("what")
    ]
    shown = [(f["properties"]["pattern"], f["properties"]["what"]) for f in layer]
    assert shown == [(1, "newly busy"), (3, "getting worse")]
    assert PATTERN_COLOUR[Pattern.NEW_HOT] in built
    assert "bindPopup" in built
    assert all("details" not in f["properties"] for f in layer)  # no details line for peers


def test_managers_get_a_details_line_in_the_popup() -> None:
    built = emerging_map(page(Pattern.NEW_HOT, details=True), tiles=Tiles(None))
    assert "trend z = 2.50" in built and '"details"' in built


def test_french_page_speaks_french() -> None:
    with speaking("fr"):
        built = emerging_map(page(Pattern.NEW_HOT, Pattern.HISTORICAL_HOT), tiles=Tiles(None))
    assert html.escape("nouvellement fréquenté") in built
    assert html.escape("était fréquenté, plus maintenant") in built
    assert "Ce que les couleurs veulent dire" in built
    assert "newly busy" not in built
