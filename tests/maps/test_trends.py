"""The maps layer alone: data in, a self-contained HTML page out (no app, no database)."""

from __future__ import annotations

from dataclasses import replace

from maps.base import Tiles
from maps.packing import unpacked_layers
from maps.records import CountCell, Month, feature_collection
from maps.trends import TrendPage, trend_map

BOUNDS = (-101.90, 54.75, -101.85, 54.79)
AREA = {
    "type": "Polygon",
    "coordinates": [[[-101.90, 54.75], [-101.85, 54.75], [-101.85, 54.79], [-101.90, 54.79],
                     [-101.90, 54.75]]],
}  # fmt: skip


def cells(*counts: int) -> list[CountCell]:
    """Released cells, one small square per count, side by side."""
    out = []
    for i, count in enumerate(counts):
        w = -101.89 + i * 0.002
        ring = [[w, 54.76], [w + 0.002, 54.76], [w + 0.002, 54.761], [w, 54.761], [w, 54.76]]
        out.append(CountCell({"type": "Polygon", "coordinates": [ring]}, count))
    return out


def page(months: list[tuple[str, list[CountCell]]]) -> TrendPage:
    return TrendPage(
        title="Trends",
        bounds=BOUNDS,
        area=AREA,
        months=[Month(label, month) for label, month in months],
        note="Shown: 5+",
    )


def test_one_slider_step_per_month_and_the_latest_shown_first() -> None:
    html = trend_map(
        page([("2025-03", cells(5)), ("2025-04", cells()), ("2025-05", cells(12, 30))]),
        tiles=Tiles(url=None),
    )
    assert 'min="0" max="2" value="2"' in html  # a quiet month keeps its step
    for label in ("March 2025", "April 2025", "May 2025", "Reports per square", "25 or more"):
        assert label in html
    assert "/static/trends.js" in html


def test_the_same_data_renders_the_same_page() -> None:
    months = [("2025-05", cells(7, 25))]
    assert trend_map(page(months), tiles=Tiles(url=None)) == trend_map(
        page(months), tiles=Tiles(url=None)
    )


def test_the_legend_note_is_text_not_markup() -> None:
    months = [("2025-05", cells(5))]
    note = "<img src=x onerror=alert(1)>"
    html = trend_map(replace(page(months), note=note), tiles=Tiles(url=None))
    assert note not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_a_quiet_month_and_a_busy_one_draw_only_the_counts() -> None:
    html = trend_map(page([("2025-04", cells()), ("2025-05", cells(7))]), tiles=Tiles(url=None))
    drawn = [f["properties"] for layer in unpacked_layers(html).values() for f in layer]
    assert drawn.count({"count": 7}) == 1
    assert "Reports in 2025-04" not in html  # a quiet month has no layer to point at


def test_feature_collections_round_to_a_metre_and_keep_only_what_is_drawn() -> None:
    point = {"type": "Point", "coordinates": [-101.877912345, 54.768234567]}
    out = feature_collection([(point, {"count": 9})])
    (only,) = out["features"]
    assert only["geometry"]["coordinates"] == [-101.87791, 54.76823]
    assert only["properties"] == {"count": 9}
    kept = feature_collection([(point, {})], decimals=None)["features"]
    assert kept[0]["geometry"]["coordinates"] == [-101.877912345, 54.768234567]


def test_a_managers_one_report_square_is_not_labelled_five_to_nine() -> None:
    # The bug: 1-3-report squares were coloured as the "5 to 9 reports" swatch.
    html = trend_map(page([("2025-05", cells(2))]), tiles=Tiles(url=None))
    assert '"fillColor": "#efedf5"' in html and "1 to 4 reports" in html
    from maps.trends import _style

    assert _style({"properties": {"count": 3}})["fillColor"] == "#efedf5"
    assert _style({"properties": {"count": 5}})["fillColor"] == "#dadaeb"
