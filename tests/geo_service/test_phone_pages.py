"""The remaining phone-first pages, checked on the served HTML: clean-up stops in plain words
(what is expected, what it rests on, the period in words), the hour table as a week of
44 px cells, coverage and siting maps that open on their data, the trends slider's month
names and totals (released totals only for peers), and rolled-up squares drawn hatched."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from geo_service.auth import Role
from maps.base import Tiles
from maps.coverage import hour_table
from maps.packing import unpacked_layers
from maps.records import CountCell, GiCell, HourShares, Month
from maps.rolled_up import HATCH_ID, ROLLED_UP_STYLE
from maps.trends import TrendPage, trend_map
from maps.words import ROLLED_UP, period_words
from tests.conftest import demo_town

ISLAND = re.compile(r'<script type="application/json" id="{}">(.*?)</script>', re.S)


def island(page: str, name: str) -> Any:
    found = re.search(ISLAND.pattern.format(name), page, re.S)
    assert found, f"no {name} data on the page"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with demo_town(tmp_path_factory.mktemp("phone")) as loaded:
        yield loaded


def get(town: Any, role: Role, path: str) -> Any:
    response = town["client"].get(path, headers=town["keys"][role])
    assert response.status_code == 200, response.text
    return response


# -- clean-up stops in plain words ------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.PEER, Role.MANAGER])
def test_cleanup_stops_say_what_is_expected_and_what_it_rests_on(town: Any, role: Role) -> None:
    sites = get(town, role, "/v1/sites").json()["features"]
    start = next(f["id"] for f in sites if "Drop-in" in f["properties"]["name"])
    query = f"budget=90&teams=1&start_site={start}"
    page = get(town, role, f"/maps/cleanup?{query}").text
    answer = get(town, role, f"/maps/cleanup.geojson?{query}").json()
    window = answer["summary"]["window"]
    stops = [f["properties"] for f in answer["features"] if f["properties"]["kind"] == "stop"]
    assert stops
    when = period_words(window)
    for stop in stops:
        said = (
            f"about {stop['expected_needles']:.0f} needles expected here "
            f"({stop['needles_reported']} reported in {when})"
        )
        assert html.escape(said) in page
    # The old unexplained pair ("about 16 needles · 583 needles reported") is gone.
    assert "needles · " not in page and f"needles reported in {window}" not in page
    if role is Role.PEER:  # a released month or quarter, named in words
        assert re.fullmatch(r"\d{4}-(Q[1-4]|\d\d)", window)
        assert re.fullmatch(r"[A-Z][a-z]+(–[A-Z][a-z]+)? \d{4}", when)
    else:
        assert when == "the last 90 days"
    expected = answer["summary"]["expected_needles"]
    legend = re.search(r'<details class="map-legend".*?</details>', page, re.S)
    assert legend and f"About {expected:.0f} needles expected at" in legend.group(0)
    assert f"(from reports in {html.escape(when)})" in legend.group(0)


# -- the hour table ---------------------------------------------------------------------------


def test_the_hour_table_is_a_week_with_days_across_and_hours_down() -> None:
    share = [
        [None if (d, h) == (6, 3) else (d * 24 + h) / 167 for h in range(24)] for d in range(7)
    ]
    table = hour_table(HourShares(share), chosen=26, link="/maps/coverage?kind=overdose")
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    assert len(rows) == 25  # the day names, then one row per hour
    assert re.findall(r'<th scope="col">(\w*)</th>', rows[0]) == [
        "",
        *["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    ]
    for h, row in enumerate(rows[1:]):
        assert f'<th scope="row">{h:02d}</th>' in row
        hours = [int(n) for n in re.findall(r"hour=(\d+)", row)]
        assert hours == [d * 24 + h for d in range(7)]  # Monday first, each cell its own hour
    tuesday_2am = re.search(r'<td class="chosen"[^>]*title="([^"]*)"', table)
    assert tuesday_2am and tuesday_2am.group(1) == "Tue 02:00: 16% covered"  # 26 / 167
    assert 'title="Sun 03:00: no data"' in table


# -- coverage and siting open on their data ---------------------------------------------------


def _layer_names(page: str) -> set[str]:
    return set(re.findall(r"var (\w+) = L\.", page))


def test_coverage_and_siting_maps_fit_their_data_by_layer_name_only(town: Any) -> None:
    coverage = get(town, Role.PEER, "/maps/coverage?service=needles&kind=needle_report").text
    siting = get(town, Role.PLANNER, "/maps/siting?p=2").text
    for page in (coverage, siting):
        fit = island(page, "map-fit")
        assert fit["map"] in _layer_names(page)
        assert fit["layers"] and set(fit["layers"]) <= _layer_names(page)
        # Names only: the page gains no coordinates to fit to.
        assert not re.search(r"\d\.\d", json.dumps(fit))
        assert '<script src="/static/fit.js" defer></script>' in page
    (gaps,) = island(coverage, "map-fit")["layers"]
    assert re.search(rf"var {gaps} = L\.geoJson\(", coverage)  # the uncovered cells
    assert len(island(siting, "map-fit")["layers"]) == 2  # candidates and chosen catchments


# -- the trends slider ------------------------------------------------------------------------


def _published_total(town: Any, role: Role, month: str) -> int:
    body = get(town, role, f"/v1/published?kind=needle_report&period={month}").json()
    return sum(int(f["properties"]["count"]) for f in body["features"])


def test_the_month_slider_names_each_month_and_a_peer_sees_only_released_totals(
    town: Any,
) -> None:
    year = 2025
    peer = get(town, Role.PEER, f"/maps/trends?kind=needle_report&year={year}").text
    manager = get(town, Role.MANAGER, f"/maps/trends?kind=needle_report&year={year}").text
    peer_months = island(peer, "trend-months")["months"]
    manager_months = island(manager, "trend-months")["months"]
    assert len(peer_months) == len(manager_months) == 12
    peer_more = 0
    for m, (p, g) in enumerate(zip(peer_months, manager_months, strict=True), start=1):
        name = period_words(f"{year}-{m:02d}")
        total = _published_total(town, Role.PEER, f"{year}-{m:02d}")
        assert p["words"] in (f"{name} — {total} reports", f"{name} — {total} report")
        manager_total = int(g["words"].split(" — ")[1].split()[0])
        assert g["words"].startswith(f"{name} — ") and manager_total >= total
        peer_more += manager_total > total
    assert peer_more > 0  # some reports were too few to release, and peers are not told of them
    # One release serves every audience below managers: a planner reads the same totals.
    planner = get(town, Role.PLANNER, f"/maps/trends?kind=needle_report&year={year}").text
    assert island(planner, "trend-months")["months"] == [
        {**m, "layer": p["layer"]}
        for m, p in zip(peer_months, island(planner, "trend-months")["months"], strict=True)
    ]
    # Served with the latest month's words, so the label reads before any script runs.
    assert (
        f'<output id="month-label" for="month" aria-live="polite">{peer_months[-1]["words"]}'
        in peer
    )
    for button in ("month-previous", "month-next"):
        assert f'id="{button}"' in peer


def test_month_words_are_text_not_markup() -> None:
    hostile = "</script><img src=x onerror=alert(1)>`${alert(2)}`"
    cell = CountCell({"type": "Point", "coordinates": [0.0, 0.0]}, 3)
    page = trend_map(
        TrendPage("T", (0, 0, 1, 1), {"type": "Point", "coordinates": [0.0, 0.0]},
                  [Month(hostile, [cell])]),
        tiles=Tiles(None),
    )  # fmt: skip
    assert hostile not in page and "</script><img" not in page
    assert html.escape(hostile) in page  # the served label, as text
    assert island(page, "trend-months")["months"][0]["words"] == f"{hostile} — 3 reports"


# -- rolled-up squares ------------------------------------------------------------------------


def _styles(page: str) -> list[dict[str, Any]]:
    """Every style a square of the page is drawn with: the packed layers' style tables
    (each entry is some square's style) and any style folium still writes per feature."""
    tables = re.findall(r"var \w+_styles = (\[.*?\]);\n", page)
    packed = [style for table in tables for style in json.loads(table)]
    return packed + [json.loads(s) for s in re.findall(r"return (\{[^{}]*\});", page)]


def test_a_peers_rolled_up_squares_are_hatched_outlines_not_fills(town: Any) -> None:
    # The demo town's quarter rolls reports up to 250 m to 4 km squares.
    page = get(town, Role.PEER, "/maps/hotspots?kind=needle_report&period=2025-Q2").text
    styles = _styles(page)
    rolled = [s for s in styles if s.get("className") == "rolled-up"]
    assert rolled, "the demo town's peer page has rolled-up squares"
    for style in rolled:
        assert style == ROLLED_UP_STYLE
        assert style["fillOpacity"] <= 0.1 and style["dashArray"]
    assert f'<pattern id="{HATCH_ID}"' in page
    assert '<span class="swatch" style="background:repeating-linear-gradient' in page
    assert ROLLED_UP in page
    # Every filled square is a small one: the fills are the stored-size squares.
    filled = [s for s in styles if s.get("fillOpacity", 0) > 0.1]
    assert filled and all(s.get("className") != "rolled-up" for s in filled)


def test_a_managers_map_has_no_rolled_up_squares_and_no_rolled_up_legend(town: Any) -> None:
    page = get(town, Role.MANAGER, "/maps/trends?kind=needle_report&year=2025").text
    assert "rolled-up" not in page.replace(HATCH_ID, "") and ROLLED_UP not in page


def test_the_hotspot_tooltip_says_what_a_rolled_up_square_is() -> None:
    from maps.hotspots import _gi_properties

    cell = GiCell({"type": "Point", "coordinates": [0.0, 0.0]}, 7, None, "", 2000)
    assert _gi_properties(cell, details=False)["what"] == ROLLED_UP


def test_a_months_total_counts_its_small_and_rolled_up_squares() -> None:
    # The demo town's months release small squares only; a month with a rolled-up square
    # (released at level >= 1) is drawn hatched, under the small ones, and counted once.
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    months = [Month("2026-03", [CountCell(square, 30), CountCell(square, 11, rolled_up=True)])]
    page = trend_map(TrendPage("T", (0, 0, 1, 1), square, months), tiles=Tiles(None))
    assert island(page, "trend-months")["months"][0]["words"] == "March 2026 — 41 reports"
    drawn = [f["properties"] for layer in unpacked_layers(page).values() for f in layer]
    counts = [p["count"] for p in drawn]
    assert counts.index(11) < counts.index(30)  # the rolled-up square is drawn first, under
    assert drawn[counts.index(11)].get("rolled_up") is True
    styles = _styles(page)
    assert ROLLED_UP_STYLE in styles and ROLLED_UP in page
    assert [
        s["fillOpacity"] for s in styles if s.get("className") != "rolled-up" and "fillColor" in s
    ] == [0.8]
    assert f'<pattern id="{HATCH_ID}"' in page
