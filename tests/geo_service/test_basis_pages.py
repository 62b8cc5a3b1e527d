"""Every map says what share of the reports it rests on, and below half (or for a month, or
on a handful) a warning stands above the legend, outside its fold, on the served HTML."""

from __future__ import annotations

import html
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from maps.base import Legend, Tiles, base_map, render
from maps.records import BasisNote
from maps.words import MONTH_WARNING
from tests.conftest import feature
from tests.geo_service.test_basis import HOT, LOW, Program

PAGES = {
    "hotspots": "/maps/hotspots?kind=needle_report&period={period}",
    "coverage": "/maps/coverage?service=needles&kind=needle_report&period={period}",
    "siting": "/maps/siting?p=1&period={period}",
    "cleanup": "/maps/cleanup?budget=60&period={period}",
}
WARNING = re.compile(r'<p class="basis-warning" role="status">(.*?)</p>', re.S)


def banner(page: str) -> str | None:
    """The warning above the legend, checked to stand before it and outside its fold."""
    found = WARNING.search(page)
    if found is None:
        return None
    legend = page.index('<details class="map-legend"')
    stack = page.rindex('<div class="legend-stack">', 0, found.start())
    assert stack < found.start() < legend  # in the legend's corner, above it, not inside
    assert "</details>" not in page[found.start() : legend]
    return html.unescape(found.group(1))


def test_the_legend_holds_the_words_and_the_warning_stands_above_it() -> None:
    fmap = base_map((0, 0, 1, 1), tiles=Tiles(None))
    note = BasisNote("Rests on 9 of the 39 reports <shown>", "This shows 23 % of reports.")
    fmap.add_child(Legend("Colours", [("#fff", "white")], basis=note))
    page = render(fmap)
    assert banner(page) == "This shows 23 % of reports."
    assert '<p class="legend-basis">Rests on 9 of the 39 reports &lt;shown&gt;</p>' in page
    quiet = base_map((0, 0, 1, 1), tiles=Tiles(None))
    quiet.add_child(Legend("Colours", [("#fff", "white")], basis=BasisNote("Rests on all 40")))
    plain = render(quiet)
    assert banner(plain) is None and "legend-stack" not in plain
    assert '<p class="legend-basis">Rests on all 40</p>' in plain


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_map_resting_on_a_quarter_of_the_reports_says_so_above_its_legend(
    app: FastAPI, client: TestClient, name: str
) -> None:
    town = Program(app, client, "town")
    town.may()
    viewer = town.planner if name == "siting" else town.peer
    page = client.get(PAGES[name].format(period="2025-Q2"), headers=viewer)
    assert page.status_code == 200, page.text
    assert banner(page.text) == (
        LOW + " This rests on only 9 reports: one more or less could change it a lot."
    )
    assert "Rests on 9 of the 39 reports shown for April–June 2025 (23 %)" in page.text
    # The manager's map rests on every event: it says so, without a warning.
    manager = client.get(PAGES[name].format(period="2025-Q2"), headers=town.manager).text
    assert banner(manager) is None
    assert "Rests on all 39 events in April–June 2025." in manager


def test_at_half_or_more_no_warning_stands_above_the_legend(
    app: FastAPI, client: TestClient
) -> None:
    town = Program(app, client, "busy")
    town.may()
    for key in town.reporters:  # 30 more in the released square: 39 of 69 (56 %)
        rows = [feature(*HOT, observed_at=f"2025-05-{d:02d}T12:00:00Z") for d in range(11, 21)]
        town.post(key, rows, "/v1/events")
    page = client.get(PAGES["hotspots"].format(period="2025-Q2"), headers=town.peer).text
    assert banner(page) is None
    assert "Rests on 39 of the 69 reports shown for April–June 2025 (56 %)" in page


def test_a_months_map_always_warns_it_may_leave_out_most_reports(
    app: FastAPI, client: TestClient
) -> None:
    town = Program(app, client, "months")
    town.may()
    for path in (PAGES["hotspots"].format(period="2025-05"), "/maps/trends?year=2025"):
        page = client.get(path, headers=town.peer)
        assert page.status_code == 200, page.text
        warning = banner(page.text)
        assert warning is not None and warning.startswith(MONTH_WARNING), path
