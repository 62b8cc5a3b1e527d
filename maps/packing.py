"""Square layers packed for the wire: a city's pages carry tens of thousands of squares.

Folium writes each square as a GeoJSON Feature (five corner pairs, its properties spelled
out, an id and a ``case`` of the style switch); a manager's year of months repeated every
square twelve times. :func:`pack_layers` rewrites every polygon layer of a page instead:

- each corner once per page (``packed_vertices``, ``[lon, lat]`` pairs exactly as given, so
  a peer's page still holds only grid corners) and each square once, as four corner numbers
  (``packed_rings``), shared by every layer (months, classes) that draws it;
- per layer, the squares as steps through that table, and the properties that take few values
  (a class, its words, its style) once in a small table each square points into; the rest
  (counts) as columns.

``unpack_cells`` (inline, once per page) rebuilds the same GeoJSON features in the
browser before Leaflet reads them; :func:`unpacked_layers` does the same in Python (tests).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any, TypeGuard

import folium
from branca.element import Element, MacroElement
from folium.template import Template

SHARED_AT_MOST = 16  # a property with more distinct values than this becomes a column
# Characters that could end a <script> block, start markup, or end a JavaScript line.
JSON_IN_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
UNPACK = """
function unpack_cells(d) {
  var out = [], ring = 0;
  for (var n = 0; n < d.r.length; n++) {
    ring += d.r[n];
    var kind = d.k[d.i[n]], corners = packed_rings[ring].map(function (v) {
      return packed_vertices[v];
    });
    corners.push(corners[0]);
    var properties = Object.assign({}, kind[1]);
    for (var key in d.p) properties[key] = d.p[key][n];
    out.push({type: "Feature", s: kind[0], properties: properties,
              geometry: {type: "Polygon", coordinates: [corners]}});
  }
  return out;
}
"""


def json_for_html(value: Any) -> str:
    """JSON that can sit inside an HTML ``<script>`` block unchanged."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(JSON_IN_HTML)


class PackedGeometry(MacroElement):
    """The page's corners and squares, and the function that unpacks a layer."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
var packed_vertices = {{ this.vertices }};
var packed_rings = {{ this.rings }};
{{ this.unpack }}
{% endmacro %}
"""
    )

    def __init__(self, vertices: list[tuple[float, float]], rings: list[tuple[int, ...]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "PackedGeometry"
        self.vertices = json_for_html([list(v) for v in vertices])
        self.rings = json_for_html([list(r) for r in rings])
        self.unpack = UNPACK


PACKED_LAYER = Template(
    """
{% macro script(this, kwargs) %}
var {{ this.get_name() }}_styles = {{ this.packed_styles }};
var {{ this.get_name() }} = L.geoJson(null, {
    {%- if this.smooth_factor is not none %}
    smoothFactor: {{ this.smooth_factor|tojson }},
    {%- endif %}
    style: function (feature) { return {{ this.get_name() }}_styles[feature.s]; },
    ...{{ this.options|tojavascript }}
});
{{ this.get_name() }}.addData(unpack_cells({{ this.packed_data }}));
{% endmacro %}
"""
)


def _closed_ring(feature: dict[str, Any]) -> list[Any] | None:
    geometry = feature.get("geometry") or {}
    if geometry.get("type") != "Polygon" or len(geometry["coordinates"]) != 1:
        return None
    ring = geometry["coordinates"][0]
    return list(ring[:-1]) if len(ring) >= 4 and ring[0] == ring[-1] else None


def _packable(layer: Element) -> TypeGuard[folium.GeoJson]:
    if not isinstance(layer, folium.GeoJson) or not layer.embed or not layer.style:
        return False
    if layer.highlight or layer.marker is not None or layer.zoom_on_click:
        return False
    if layer.on_each_feature is not None:
        return False
    features = layer.data.get("features") or []
    return bool(features) and all(
        isinstance(f.get("properties"), dict) and _closed_ring(f) is not None for f in features
    )


class _Table:
    def __init__(self) -> None:
        self.vertices: dict[tuple[float, float], int] = {}
        self.rings: dict[tuple[int, ...], int] = {}

    def ring(self, corners: Sequence[Sequence[float]]) -> int:
        ids = tuple(self.vertices.setdefault((c[0], c[1]), len(self.vertices)) for c in corners)
        return self.rings.setdefault(ids, len(self.rings))


def _columns(features: list[dict[str, Any]]) -> list[str]:
    """Keys every feature has, with too many distinct values to share."""
    first = features[0]["properties"]
    keys = [k for k in first if all(k in f["properties"] for f in features)]
    return [
        k for k in keys if len({json.dumps(f["properties"][k]) for f in features}) > SHARED_AT_MOST
    ]


def _area(ring: Sequence[Sequence[float]]) -> float:
    return abs(
        sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, [*ring[1:], ring[0]], strict=True))
    )


def _drawn_in_any_order(rings: list[list[Any]]) -> bool:
    """Distinct squares of one size (on a grid, so none overlaps another): the order they
    are drawn in cannot show, and sorted they pack to steps of 1."""
    if len({json.dumps(r) for r in rings}) < len(rings):
        return False
    areas = [_area(r) for r in rings]
    return all(len(r) == 4 for r in rings) and max(areas) < 1.5 * min(areas)


def _pack(layer: folium.GeoJson, table: _Table) -> None:
    features = layer.data["features"]
    rings = [_closed_ring(f) or [] for f in features]
    ids = [table.ring(r) for r in rings]
    if _drawn_in_any_order(rings):
        order = sorted(range(len(features)), key=ids.__getitem__)
        features, ids = [features[n] for n in order], [ids[n] for n in order]
    columns = _columns(features)
    styles: dict[str, int] = {}
    kinds: dict[str, int] = {}
    steps, kind_of, previous = [], [], 0
    for feature, ring in zip(features, ids, strict=True):
        # Spelt as folium spells styles: a handful per layer, and tests read them.
        style = json.dumps(layer.style_function(feature), sort_keys=True).translate(JSON_IN_HTML)
        shared = {k: v for k, v in feature["properties"].items() if k not in columns}
        kind = json.dumps([styles.setdefault(style, len(styles)), shared])
        kind_of.append(kinds.setdefault(kind, len(kinds)))
        steps.append(ring - previous)
        previous = ring
    data = {
        "k": [json.loads(k) for k in kinds],
        "r": steps,
        "i": kind_of,
        "p": {c: [f["properties"][c] for f in features] for c in columns},
    }
    # Read by PACKED_LAYER; folium's GeoJson has no slot for them.
    vars(layer).update(packed_styles="[" + ",".join(styles) + "]", packed_data=json_for_html(data))
    layer._template = PACKED_LAYER
    layer.style = False  # folium's own style switch (a case per square) is not built


def _tree(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _tree(child)


def pack_layers(fmap: folium.Map) -> None:
    """Pack every polygon layer of ``fmap`` (call once, just before rendering)."""
    layers = [e for e in _tree(fmap) if _packable(e)]
    if not layers:
        return
    table = _Table()
    # Squares numbered row by row, so a layer's sorted squares step by 1 through the table.
    every = [_closed_ring(f) or [] for la in layers for f in la.data["features"]]
    for ring in sorted(every, key=lambda r: (r[0][1], r[0][0])):
        table.ring(ring)
    for layer in layers:
        _pack(layer, table)
    packed = PackedGeometry(list(table.vertices), list(table.rings))
    packed._parent = fmap
    fmap._children = OrderedDict([(packed.get_name(), packed), *fmap._children.items()])


# -- reading a page back (tests) --------------------------------------------------------------

_ASSIGNED = r"var {name} = (.*?);\n"
_UNPACK_CALL = re.compile(r"(\w+)\.addData\(unpack_cells\((.*?)\)\);\n")


def unpacked_layers(page: str) -> dict[str, list[dict[str, Any]]]:
    """Each packed layer of a rendered page (by its variable name) as GeoJSON features."""
    found: dict[str, list[dict[str, Any]]] = {}
    vertices_text = re.search(_ASSIGNED.format(name="packed_vertices"), page)
    rings_text = re.search(_ASSIGNED.format(name="packed_rings"), page)
    if vertices_text is None or rings_text is None:
        return found
    vertices = json.loads(vertices_text.group(1))
    rings = json.loads(rings_text.group(1))
    for name, text in _UNPACK_CALL.findall(page):
        data = json.loads(text)
        features, ring = [], 0
        for n, step in enumerate(data["r"]):
            ring += step
            style, shared = data["k"][data["i"][n]]
            corners = [vertices[v] for v in rings[ring]]
            properties = {**shared, **{k: column[n] for k, column in data["p"].items()}}
            features.append(
                {
                    "type": "Feature",
                    "style": style,
                    "properties": properties,
                    "geometry": {"type": "Polygon", "coordinates": [[*corners, corners[0]]]},
                }
            )
        found[name] = features
    return found
