"""Larger cells for peers and planners (issue 17): ``cell_m`` = stored size × 2^j is the
frozen release summed into the larger squares, never a new suppression of the reports."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo_service.periods import Bucket, Period, latest_published
from geo_service.services.releases import Release, ReleasedCell, ReleaseRule
from geo_service.settings import EventKind
from tests.conftest import demo_town, problem

Key = tuple[int, int, int]  # (cell_m, ix, iy), as a feature id spells it


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_town(tmp_path_factory.mktemp("larger")) as loaded:
        yield loaded


def _quarter(town: dict[str, Any]) -> str:
    return latest_published(Bucket.QUARTER, now=time.time(), grace_days=7, tz=town["deployment"].tz)


def _counts(features: list[dict[str, Any]]) -> dict[Key, int]:
    out = {}
    for f in features:
        size, ix, iy = (int(v) for v in f["id"].split(":"))
        out[(size, ix, iy)] = int(f["properties"]["count"])
    return out


def _summed(stored: dict[Key, int], size: int) -> Counter[Key]:
    """What the stored-size release adds up to in ``size`` squares (coarser ones kept)."""
    out: Counter[Key] = Counter()
    for (cell_m, ix, iy), count in stored.items():
        up = max(0, (size // cell_m).bit_length() - 1)
        out[(cell_m << up, ix >> up, iy >> up)] += count
    return out


def _get(town: dict[str, Any], path: str, **params: Any) -> dict[str, Any]:
    response = town["client"].get(path, params=params, headers=town["keys"]["peer"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("size", [250, 500, 1000])
def test_every_count_in_larger_squares_is_a_sum_of_released_counts(
    town: dict[str, Any], size: int
) -> None:
    period = _quarter(town)
    stored = _get(town, "/v1/published", kind="needle_report", period=period)
    larger = _get(town, "/v1/published", kind="needle_report", period=period, cell_m=size)
    assert larger["summary"]["cell_m"] == size
    assert _counts(larger["features"]) == _summed(_counts(stored["features"]), size)
    assert min(f["properties"]["cell_m"] for f in larger["features"]) == size
    assert (
        larger["summary"]["counts"]["events_shown"] == stored["summary"]["counts"]["events_shown"]
    )


def test_hot_spots_at_twice_the_size_run_on_the_larger_squares(town: dict[str, Any]) -> None:
    period = _quarter(town)
    layer = _get(town, "/v1/published", kind="needle_report", period=period, cell_m=250)
    answer = _get(town, "/v1/hotspots", kind="needle_report", period=period, cell_m=250)
    shown = _counts(answer["features"])
    # The 250 m squares at their summed counts, and the rolled-up squares above them.
    assert shown == _counts(layer["features"])
    assert min(k[0] for k in shown) == 250
    stored = _get(town, "/v1/hotspots", kind="needle_report", period=period)
    assert min(k[0] for k in _counts(stored["features"])) == 125


def test_coverage_at_twice_the_size_ranks_the_larger_squares(town: dict[str, Any]) -> None:
    period = _quarter(town)
    layer = _get(town, "/v1/published", kind="needle_report", period=period, cell_m=250)
    rings = {
        str(f["geometry"]["coordinates"]): f["properties"]["count"]
        for f in layer["features"]
        if f["properties"]["cell_m"] == 250
    }
    answer = _get(
        town, "/v1/coverage", service="naloxone", kind="needle_report", period=period,
        cell_m=250, top=500,
    )  # fmt: skip
    gaps = answer["results"][0]["uncovered"]["features"]
    assert gaps, "the demo town has uncovered squares"
    for gap in gaps:
        assert gap["properties"]["events"] == rings[str(gap["geometry"]["coordinates"])]


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/v1/published", {"kind": "needle_report"}),
        ("/v1/hotspots", {"kind": "needle_report"}),
        ("/v1/coverage", {"service": "naloxone", "kind": "needle_report"}),
    ],
)
def test_other_sizes_are_refused_naming_the_allowed_ones(
    town: dict[str, Any], path: str, extra: dict[str, str]
) -> None:
    params = {**extra, "period": _quarter(town), "cell_m": "333"}
    response = town["client"].get(path, params=params, headers=town["keys"]["peer"])
    detail = problem(response, 400)["detail"]
    assert "125, 250, 500" in detail and "333" not in detail


# -- the view itself ------------------------------------------------------------------------

cells = st.lists(
    st.tuples(st.integers(0, 3), st.integers(-40, 40), st.integers(-40, 40), st.integers(5, 30)),
    max_size=30,
    unique_by=lambda c: c[:3],
)


@given(features=cells, levels=st.integers(0, 4))
def test_a_larger_view_only_adds_released_counts(
    features: list[tuple[int, int, int, int]], levels: int
) -> None:
    period = Period("2025-Q2", Bucket.QUARTER, (0, 1, 2), 0, 1)
    release = Release(
        EventKind.NEEDLE_REPORT, period, ReleaseRule(5, 1, 7, 125), "2025-07-08", "h",
        tuple(ReleasedCell(*c, needles=None) for c in features), (0.0,) * 168, None, 0,
    )  # fmt: skip
    view = release.in_larger_cells(levels)
    assert view.cell_m == 125 << levels and view.total == release.total
    for cell in view.features:
        assert cell.level >= 0
        level = cell.level + levels  # in the stored grid
        # A view-size square sums every finer released cell in it; coarser ones stay alone.
        inside = [
            f.count
            for f in release.features
            if (f.level == level or (cell.level == 0 and f.level < level))
            and (f.ix >> (level - f.level), f.iy >> (level - f.level)) == (cell.ix, cell.iy)
        ]
        assert cell.count == sum(inside)
