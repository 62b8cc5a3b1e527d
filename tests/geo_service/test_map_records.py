"""The records web/ builds for the maps say what the API answers say: a route map drawn from
a plan is the map drawn from that plan's GeoJSON answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_service.auth import Principal, Role
from geo_service.services.cleanup import CleanupQuery, plan_cleanup, route_geojson
from geo_service.services.program import ProgramContext
from geo_service.web.cleanup import route_record
from maps.base import Tiles
from maps.cleanup import CleanupPage, cleanup_map
from tests.conftest import demo_town
from tests.maps.routes import route_record as record_of_answer

BOUNDS = (-101.9, 54.75, -101.85, 54.78)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.PEER])
def test_the_route_map_draws_what_the_route_answer_says(tmp_path: Path, role: Role) -> None:
    with demo_town(tmp_path) as demo:
        services = demo["app"].state.services
        site = demo["store"].list_sites(demo["program_id"])[0]
        principal = Principal(key_id=1, role=role, program="town", program_id=demo["program_id"])
        ctx = ProgramContext(services, principal)
        query = CleanupQuery(budget_min=90, teams=2, start_site=site.id, period=None)
        route = plan_cleanup(ctx, query)
        answer = route_geojson(route, ctx.deployment, ctx.role)
        area = answer["features"][0]["geometry"]
        drawn = route_record(ctx, route)
        assert drawn.stops and drawn.paths  # the demo town has needles to pick up
        assert drawn == record_of_answer(dict(answer))
        pages = [
            CleanupPage("Route", BOUNDS, area, route=r)
            for r in (drawn, record_of_answer(dict(answer)))
        ]
        assert cleanup_map(pages[0], tiles=Tiles(None)) == cleanup_map(pages[1], tiles=Tiles(None))
