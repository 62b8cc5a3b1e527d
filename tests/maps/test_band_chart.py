"""The managers' band chart: the curve where the numbers put it, the band in use marked."""

from __future__ import annotations

import re

from maps.band_chart import BandCurve, band_chart


def test_points_and_the_band_in_use_are_placed_by_hand() -> None:
    # x: 125..375 m over 12..288 px; y: z 0..10 over 94..24 px (70 px of plot).
    svg = band_chart(BandCurve([(125.0, 0.0), (250.0, 10.0), (375.0, 5.0)], 250.0, 250.0))
    assert 'points="12.0,94.0 150.0,24.0 288.0,59.0"' in svg
    assert re.search(r'<line class="band-chosen" x1="150.0" y1="20" x2="150.0" y2="94"', svg)
    assert ">automatic 250 m</text>" in svg and ">125 m</text>" in svg and ">375 m</text>" in svg
    assert "highest 10.0 at 250 m. Band in use: 250 m (automatic)." in svg
    assert svg.count("<circle") == 3 and 'width="300" height="132"' in svg


def test_a_chosen_band_is_named_and_may_widen_the_axis() -> None:
    svg = band_chart(BandCurve([(125.0, 2.0), (250.0, 3.0)], 500.0, 250.0))
    assert ">chosen 500 m</text>" in svg and ">500 m</text>" in svg
    assert 'x1="288.0"' in svg  # the widest point on the axis is the chosen band


def test_no_curve_no_chart() -> None:
    assert band_chart(BandCurve([], 125.0, 125.0)) == ""
