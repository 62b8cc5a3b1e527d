"""Named alert areas a steward may draw (>= 0.25 km², inside the program) and areas in words
(a name stays data; a coarse cell by distance and direction, in English and French)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from geo_service.errors import InvalidParameter
from geo_service.services.alerts.areas import area_words, check_named_area
from tests.geo_service.alert_fixtures import Town, alert_town, cell, square_around


@pytest.fixture
def town(tmp_path: Path) -> Iterator[Town]:
    with alert_town(tmp_path) as opened:
        yield opened


def test_a_half_kilometre_square_inside_the_program_is_accepted(town: Town) -> None:
    area = check_named_area(town.deployment, square_around(town.deployment, 300, 200, 260))
    assert area.geom_type == "Polygon"
    assert town.deployment.service_area.covers(area)


# Corners in the order that makes the outline cross itself.
BOWTIE = [[-101.89, 54.76], [-101.87, 54.78], [-101.87, 54.76], [-101.89, 54.78], [-101.89, 54.76]]


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        ({"type": "Point", "coordinates": [-101.88, 54.77]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": "</script>"}, "not a readable polygon"),
        (
            {
                "type": "Polygon",
                "coordinates": [BOWTIE],
            },
            "crosses itself",
        ),
    ],
)
def test_not_a_simple_polygon_is_refused_with_a_reason(
    town: Town, geometry: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        check_named_area(town.deployment, geometry)
    assert reason in str(refused.value)
    assert "</script>" not in str(refused.value)


def test_a_small_area_is_refused(town: Town) -> None:
    # 490 m by 490 m is 0.24 km²: an alert would narrow to a few blocks.
    with pytest.raises(InvalidParameter, match=r"at least 0\.25 km²"):
        check_named_area(town.deployment, square_around(town.deployment, 0, 0, 245))


def test_an_area_outside_the_program_is_refused(town: Town) -> None:
    with pytest.raises(InvalidParameter, match="within the program's area"):
        check_named_area(town.deployment, square_around(town.deployment, 60_000, 0, 600))


def _key_of(town: Town, east_m: float, north_m: float) -> str:
    size, ix, iy = cell(town.deployment, "overdose", east_m, north_m)
    factor = 1000 // size
    return f"cell:1000:{ix // factor}:{iy // factor}"


def test_a_coarse_cell_in_words(town: Town) -> None:
    centre = town.deployment.service_area_m.centroid
    from analysis.projection import to_metres
    from tests.conftest import TOWN

    x, y = to_metres([TOWN[0]], [TOWN[1]], crs=town.deployment.crs)
    # A point about 2.5 km east and 2.5 km north of the area's centre: 3.5 km north-east.
    east, north = centre.x - float(x[0]) + 2500, centre.y - float(y[0]) + 2500
    key = _key_of(town, east, north)
    english = area_words(town.deployment, key, names={}, program="Flin Flon", language="en")
    french = area_words(town.deployment, key, names={}, program="Flin Flon", language="fr")
    assert english.startswith("the square kilometre ")
    assert english.endswith(" km north-east of the centre of Flin Flon")
    assert french.startswith("le kilomètre carré à ")
    assert french.endswith(" km au nord-est du centre de Flin Flon")
    middle = _key_of(town, centre.x - float(x[0]), centre.y - float(y[0]))
    assert area_words(town.deployment, middle, names={}, program="Flin Flon", language="en") == (
        "the square kilometre at the centre of Flin Flon"
    )


def test_names_and_the_whole_area_in_words(town: Town) -> None:
    hostile = "</script><b>${x}`rm`"
    names = {"area:3": hostile}
    words = area_words(town.deployment, "area:3", names=names, program="t", language="fr")
    assert words == hostile  # data, unchanged: escaping is the page's job
    assert area_words(town.deployment, "all", names=names, program="Flin Flon", language="en") == (
        "all of Flin Flon"
    )
    assert area_words(town.deployment, "area:9", names=names, program="t", language="en") == (
        "an area the program named"
    )


def test_two_databases_with_a_program_1_keep_their_own_areas(tmp_path: Path) -> None:
    import json

    from geo_service.services.alerts.areas import areas_for

    found = []
    for n, east in ((1, 0.0), (2, 1200.0)):
        with alert_town(tmp_path / str(n)) as town:
            geometry = json.dumps(square_around(town.deployment, east, 0, 400))
            town.store.add_alert_area(town.program_id, f"area {n}", geometry, 0)
            (named,) = areas_for(town.store, town.deployment, town.program_id).named
            found.append(
                (town.program_id, named.key, named.name, round(named.polygon_m.centroid.x))
            )
    assert found[0][:2] == found[1][:2] == (1, "area:1")
    assert found[0][2:] != found[1][2:]


def test_adding_and_deleting_a_named_area_rebuilds_its_series(town: Town) -> None:
    from shapely.geometry import shape

    from geo_service.services.alerts.named_areas import (
        NamedArea,
        add_named_areas,
        delete_named_area,
    )
    from geo_service.services.alerts.rules import Caller
    from tests.geo_service.alert_fixtures import NOW, rows, store_rows

    where = cell(town.deployment, "overdose", 100, 100)
    store_rows(town, rows("overdose", [NOW - 6 * 3600] * 2, where))  # before the area existed
    geometry = square_around(town.deployment, 100, 100, 400)
    caller = Caller(town.program_id, "cli", None, NOW)
    [added] = add_named_areas(
        town.store, town.deployment, caller, [NamedArea("Lakeview", shape(geometry))]
    )
    key = f"area:{added.id}"

    def series() -> list[tuple[str, int]]:
        days = town.store.daily_series(town.program_id, "overdose", first_day="2000-01-01")
        return [(d.day, d.events) for d in days if d.area == key]

    assert series() == [("2026-06-15", 2)]
    assert [a.name for a in town.store.alert_areas(town.program_id)] == ["Lakeview"]
    assert delete_named_area(town.store, town.deployment, caller, added.id)
    assert series() == []
    assert not delete_named_area(town.store, town.deployment, caller, added.id)
