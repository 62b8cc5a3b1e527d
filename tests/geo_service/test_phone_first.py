"""Phone-first map pages, checked on the served HTML: the legend folds behind a button, the
map opens on the data's cells, and the index offers a viewer only the pages they can open."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from maps.base import Legend, Tiles, base_map, render
from tests.conftest import bearer, collection, make_settings
from tests.geo_service.test_hotspots_api import town_events

PERIOD = "2025-Q2"
FIT = re.compile(r"\.fitBounds\(\s*\[\[([-\d.]+),\s*([-\d.]+)\],\s*\[([-\d.]+),\s*([-\d.]+)\]\]")


@pytest.fixture
def town(tmp_path: Path) -> Any:
    app = create_app(make_settings(tmp_path, map_tiles="none"))
    with TestClient(app) as client:
        store = app.state.store
        keys = {role: create_key(store, program="town", role=role)[1] for role in Role}
        response = client.post(
            "/v1/events", json=collection(*town_events()), headers=bearer(keys[Role.MANAGER])
        )
        assert response.status_code == 201
        yield app, client, keys


def fitted(page: str) -> tuple[float, float, float, float]:
    found = FIT.search(page)
    assert found, "the map is not fitted to anything"
    south, west, north, east = (float(v) for v in found.groups())
    return west, south, east, north


def test_the_index_does_not_offer_peers_a_page_that_refuses_them(town: Any) -> None:
    _, client, keys = town
    peer = client.get("/maps", headers=bearer(keys[Role.PEER])).text
    assert "/maps/siting" not in peer
    assert "/maps/hotspots" in peer and "/maps/coverage" in peer
    for role in (Role.PLANNER, Role.MANAGER):
        assert "/maps/siting" in client.get("/maps", headers=bearer(keys[role])).text
    # Typed in by hand, the page still refuses, with its status.
    refused = client.get(f"/maps/siting?p=2&period={PERIOD}", headers=bearer(keys[Role.PEER]))
    assert refused.status_code == 403 and "planners and managers" in refused.text


def test_the_legend_is_a_button_that_folds_without_inline_script() -> None:
    fmap = base_map((0, 0, 1, 1), tiles=Tiles(None))
    fmap.add_child(Legend("Colours", [("#fff", "white")], details="z >= 2.58"))
    page = render(fmap)
    assert '<details class="map-legend" open' in page
    assert '<summary class="legend-toggle">Legend</summary>' in page
    assert '<script src="/static/legend.js" defer></script>' in page
    assert "Details: z &gt;= 2.58" in page
    assert "onclick" not in page.lower()
    assert fitted(page) == (0, 0, 1, 1)
