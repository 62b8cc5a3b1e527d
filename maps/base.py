"""The parts every map shares: a base map on self-hosted assets, legend, outline, sites.

Pages load scripts and styles only from the service (``/static``): :func:`render` refuses to
return a page that points anywhere else.

User text (site, candidate and exclusion names, opening hours, notes) never enters a page's
inline scripts: builders hand it to :func:`add_label`, which puts it in a JSON data island
that ``/static/map-labels.js`` binds to the layers. Element names are numbered in tree
order, so a page's inline scripts, and their CSP hashes, change only with its layers.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import folium
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from maps.language import _, current_language
from maps.packing import json_for_html as json_for_html  # where pages have always found it
from maps.packing import pack_layers
from maps.records import BasisNote, Geometry, Site

ASSET_JS = [("leaflet", "/static/vendor/leaflet/leaflet.js")]
ASSET_CSS = [
    ("leaflet_css", "/static/vendor/leaflet/leaflet.css"),
    ("maps_css", "/static/maps.css"),
]
OFF_HOST = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(?!/)([^"]*)"', re.I)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
LABELS_ID = "map-labels"
# Where a page's forms take the viewer's token: filled per request, so cached pages hold none.
CSRF_SLOT = '<input type="hidden" name="csrf_token" value="">'


class MapError(ValueError):
    """A page would load something from another host, or its inputs are unusable."""


@dataclass(frozen=True)
class Tiles:
    """The base map: a tile source (``url=None``: none) and the address of the program's
    streets, drawn in the browser when tiles are off or fail (None: no network imported)."""

    url: str | None
    attribution: str = ""
    streets: str | None = None


class Labels(MacroElement):
    """The page's user text as JSON data, bound to layers by ``/static/map-labels.js``.

    Each entry names a layer and gives its tooltip and/or popup as HTML in which every
    user-supplied string is already escaped. The data island is never run as script.
    """

    _template = Template(
        """
{% macro html(this, kwargs) %}
<script type="application/json" id="{{ this.element_id }}">{{ this.data() }}</script>
<script src="/static/map-labels.js" defer></script>
{% endmacro %}
"""
    )

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Labels"
        self.element_id = LABELS_ID
        self.entries: list[tuple[Element, dict[str, Any]]] = []

    def data(self) -> str:
        return json_for_html([{"layer": layer.get_name(), **text} for layer, text in self.entries])


class FitToData(MacroElement):
    """Opens the map on its data: ``/static/fit.js`` fits the view to the named layers once
    they are drawn (the page carries no new coordinates, only layer names); with nothing
    drawn, the map stays fitted to the whole area."""

    _template = Template(
        """
{% macro html(this, kwargs) %}
<script type="application/json" id="map-fit">{{ this.data() }}</script>
<script src="/static/fit.js" defer></script>
{% endmacro %}
"""
    )

    def __init__(self, fmap: folium.Map, layers: Sequence[Element]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "FitToData"
        self.fmap = fmap
        self.layers = list(layers)

    def data(self) -> str:
        return json_for_html(
            {"map": self.fmap.get_name(), "layers": [la.get_name() for la in self.layers]}
        )


class StreetBase(MacroElement):
    """What ``/static/streets.js`` needs to draw the offline base map (see
    :mod:`maps.streets`): the map's and the tile layer's names and the streets' address."""

    _template = Template(
        """
{% macro html(this, kwargs) %}
<script type="application/json" id="map-streets">{{ this.data() }}</script>
<script src="/static/streets.js" defer></script>
{% endmacro %}
"""
    )

    def __init__(self, fmap: folium.Map, tile_layer: Element | None, streets: str | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "StreetBase"
        self.fmap = fmap
        self.tile_layer = tile_layer
        self.streets = streets

    def data(self) -> str:
        tile_layer = self.tile_layer.get_name() if self.tile_layer is not None else None
        return json_for_html(
            {"map": self.fmap.get_name(), "tiles": tile_layer, "streets": self.streets}
        )


def fit_to_data(fmap: folium.Map, layers: Sequence[Element]) -> None:
    """Open ``fmap`` on ``layers`` (cells, gaps) rather than the whole area."""
    if layers:
        fmap.add_child(FitToData(fmap, layers))


def add_label(
    fmap: folium.Map,
    layer: Element,
    *,
    tooltip: str = "",
    popup: str = "",
    sticky: bool = False,
    name: str = "",
) -> None:
    """Give ``layer`` a tooltip and/or popup: HTML whose user text the caller has escaped.
    ``name`` (escaped too) becomes a label beside the layer when the map has no tiles."""
    text: dict[str, Any] = {}
    if name:
        text["name"] = name
    if tooltip:
        text["tooltip"] = tooltip
        text["sticky"] = sticky
    if popup:
        text["popup"] = popup
    labels = next(c for c in fmap._children.values() if isinstance(c, Labels))
    labels.entries.append((layer, text))


def base_map(bounds: Sequence[float], *, tiles: Tiles) -> folium.Map:
    """A map fitted to ``bounds`` (west, south, east, north) with a scale bar; its streets
    are drawn in the browser when tiles are off or fail."""
    west, south, east, north = bounds
    fmap = folium.Map(tiles=None, control_scale=True, zoom_snap=0.5)
    fmap.default_js = ASSET_JS
    fmap.default_css = ASSET_CSS
    fmap.add_child(Labels())
    tile_layer = None
    if tiles.url:
        tile_layer = folium.TileLayer(tiles=tiles.url, attr=tiles.attribution, name="Street map")
        tile_layer.add_to(fmap)
    fmap.add_child(StreetBase(fmap, tile_layer, tiles.streets))
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def add_outline(fmap: folium.Map, area: Geometry) -> None:
    folium.GeoJson(
        area,
        name=_("Service area"),
        style_function=lambda _: {"color": "#444444", "weight": 2, "fill": False},
        control=False,
    ).add_to(fmap)


def add_sites(fmap: folium.Map, sites: Sequence[Site], *, show: bool = True) -> None:
    """Service sites as labelled circles: name, services, and today's opening hours."""
    group = folium.FeatureGroup(name=_("Service sites"), show=show)
    for site in sites:
        lon, lat = site.lon, site.lat
        today = _("Today: {hours}").format(hours=site.today or _("hours not given"))
        label = (
            f"<b>{html.escape(site.name)}</b><br>{html.escape(', '.join(site.services))}"
            f"<br>{html.escape(today)}"
        )
        marker = folium.CircleMarker(
            location=[round(lat, 6), round(lon, 6)],
            radius=7,
            color="#1b7837",
            weight=2,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=1.0,
        ).add_to(group)
        add_label(fmap, marker, tooltip=label, sticky=True, name=html.escape(site.name))
    group.add_to(fmap)


LEGEND = Template(
    """
{% macro html(this, kwargs) %}
{% if this.warning %}<div class="legend-stack">
<p class="basis-warning" role="status">{{ this.warning }}</p>{% endif %}
<details class="map-legend" open aria-label="{{ this.legend_word }}">
  <summary class="legend-toggle">{{ this.legend_word }}</summary>
  <h2>{{ this.title }}</h2>
  <ul>
  {% for colour, label in this.items %}
    <li><span class="swatch" style="background:{{ colour }}"></span>{{ label }}</li>
  {% endfor %}
  </ul>
  {% if this.note %}<p>{{ this.note }}</p>{% endif %}
  {% if this.basis %}<p class="legend-basis">{{ this.basis }}</p>{% endif %}
  {% if this.details %}<p class="legend-details">{{ this.details }}</p>{% endif %}
</details>{% if this.warning %}</div>{% endif %}
<script src="/static/legend.js" defer></script>
{% endmacro %}
"""
)


class Legend(MacroElement):
    """A plain-language legend that folds behind a "Legend" button (``<details>``).

    It is open as served (so it prints and reads without script); ``/static/legend.js``
    folds it on a narrow screen, where it would cover the map. ``details`` is the
    statistician's line, for managers. ``basis`` says what share of the reports the map
    rests on; its warning stands above the legend, outside the fold, so it is read first.
    """

    _template = LEGEND

    def __init__(
        self,
        title: str,
        items: Sequence[tuple[str, str]],
        note: str = "",
        details: str = "",
        basis: BasisNote | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "Legend"
        self.title = html.escape(title)
        self.items = [(colour, html.escape(label)) for colour, label in items]
        self.note = html.escape(note)
        self.legend_word = html.escape(_("Legend"))
        self.details = (
            html.escape(_("Details: {details}").format(details=details)) if details else ""
        )
        self.basis = html.escape(basis.words) if basis else ""
        self.warning = html.escape(basis.warning) if basis else ""


def page_of(fmap: folium.Map) -> Figure:
    return cast(Figure, fmap.get_root())


def add_header(fmap: folium.Map, fragment: str) -> None:
    """Trusted page chrome (title, period form, download links) above the map."""
    page_of(fmap).html.add_child(Element(fragment))


def _tree(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _tree(child)


def render(fmap: folium.Map) -> str:
    """The page's HTML; fails if anything would load from another host."""
    pack_layers(fmap)
    root = page_of(fmap)
    for number, element in enumerate(_tree(root)):
        element._id = f"{number:x}"  # in place of a random id: the same map, the same scripts
    page: str = root.render()
    # folium writes a bare <html>: say which language the page is in.
    page = page.replace("<html>", f'<html lang="{html.escape(current_language())}">', 1)
    off_host = OFF_HOST.findall(page)
    if off_host:
        raise MapError(f"the page would load {len(off_host)} files from other hosts")
    return page


def inline_script_hashes(page: str) -> list[str]:
    """CSP source expressions allowing exactly this page's own inline scripts."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in INLINE_SCRIPT.findall(page)
    ]
