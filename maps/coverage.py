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
    page_of,
    render,
)

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CATCHMENT = "#1b7837"  # ColorBrewer PRGn green: where a walk reaches a site
GAP = ("#fee5d9", "#fcae91", "#fb6a4a", "#cb181d")  # Reds: more uncovered, darker
SHARE_STEPS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")  # RdYlGn, 5 classes


@dataclass(frozen=True)
class CoveragePage:
    title: str
    bounds: tuple[float, float, float, float]
    area: dict[str, Any]
    result: dict[str, Any]  # one entry of GET /v1/coverage's "results"
    catchments: Sequence[dict[str, Any]]  # {"name", "open", "geometry"} per site
    header_html: str = ""
    note: str = ""


def _share_colour(share: float | None) -> str:
    if share is None:
        return "#ffffff"
    return SHARE_STEPS[min(4, int(share * 5))]


def hour_table(by_hour: dict[str, Any], chosen: int | None, link: str) -> str:
    """A 7 x 24 table of the share covered by an open site; each cell links to that hour."""
    rows = []
    head = "".join(f"<th>{h:02d}</th>" if h % 3 == 0 else "<th></th>" for h in range(24))
    for d, day in enumerate(DAYS):
        cells = []
        for h in range(24):
            share = by_hour["share_open"][d][h]
            text = "" if share is None else f"{round(100 * share)}"
            mark = ' class="chosen"' if chosen == d * 24 + h else ""
            label = f"{day} {h:02d}:00: " + ("no data" if share is None else f"{text}% covered")
            cells.append(
                f'<td{mark} style="background:{_share_colour(share)}" title="{label}">'
                f'<a href="{html.escape(link)}&amp;hour={d * 24 + h}" aria-label="{label}">'
                f"{text}</a></td>"
            )
        rows.append(f"<tr><th>{day}</th>{''.join(cells)}</tr>")
    return (
        '<div class="hour-table side-panel">'
        "<h2>Share of events covered by an open site, by hour (%)</h2>"
        f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"
        f"<p>{html.escape(by_hour.get('note', 'Blank: no events in that hour.'))} "
        "Choose an hour to see only the sites open then.</p></div>"
    )


def coverage_map(page: CoveragePage, *, tiles: Tiles, table_html: str) -> str:
    fmap = base_map(page.bounds, tiles=tiles)
    add_outline(fmap, page.area)
    reach = folium.FeatureGroup(name="Walking catchments")
    for c in page.catchments:
        open_ = c["open"]
        look: dict[str, Any] = {
            "color": CATCHMENT if open_ else "#999999",
            "weight": 1,
            "fillColor": CATCHMENT if open_ else "#cccccc",
            "fillOpacity": 0.25 if open_ else 0.08,
            "dashArray": None if open_ else "4 4",
        }
        shape = outlined_shape(c["geometry"], look).add_to(reach)
        add_label(fmap, shape, tooltip=html.escape(f"{c['name']}: {'open' if open_ else 'closed'}"))
        marker = folium.CircleMarker(
            [c["lat"], c["lon"]],
            radius=6,
            color="#000000",
            weight=2,
            fill=True,
            fill_color=CATCHMENT if c["open"] else "#ffffff",
            fill_opacity=1.0,
        ).add_to(reach)
        hours = c["hours"] or "hours not given"
        add_label(fmap, marker, tooltip=html.escape(f"{c['name']} ({hours})"))
    reach.add_to(fmap)
    gaps = page.result["uncovered"]["features"]
    if gaps:
        worst = max(_gap_value(f) for f in gaps) or 1.0

        def style(feature: dict[str, Any]) -> dict[str, Any]:
            step = min(3, int(4 * _gap_value(feature) / (worst + 1e-9)))
            return {"color": "#67000d", "weight": 0.6, "fillColor": GAP[step], "fillOpacity": 0.8}

        folium.GeoJson(
            {"type": "FeatureCollection", "features": gaps},
            name="Uncovered cells",
            style_function=style,
            tooltip=folium.GeoJsonTooltip(
                fields=[k for k in gaps[0]["properties"] if k != "rank"],
                aliases=[k.replace("_", " ") for k in gaps[0]["properties"] if k != "rank"],
            ),
        ).add_to(fmap)
    folium.LayerControl(collapsed=True).add_to(fmap)
    r = page.result
    items = [
        (CATCHMENT, f"Within {r['minutes']:g} min walk of a site open then"),
        ("#cccccc", "Within reach, but the site is closed then"),
        (GAP[3], "Cells with uncovered events (darker: more)"),
    ]
    fmap.add_child(Legend(page.title, items, page.note))
    page_of(fmap).html.add_child(Element(table_html))
    add_header(fmap, page.header_html)
    return render(fmap)


def outlined_shape(geometry: dict[str, Any], style: dict[str, Any]) -> folium.GeoJson:
    """One outlined shape; its name is added as a label, never into the script."""
    return folium.GeoJson(
        {"type": "Feature", "geometry": geometry, "properties": {}},
        style_function=lambda _: style,
    )


def _gap_value(feature: dict[str, Any]) -> float:
    p = feature["properties"]
    return float(p.get("uncovered_events", p.get("events", 0)) or 0)
