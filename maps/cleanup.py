"""The clean-up route map: numbered stops, each team's path, and a printable stop list."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import folium
from branca.element import Element

from maps.base import (
    CSRF_SLOT,
    Legend,
    Tiles,
    add_header,
    add_label,
    add_outline,
    add_sites,
    base_map,
    page_of,
    render,
)
from maps.language import _, ngettext
from maps.records import BasisNote, Geometry, Route, RouteStop, Site
from maps.words import expected_here_words, expected_route_words

# Okabe-Ito colours: told apart with every common colour-vision deficiency.
TEAM_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


@dataclass(frozen=True)
class CleanupPage:
    title: str
    bounds: tuple[float, float, float, float]
    area: Geometry
    route: Route
    sites: Sequence[Site] = field(default_factory=list)
    header_html: str = ""
    log_form_action: str = ""  # where the "log this clean-up" form posts; "" hides it
    hidden_fields: Sequence[tuple[str, str]] = ()
    basis: BasisNote | None = None  # what share of the reports it rests on


def team_colour(team: int) -> str:
    return TEAM_COLOURS[(team - 1) % len(TEAM_COLOURS)]


def route_bounds(page: CleanupPage) -> tuple[float, float, float, float]:
    """The walk's extent with a margin, so the crew sees its streets, not the whole town."""
    route = page.route
    coords = [
        *((e.lon, e.lat) for e in route.ends),
        *(c for p in route.paths for c in _drawn(p.line)),
        *((s.lon, s.lat) for s in route.stops),
    ]
    if not coords:
        return page.bounds
    lons, lats = [c[0] for c in coords], [c[1] for c in coords]
    pad_lon = max(0.002, 0.15 * (max(lons) - min(lons)))
    pad_lat = max(0.001, 0.15 * (max(lats) - min(lats)))
    return (min(lons) - pad_lon, min(lats) - pad_lat, max(lons) + pad_lon, max(lats) + pad_lat)


def _drawn(line: Sequence[Sequence[float]]) -> Sequence[Sequence[float]]:
    """A path as drawn: a one-point walk is a line from there to there."""
    return line if len(line) > 1 else [*line, *line]


def _stop_words(s: RouteStop, window: str) -> str:
    """What a stop is worth and why, in the legend's words."""
    worth = expected_here_words(s.expected_needles, s.reported, window)
    return f"{worth}; {s.notes}" if s.notes else worth


def _stop_tooltip(s: RouteStop, window: str) -> str:
    said = _("Team {team}, stop {order}: minute {minute}, {worth}").format(
        team=s.team, order=s.order, minute=f"{s.arrival_minute:.0f}", worth=_stop_words(s, window)
    )
    return html.escape(said)


def _team_words(team: int, stops: int, minutes: float, km: float) -> str:
    return ngettext(
        "Team {team}: {stops} stop, {minutes} min, {km} km",
        "Team {team}: {stops} stops, {minutes} min, {km} km",
        stops,
    ).format(team=team, stops=stops, minutes=f"{minutes:.0f}", km=f"{km:.1f}")


def cleanup_map(page: CleanupPage, *, tiles: Tiles) -> str:
    fmap = base_map(route_bounds(page), tiles=tiles)
    add_outline(fmap, page.area)
    route = page.route
    for p in route.paths:
        coords = [[lat, lon] for lon, lat in _drawn(p.line)]
        path = folium.PolyLine(  # type: ignore[no-untyped-call]
            coords, color=team_colour(p.team), weight=5, opacity=0.85
        ).add_to(fmap)
        add_label(
            fmap,
            path,
            tooltip=_team_words(p.team, p.stops, p.duration_min, p.distance_m / 1000),
        )
    for s in route.stops:
        icon = folium.DivIcon(
            html=f'<div class="stop-number" style="background:{team_colour(s.team)}">'
            f"{s.order}</div>",
            icon_size=(26, 26),
            icon_anchor=(13, 13),
        )
        stop = folium.Marker([s.lat, s.lon], icon=icon).add_to(fmap)
        add_label(fmap, stop, tooltip=_stop_tooltip(s, route.window))
    for e in route.ends:
        end = folium.CircleMarker(
            [e.lat, e.lon],
            radius=9,
            color="#000000",
            weight=3,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=1.0,
        ).add_to(fmap)
        add_label(fmap, end, tooltip=html.escape(f"{e.kind.title()}: {e.name}"))
    add_sites(fmap, page.sites, show=False)
    folium.LayerControl(collapsed=True).add_to(fmap)
    items = [
        (
            team_colour(t.team),
            ngettext(
                "Team {team}: {stops} stop, {minutes} of {budget} min, {km} km",
                "Team {team}: {stops} stops, {minutes} of {budget} min, {km} km",
                t.stops,
            ).format(
                team=t.team,
                stops=t.stops,
                minutes=f"{t.duration_min:.0f}",
                budget=f"{route.budget_min:g}",
                km=f"{t.distance_m / 1000:.1f}",
            ),
        )
        for t in route.paths
    ]
    note = (
        expected_route_words(route.expected_needles, route.stops_visited, route.window)
        + "; "
        + _("{skipped} places left for another day.").format(skipped=route.stops_skipped)
        + " "
        + f"{route.routing_note.capitalize()}."
    )
    fmap.add_child(Legend(_("Clean-up route"), items, note, basis=page.basis))
    page_of(fmap).html.add_child(Element(_stop_list(page)))
    add_header(fmap, page.header_html)
    return render(fmap)


def _stop_list(page: CleanupPage) -> str:
    """The stops as a list a crew without a phone can carry; doubles as the log form."""
    stops = page.route.stops
    needles_label = _("Needles collected at team {team} stop {order}")
    after = html.escape(
        _(
            "After the walk, enter the needles collected at each stop you visited (0 if none; "
            "leave it empty if you did not get there)."
        )
    )
    rows = []
    for p in stops:
        needles_input = (
            f'<input type="number" name="needles" min="0" max="10000" inputmode="numeric" '
            f'aria-label="{html.escape(needles_label.format(team=p.team, order=p.order))}">'
            f'<input type="hidden" name="stop" value="{html.escape(p.stop)}">'
            if page.log_form_action
            else ""
        )
        when = _("Team {team} · minute {minute}").format(
            team=p.team, minute=f"{p.arrival_minute:.0f}"
        )
        rows.append(
            f'<li><span class="stop-number" style="background:{team_colour(p.team)}">'
            f"{p.order}</span> {html.escape(when)} · "
            f"{html.escape(_stop_words(p, page.route.window))}"
            f"{needles_input}</li>"
        )
    nothing = html.escape(_("No stops: nothing to visit in this period."))
    listing = "".join(rows) or f"<li>{nothing}</li>"
    stops_word = html.escape(_("Stops"))
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in page.hidden_fields
    )
    if page.log_form_action and stops:
        return (
            '<form class="route-list side-panel" method="post" '
            f'action="{html.escape(page.log_form_action)}">'
            f"<h2>{stops_word}</h2><ol>{listing}</ol>{hidden}{CSRF_SLOT}"
            f"<p>{after}</p>"
            f'<button type="submit">{html.escape(_("Log this clean-up"))}</button></form>'
        )
    return f'<div class="route-list side-panel"><h2>{stops_word}</h2><ol>{listing}</ol></div>'
