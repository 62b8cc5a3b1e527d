"""The offline base map on the page side: the packed streets round-trip, and every page
names its map, tile layer and streets in a data island (no coordinates, no script), and
gives sites' names, escaped, for labels."""

from __future__ import annotations

import json
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from maps.base import INLINE_SCRIPT, Tiles, add_sites, base_map, render
from maps.records import Site
from maps.streets import SCALE, decode_streets, encode_streets

ISLAND = re.compile(r'<script type="application/json" id="map-streets">(.*?)</script>', re.S)
LABELS = re.compile(r'<script type="application/json" id="map-labels">(.*?)</script>', re.S)

positions = st.lists(st.tuples(st.floats(-180, 180), st.floats(-85, 85)), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None)
@given(st.lists(positions, max_size=8))
def test_streets_decode_to_their_points_rounded_to_a_metre(
    lines: list[list[tuple[float, float]]],
) -> None:
    arrays = [(np.array([p[0] for p in line]), np.array([p[1] for p in line])) for line in lines]
    decoded = decode_streets(encode_streets(arrays))
    expected = []
    for line in lines:
        q = [(round(lon * SCALE), round(lat * SCALE)) for lon, lat in line]
        q = [p for i, p in enumerate(q) if i == 0 or p != q[i - 1]]  # repeats dropped
        if len(q) >= 2:  # a line of one point draws nothing
            expected.append([(a / SCALE, b / SCALE) for a, b in q])
    assert decoded == expected


def test_steps_are_small_numbers_not_coordinates() -> None:
    lon = np.array([-101.87654, -101.87554, -101.87454])
    lat = np.array([54.76543, 54.76543, 54.76643])
    body = encode_streets([(lon, lat), (lon + 0.001, lat)])
    lines = json.loads(body)["lines"]
    assert lines == [[-10187654, 5476543, 100, 0, 100, 100], [-100, -100, 100, 0, 100, 100]]


def _page(tiles: Tiles, sites: list[Site]) -> str:
    fmap = base_map((-101.9, 54.75, -101.85, 54.79), tiles=tiles)
    add_sites(fmap, sites)
    return render(fmap)


def test_each_page_names_its_map_tiles_and_streets_and_nothing_else() -> None:
    with_tiles = _page(Tiles("/tiles/{z}/{x}/{y}.png", "tiles", "/maps/streets.json?v=3-ab"), [])
    (island,) = ISLAND.findall(with_tiles)
    spec = json.loads(island)
    assert set(spec) == {"map", "tiles", "streets"}
    assert spec["streets"] == "/maps/streets.json?v=3-ab"
    assert f"var {spec['map']} = L.map(" in with_tiles
    assert f"var {spec['tiles']} = L.tileLayer(" in with_tiles
    assert '<script src="/static/streets.js" defer></script>' in with_tiles
    # Without tiles or a network, the script still runs (it names the sites) but has no
    # tile layer to watch and nothing to fetch.
    bare = json.loads(ISLAND.findall(_page(Tiles(None), []))[0])
    assert bare["tiles"] is None and bare["streets"] is None
    # The island is data: the page's inline scripts (and so their CSP hashes) ignore it.
    assert not any(
        "map-streets" in s or "streets.json" in s for s in INLINE_SCRIPT.findall(with_tiles)
    )


def test_site_names_reach_the_labels_escaped() -> None:
    hostile = "</script><img src=x onerror=alert(1)>`${x}`"
    site = Site(hostile, ["needles"], -101.87, 54.77, "09:00-17:00")
    page = _page(Tiles(None), [site])
    assert "</script><img" not in page
    (labels,) = LABELS.findall(page)
    (entry,) = json.loads(labels)
    assert entry["name"] == "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;`${x}`"
    assert entry["name"] in entry["tooltip"]
