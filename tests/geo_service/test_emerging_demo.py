"""The demo town's emerging place (geo_service/demo.py plants "rail yard (emerging)" 180
days before the end of its two years, getting four times busier over those six months): the
manager's emerging answers mark it.

Week by week over the last 26 weeks (about those six months) it is an *intensifying* hot
spot: hot in at least 90 % of the weeks, the final one included, with a rising trend. Month
by month over a year it is a *consecutive* one, and that is ArcGIS Pro's own definition at
work: hot in an unbroken run of the last six months and never before (new needs the final
step alone; intensifying needs 90 % of the steps hot).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from shapely.geometry import shape

from geo_service.auth import Role
from geo_service.demo import CENTRE, HOT_SPOTS, M_PER_DEG_LAT
from tests.conftest import demo_town

EMERGING_PATTERNS = {"new_hot_spot", "consecutive_hot_spot", "intensifying_hot_spot"}


def _offset_m(lon: float, lat: float) -> tuple[float, float]:
    east = (lon - CENTRE[0]) * M_PER_DEG_LAT * math.cos(math.radians(CENTRE[1]))
    return east, (lat - CENTRE[1]) * M_PER_DEG_LAT


def _patterns_near(body: dict[str, object], name: str) -> Counter[str]:
    (spot,) = [h for h in HOT_SPOTS if h.name == name]
    near: Counter[str] = Counter()
    features = body["features"]
    assert isinstance(features, list)
    for f in features:
        centre = shape(f["geometry"]).centroid
        east, north = _offset_m(centre.x, centre.y)
        if math.hypot(east - spot.east_m, north - spot.north_m) < 2 * spot.spread_m:
            near[f["properties"]["pattern"]] += 1
    return near


def test_the_rail_yard_is_marked_as_emerging(tmp_path: Path) -> None:
    with demo_town(tmp_path) as demo:
        answers = [
            demo["client"].get(
                "/v1/hotspots",
                params={"kind": "needle_report", "method": "emerging", "time_step": step},
                headers=demo["keys"][Role.MANAGER],
            )
            for step in ("week", "month")
        ]
    for response in answers:
        assert response.status_code == 200, response.text
    weekly, body = (response.json() for response in answers)
    by_week = _patterns_near(weekly, "rail yard (emerging)")
    assert by_week["intensifying_hot_spot"] >= 2, by_week
    assert set(by_week) <= EMERGING_PATTERNS, by_week
    rail_yard = _patterns_near(body, "rail yard (emerging)")
    assert sum(rail_yard.values()) >= 2
    assert set(rail_yard) <= EMERGING_PATTERNS, rail_yard
    assert rail_yard["consecutive_hot_spot"] >= 2  # see the module docstring
    # The places busy for both years are not called emerging.
    for place in ("downtown laneways", "creek path", "north park"):
        assert not set(_patterns_near(body, place)) & EMERGING_PATTERNS, place
