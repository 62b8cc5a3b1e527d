"""Page weight at a city's scale (issue 17): a manager's page of a 1M-event city must stay
under 1.5 MB. The synthetic city of ``bench/city_pages.py`` has 11,700 squares of 125 m; its
pages are measured there. Here, without an app, pages of 20,000 squares (or a year of 5,000)
must stay under the bytes per square that goal allows, and the packed squares must unpack to
exactly the squares, counts and styles given."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from maps.base import Tiles
from maps.hotspots import GI_COLOUR, HotspotPage, hotspot_map
from maps.packing import unpacked_layers
from maps.records import CountCell, GiCell, Month
from maps.trends import TrendPage, trend_map
from maps.words import gi_words

GOAL_BYTES = 1_500_000
CITY_SQUARES = 11_700


def within_budget(page: str, empty_page: str, squares: int) -> bool:
    """What the squares add to a page stays within their share of the goal, once the page's
    own weight (scripts, legend, header: the same whatever is drawn) is set aside."""
    fixed = len(empty_page.encode())
    return len(page.encode()) - fixed <= squares * (GOAL_BYTES - fixed) / CITY_SQUARES


WEST, SOUTH = -97.246039, 49.836025
BOUNDS = (WEST, SOUTH, WEST + 0.21, SOUTH + 0.11)
AREA = {
    "type": "Polygon",
    "coordinates": [[[WEST, SOUTH], [WEST + 0.21, SOUTH], [WEST + 0.21, SOUTH + 0.11],
                     [WEST, SOUTH + 0.11], [WEST, SOUTH]]],
}  # fmt: skip


def corner(ix: int, iy: int) -> list[float]:
    """A 125 m grid corner as a UTM square lands in degrees: slightly turned, 6 decimals."""
    lon = WEST + ix * 0.0017382 + iy * 0.0000231
    lat = SOUTH + iy * 0.0011234 - ix * 0.0000263
    return [round(lon, 6), round(lat, 6)]


def square(ix: int, iy: int) -> dict[str, object]:
    ring = [corner(ix, iy), corner(ix + 1, iy), corner(ix + 1, iy + 1), corner(ix, iy + 1)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def lattice(n: int, width: int = 120) -> list[tuple[int, int]]:
    return [(k % width, k // width) for k in range(n)]


def test_a_managers_hot_spot_page_of_20000_squares_fits_the_city_budget() -> None:
    rng = np.random.default_rng(1)
    places = lattice(20_000)
    classes = rng.choice([3, 2, 1, 0, 0, 0, -1, -2, -3], len(places))
    counts = rng.geometric(0.05, len(places))
    cells = [
        GiCell(square(ix, iy), int(n), int(c), gi_words(int(c)), 125)
        for (ix, iy), n, c in zip(places, counts, classes, strict=True)
    ]
    page = HotspotPage("Hot spots", BOUNDS, AREA, cells, [], details=True)
    html = hotspot_map(page, tiles=Tiles(None))
    empty = hotspot_map(
        HotspotPage("Hot spots", BOUNDS, AREA, [], [], details=True), tiles=Tiles(None)
    )
    assert within_budget(html, empty, len(cells))
    (drawn,) = [f for f in unpacked_layers(html).values() if len(f) == len(cells)]
    by_place = {json_key(f["geometry"]): f for f in drawn}
    for cell in cells[::997]:
        feature = by_place[json_key(cell.geometry, decimals=5)]  # hot spots round to a metre
        assert feature["properties"]["count"] == cell.count
        assert feature["properties"]["gi_class"] == cell.gi_class
        styles = re.findall(r"var \w+_styles = (\[.*?\]);\n", html)
        colours = [s["fillColor"] for s in json.loads(styles[-1])]
        assert colours[feature["style"]] == GI_COLOUR[cell.gi_class or 0]


def test_a_managers_year_of_5000_squares_a_month_fits_the_city_budget() -> None:
    rng = np.random.default_rng(2)
    places = lattice(5_000)
    months = []
    for m in range(1, 13):
        counts = rng.geometric(0.1, len(places))
        cells = [
            CountCell(square(ix, iy), int(n)) for (ix, iy), n in zip(places, counts, strict=True)
        ]
        months.append(Month(f"2025-{m:02d}", cells))
    html = trend_map(TrendPage("Trends", BOUNDS, AREA, months), tiles=Tiles(None))
    quiet = [Month(m.label, []) for m in months]
    empty = trend_map(TrendPage("Trends", BOUNDS, AREA, quiet), tiles=Tiles(None))
    # A year of a city's squares, in the budget of one page.
    assert within_budget(html, empty, len(places))
    layers = [f for f in unpacked_layers(html).values() if len(f) == len(places)]
    assert len(layers) == 12
    for month, drawn in zip(months, layers, strict=True):
        shown = {json_key(f["geometry"]): f["properties"]["count"] for f in drawn}
        assert shown == {json_key(c.geometry): c.count for c in month.cells}


def json_key(geometry: Any, decimals: int = 6) -> str:
    ring = [[round(x, decimals) for x in pair] for pair in geometry["coordinates"][0]]
    return json.dumps(ring)
