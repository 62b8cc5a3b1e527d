"""The exclusion check through an STRtree gives the answer the pairwise loop gave."""

from __future__ import annotations

import numpy as np
import shapely

from geo_service.services.candidates import excluded_by
from geo_service.storage import ContextFeature


def _zone(
    name: str, x: float, y: float, buffer_m: float
) -> tuple[ContextFeature, shapely.Geometry]:
    feature = ContextFeature("exclusion", "school", name, 0.0, 0.0, buffer_m=buffer_m)
    return feature, shapely.Point(x, y).buffer(buffer_m, quad_segs=16)


def _pairwise(
    zones: list[tuple[ContextFeature, shapely.Geometry]], x: np.ndarray, y: np.ndarray
) -> dict[int, str]:
    """The loop the tree replaced: each zone against every point, first zone wins."""
    excluded: dict[int, str] = {}
    points = shapely.points(x, y)
    for feature, zone in zones:
        for i in np.flatnonzero(shapely.intersects(zone, points)).tolist():
            excluded.setdefault(i, f"within {feature.buffer_m:g} m of {feature.name}")
    return excluded


def test_known_points_name_the_first_zone_they_lie_in() -> None:
    zones = [_zone("Elm School", 0, 0, 200), _zone("Oak Daycare", 150, 0, 100)]
    x = np.array([0.0, 160.0, 400.0, 240.0])
    y = np.array([0.0, 0.0, 0.0, 0.0])
    # 160 m lies in both zones: the first stored one names it; 240 m in the daycare's only
    assert excluded_by(zones, x, y) == {
        0: "within 200 m of Elm School",
        1: "within 200 m of Elm School",
        3: "within 100 m of Oak Daycare",
    }


def test_the_tree_agrees_with_the_pairwise_loop_on_many_points() -> None:
    rng = np.random.default_rng(16)
    zones = [
        _zone(f"zone {i}", float(cx), float(cy), float(r))
        for i, (cx, cy, r) in enumerate(
            zip(
                rng.uniform(0, 5000, 60),
                rng.uniform(0, 5000, 60),
                rng.uniform(50, 400, 60),
                strict=True,
            )
        )
    ]
    x, y = rng.uniform(0, 5000, 3000), rng.uniform(0, 5000, 3000)
    expected = _pairwise(zones, x, y)
    assert len(expected) > 300  # the check is not trivially empty
    assert excluded_by(zones, x, y) == expected
    assert excluded_by([], x, y) == {}
