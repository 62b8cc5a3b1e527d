"""The managers' band chart: how clustered the window's events are at each Gi* band tried
(global Moran's I z), with the band in use marked. Inline SVG: no script, no request, text
at 14 px drawn at its own size (the picture is never scaled down)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 300, 132
LEFT, RIGHT, TOP, BOTTOM = 12, 12, 24, 38  # plot margins, room for the 14 px labels
LINE, MARK, CHOSEN = "#2166ac", "#2166ac", "#b2182b"


@dataclass(frozen=True)
class BandCurve:
    """The server's curve: ``(band in metres, Moran's I z)`` for each band tried."""

    points: Sequence[tuple[float, float]]
    chosen_m: float
    automatic_m: float


def band_chart(curve: BandCurve) -> str:
    """The chart as an ``<svg>`` fragment, every text in it escaped.

    >>> svg = band_chart(BandCurve([(125.0, 4.0), (250.0, 9.5), (375.0, 7.0)], 250.0, 250.0))
    >>> '<title id="band-chart-title">' in svg, 'data-chosen-m="250"' in svg
    (True, True)
    """
    if not curve.points:
        return ""
    xs = [d for d, _ in curve.points] + [curve.chosen_m]
    zs = [z for _, z in curve.points]
    x0, x1 = min(xs), max(xs)
    z0, z1 = min(0.0, *zs), max(0.0, *zs)

    def x(d: float) -> float:
        span = (x1 - x0) or 1.0
        return round(LEFT + (d - x0) / span * (WIDTH - LEFT - RIGHT), 1)

    def y(z: float) -> float:
        span = (z1 - z0) or 1.0
        return round(HEIGHT - BOTTOM - (z - z0) / span * (HEIGHT - TOP - BOTTOM), 1)

    line = " ".join(f"{x(d)},{y(z)}" for d, z in curve.points)
    marks = "".join(
        f'<circle cx="{x(d)}" cy="{y(z)}" r="3" fill="{MARK}"/>' for d, z in curve.points
    )
    best_d, best_z = max(curve.points, key=lambda p: p[1])
    which = "automatic" if curve.chosen_m == curve.automatic_m else "chosen"
    desc = (
        f"Moran's I z-score for bands from {x0:g} to {max(d for d, _ in curve.points):g} m; "
        f"highest {best_z:.1f} at {best_d:g} m. Band in use: {curve.chosen_m:g} m ({which})."
    )
    cx = x(curve.chosen_m)
    anchor = "end" if cx > WIDTH / 2 else "start"
    label_x = cx - 4 if anchor == "end" else cx + 4
    text = 'font-size="14" font-family="system-ui, sans-serif" fill="#222222"'
    return (
        f'<svg class="band-chart" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="band-chart-title band-chart-desc" '
        f'data-chosen-m="{curve.chosen_m:g}">'
        '<title id="band-chart-title">How clustered reports are at each band</title>'
        f'<desc id="band-chart-desc">{html.escape(desc)}</desc>'
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff" opacity="0.9"/>'
        f'<line x1="{LEFT}" y1="{y(0.0)}" x2="{WIDTH - RIGHT}" y2="{y(0.0)}" stroke="#999999"/>'
        f'<polyline points="{line}" fill="none" stroke="{LINE}" stroke-width="2"/>{marks}'
        f'<line class="band-chosen" x1="{cx}" y1="{TOP - 4}" x2="{cx}" y2="{HEIGHT - BOTTOM}" '
        f'stroke="{CHOSEN}" stroke-width="2" stroke-dasharray="4 3"/>'
        f'<text x="{label_x}" y="{TOP - 8}" text-anchor="{anchor}" {text}>'
        f"{html.escape(f'{which} {curve.chosen_m:g} m')}</text>"
        f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 18}" {text}>{x0:g} m</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM + 18}" text-anchor="end" {text}>'
        f"{x1:g} m</text>"
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 4}" text-anchor="middle" {text}>'
        "band; higher: more clustered</text></svg>"
    )
