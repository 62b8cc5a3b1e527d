"""The siting map: candidates, the chosen lockers with their catchments, exclusion buffers,
and the consumption-site ranking with each candidate's breakdown in its popup.

Takes what the service has already cut to the viewer's role.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

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
from maps.coverage import outlined_shape
from maps.language import _
from maps.records import BasisNote, Geometry, LeftOut, LockerSummary, RankedSite, Shape

EXCLUDED = "#762a83"  # PRGn purple: exclusion buffers
CHOSEN = "#e66101"


@dataclass(frozen=True)
class SitingPage:
    title: str
    bounds: tuple[float, float, float, float]
    area: Geometry
    lockers: LockerSummary
    catchments: Sequence[Shape]  # of the chosen sites
    exclusions: Sequence[Shape]  # buffered zones
    ranking: Sequence[RankedSite]  # best first
    excluded: Sequence[LeftOut]  # candidates inside an exclusion buffer
    header_html: str = ""
    basis: BasisNote | None = None  # what share of the reports it rests on


def _breakdown(entry: RankedSite) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(c.name.replace('_', ' '))}</td><td>{html.escape(str(c.value))}"
        f"</td><td>{c.weight:g}</td><td>{c.contribution:.2f}</td></tr>"
        for c in entry.criteria
    )
    return (
        f"<b>{html.escape(entry.name)}</b><br>"
        + html.escape(
            _("Consumption-site score {score} (rank {rank})").format(
                score=f"{entry.score:.2f}", rank=entry.rank
            )
        )
        + f"<table><tr><th>{html.escape(_('criterion'))}</th><th>{html.escape(_('value'))}</th>"
        f"<th>{html.escape(_('weight'))}</th><th>{html.escape(_('adds'))}</th></tr>{rows}</table>"
    )


def siting_map(page: SitingPage, *, tiles: Tiles) -> str:
    fmap = base_map(page.bounds, tiles=tiles)
    add_outline(fmap, page.area)
    zones = folium.FeatureGroup(name=_("Exclusion buffers"))
    buffer_style = {
        "color": EXCLUDED,
        "weight": 1.5,
        "fillColor": EXCLUDED,
        "fillOpacity": 0.2,
        "dashArray": "3 3",
    }
    for z in page.exclusions:
        zone = outlined_shape(z.geometry, buffer_style).add_to(zones)
        add_label(fmap, zone, tooltip=html.escape(z.name))
    zones.add_to(fmap)
    reach = folium.FeatureGroup(name=_("Catchments of the chosen lockers"))
    walk_style = {"color": CHOSEN, "weight": 1.5, "fillColor": CHOSEN, "fillOpacity": 0.15}
    for c in page.catchments:
        walk = outlined_shape(c.geometry, walk_style).add_to(reach)
        add_label(fmap, walk, tooltip=html.escape(c.name))
    reach.add_to(fmap)
    ranked = {r.name: r for r in page.ranking}
    chosen = {c.name: c for c in page.lockers.chosen}
    group = folium.FeatureGroup(name=_("Candidates"))
    entries: list[RankedSite | LeftOut] = [*page.ranking, *page.excluded]
    for entry in entries:
        name = entry.name
        popup = (
            _breakdown(entry)
            if isinstance(entry, RankedSite)
            else f"<b>{html.escape(name)}</b><br>"
            + html.escape(_("Excluded: {reason}").format(reason=entry.reason))
        )
        if name in chosen:
            adds = _("Locker #{rank}: adds {adds}").format(
                rank=chosen[name].rank, adds=chosen[name].adds
            )
            popup += "<br>" + html.escape(adds)
            icon = folium.DivIcon(
                html=f'<div class="stop-number" style="background:{CHOSEN}">'
                f"{chosen[name].rank}</div>",
                icon_size=(26, 26),
                icon_anchor=(13, 13),
            )
            marker: folium.Marker | folium.CircleMarker = folium.Marker(
                [entry.lat, entry.lon], icon=icon
            )
        else:
            marker = folium.CircleMarker(
                [entry.lat, entry.lon],
                radius=7,
                color=EXCLUDED if name not in ranked else "#333333",
                weight=2,
                fill=True,
                fill_color="#ffffff",
                fill_opacity=1.0,
            )
        marker.add_to(group)
        tooltip = "" if name in chosen else html.escape(name)
        add_label(fmap, marker, tooltip=tooltip, popup=popup)
    group.add_to(fmap)
    fit_to_data(fmap, [group, reach])  # open on the candidates and the chosen walks
    folium.LayerControl(collapsed=True).add_to(fmap)
    lockers = page.lockers
    before, after = lockers.coverage_before, lockers.coverage_after
    items = [
        (
            CHOSEN,
            _("Chosen locker sites ({n}) and their {minutes}-min walks").format(
                n=len(chosen), minutes=f"{lockers.minutes:g}"
            ),
        ),
        (EXCLUDED, _("Exclusion buffers (no site inside)")),
        ("#ffffff", _("Other candidates: click for the consumption-site score")),
    ]
    covered = _("Events covered by an open site: {before} now, {after} with these {hours} sites.")
    note = covered.format(before=_pct(before), after=_pct(after), hours=lockers.opening_hours) + (
        " " + lockers.reason if lockers.reason else ""
    )
    fmap.add_child(Legend(page.title, items, note, basis=page.basis))
    page_of(fmap).html.add_child(Element(ranking_panel(page.ranking, page.excluded)))
    add_header(fmap, page.header_html)
    return render(fmap)


def ranking_panel(ranking: Sequence[RankedSite], excluded: Sequence[LeftOut]) -> str:
    """The consumption-site ranking as a list beside the map: score and each criterion."""
    rows = []
    for entry in ranking:
        parts = "; ".join(
            f"{c.name.replace('_', ' ')} {c.value}" + (" m" if c.name == "service_gap" else "")
            for c in entry.criteria
        )
        rows.append(
            f"<li><b>{html.escape(entry.name)}</b>: "
            + html.escape(_("score {score}").format(score=f"{entry.score:.2f}"))
            + f" <small>({html.escape(parts)})</small></li>"
        )
    left_out = "".join(f"<li>{html.escape(e.name)}: {html.escape(e.reason)}</li>" for e in excluded)
    weights = ", ".join(
        f"{c.name.replace('_', ' ')} {c.weight:g}" for c in (ranking[0].criteria if ranking else ())
    )
    return (
        f'<div class="ranking side-panel"><h2>{html.escape(_("Consumption-site ranking"))}</h2>'
        + "<p>"
        + html.escape(
            _(
                "Weights: {weights}. Each criterion is divided by its largest value among the "
                "candidates, then weighted."
            ).format(weights=weights)
        )
        + f"</p><ol>{''.join(rows)}</ol>"
        + (
            f"<h3>{html.escape(_('Left out (exclusion buffers)'))}</h3><ul>{left_out}</ul>"
            if left_out
            else ""
        )
        + "</div>"
    )


def _pct(share: float | None) -> str:
    return _("not shown (too few events)") if share is None else f"{100 * share:.0f}%"
