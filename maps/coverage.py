"""The coverage-gap map: each site's walking catchment (only the sites open at the chosen
hour, when one is chosen), the cells where events went uncovered, and an hour-of-week table
of the share covered.

Takes what the service has already cut to the viewer's role.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import Element

from maps.base import (
    Legend,
    Tiles,
    add_header,
    add_label,
    add_outline,
    base_map,
    fit_to_data,
    page_of,
    render,
)
from maps.language import N_, _
from maps.records import BasisNote, Catchment, GapCell, Geometry, HourShares, feature_collection

DAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
CATCHMENT = "#1b7837"  # ColorBrewer PRGn green: where a walk reaches a site
GAP = ("#fee5d9", "#fcae91", "#fb6a4a", "#cb181d")  # Reds: more uncovered, darker
SHARE_STEPS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")  # RdYlGn, 5 classes


@dataclass(frozen=True)
class CoveragePage:
    title: str
    bounds: tuple[float, float, float, float]
    area: Geometry
    minutes: float  # the walk asked about
    gaps: Sequence[GapCell]  # ranked
    catchments: Sequence[Catchment]
    header_html: str = ""
    note: str = ""
    basis: BasisNote | None = None  # what share of the reports it rests on


def _share_colour(share: float | None) -> str:
    if share is None:
        return "#ffffff"
    return SHARE_STEPS[min(4, int(share * 5))]


def hour_table(by_hour: HourShares, chosen: int | None, link: str) -> str:
    """The share covered by an open site, per hour of the week; each cell links to its hour.

    Laid out like a phone calendar's week: days across, hours down. Seven 44 px columns fit
    a 360 px screen, so every cell is a full touch target with 14 px text and the page
    scrolls the way phones scroll (down), with the day names kept in view; 24 columns of
    hours could only fit as 11 px slivers or a table scrolled sideways.
    """
    days = [html.escape(_(day)) for day in DAYS]
    head = "".join(f'<th scope="col">{day}</th>' for day in days)
    rows = []
    for h in range(24):
        cells = []
        for d, day in enumerate(days):
            share = by_hour.share_open[d][h]
            text = "" if share is None else f"{round(100 * share)}"
            mark = ' class="chosen"' if chosen == d * 24 + h else ""
            said = _("no data") if share is None else _("{share}% covered").format(share=text)
            label = f"{day} {h:02d}:00: " + html.escape(said)
            cells.append(
                f'<td{mark} style="background:{_share_colour(share)}" title="{label}">'
                f'<a href="{html.escape(link)}&amp;hour={d * 24 + h}" aria-label="{label}">'
                f"{text}</a></td>"
            )
        rows.append(f'<tr><th scope="row">{h:02d}</th>{"".join(cells)}</tr>')
    return (
        '<div class="hour-table side-panel">'
        f"<h2>{html.escape(_('Share of events covered by an open site, by day and hour (%)'))}</h2>"
        f'<table><thead><tr><th scope="col"></th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<p>{html.escape(by_hour.note or _('Blank: no events in that hour.'))} "
        f"{html.escape(_('Choose an hour to see only the sites open then.'))}</p></div>"
    )


def coverage_map(page: CoveragePage, *, tiles: Tiles, table_html: str) -> str:
    fmap = base_map(page.bounds, tiles=tiles)
    add_outline(fmap, page.area)
    reach = folium.FeatureGroup(name=_("Walking catchments"))
    for c in page.catchments:
        open_ = c.open
        look: dict[str, Any] = {
            "color": CATCHMENT if open_ else "#999999",
            "weight": 1,
            "fillColor": CATCHMENT if open_ else "#cccccc",
            "fillOpacity": 0.25 if open_ else 0.08,
            "dashArray": None if open_ else "4 4",
        }
        shape = outlined_shape(c.geometry, look).add_to(reach)
        state = _("open") if open_ else _("closed")
        add_label(fmap, shape, tooltip=html.escape(f"{c.name}: {state}"))
        marker = folium.CircleMarker(
            [c.lat, c.lon],
            radius=6,
            color="#000000",
            weight=2,
            fill=True,
            fill_color=CATCHMENT if c.open else "#ffffff",
            fill_opacity=1.0,
        ).add_to(reach)
        hours = c.hours or _("hours not given")
        add_label(
            fmap, marker, tooltip=html.escape(f"{c.name} ({hours})"), name=html.escape(c.name)
        )
    reach.add_to(fmap)
    # Open on the gaps (what to act on); with none, on the sites' catchments.
    fit_to_data(fmap, [add_gaps(fmap, page.gaps)] if page.gaps else [reach])
    folium.LayerControl(collapsed=True).add_to(fmap)
    items = [
        (
            CATCHMENT,
            _("Within {minutes} min walk of a site open then").format(minutes=f"{page.minutes:g}"),
        ),
        ("#cccccc", _("Within reach, but the site is closed then")),
        (GAP[3], _("Cells with uncovered events (darker: more)")),
    ]
    fmap.add_child(Legend(page.title, items, page.note, basis=page.basis))
    page_of(fmap).html.add_child(Element(table_html))
    add_header(fmap, page.header_html)
    return render(fmap)


def add_gaps(fmap: folium.Map, gaps: Sequence[GapCell]) -> folium.GeoJson:
    """The uncovered cells, darker where more events went uncovered; the tooltip names the
    first cell's details (every cell has the same)."""
    worst = max(g.shade for g in gaps) or 1.0
    step_of_rank = {g.rank: min(3, int(4 * g.shade / (worst + 1e-9))) for g in gaps}

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        step = step_of_rank[feature["properties"]["rank"]]
        return {"color": "#67000d", "weight": 0.6, "fillColor": GAP[step], "fillOpacity": 0.8}

    names = [name for name, _value in gaps[0].details]
    layer = folium.GeoJson(
        feature_collection(
            [(g.geometry, {**dict(g.details), "rank": g.rank}) for g in gaps], decimals=None
        ),
        name=_("Uncovered cells"),
        style_function=style,
        tooltip=folium.GeoJsonTooltip(
            fields=names, aliases=[name.replace("_", " ") for name in names]
        ),
    )
    layer.add_to(fmap)
    return layer


def outlined_shape(geometry: Geometry, style: dict[str, Any]) -> folium.GeoJson:
    """One outlined shape; its name is added as a label, never into the script."""
    return folium.GeoJson(
        {"type": "Feature", "geometry": geometry, "properties": {}},
        style_function=lambda _: style,
    )
