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
from collections.abc import Iterator
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


Ring = tuple[tuple[float, float], ...]  # a polygon's corners, without the closing one


def _closed_ring(feature: dict[str, Any]) -> Ring | None:
    geometry = feature.get("geometry") or {}
    if geometry.get("type") != "Polygon" or len(geometry["coordinates"]) != 1:
        return None
    ring = geometry["coordinates"][0]
    if len(ring) < 4 or ring[0] != ring[-1]:
        return None
    return tuple((c[0], c[1]) for c in ring[:-1])


def _packable(layer: Element) -> TypeGuard[folium.GeoJson]:
    if not isinstance(layer, folium.GeoJson) or not layer.embed or not layer.style:
        return False
    if layer.highlight or layer.marker is not None or layer.zoom_on_click:
        return False
    return layer.on_each_feature is None and bool(layer.data.get("features"))


def _rings(layer: folium.GeoJson) -> list[Ring] | None:
    """Each feature's ring, or None if any feature is not a one-ring polygon."""
    rings = []
    for feature in layer.data["features"]:
        ring = _closed_ring(feature) if isinstance(feature.get("properties"), dict) else None
        if ring is None:
            return None
        rings.append(ring)
    return rings


class _Table:
    """Corners and squares numbered row by row, so a layer's sorted squares step by 1."""

    def __init__(self, rings: list[Ring]) -> None:
        self.vertices: dict[tuple[float, float], int] = {}
        self.rings: dict[Ring, int] = {}
        self.corners: list[tuple[int, ...]] = []
        for ring in sorted(set(rings), key=lambda r: (r[0][1], r[0][0])):
            self.rings[ring] = len(self.rings)
            self.corners.append(
                tuple(self.vertices.setdefault(c, len(self.vertices)) for c in ring)
            )


def _key(value: Any) -> Any:
    """``value`` as a dictionary key (JSON scalars as they are, a style's flat dictionary as
    its items; anything else spelt out)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict) and all(_key(v) is v for v in value.values()):
        return tuple(sorted(value.items()))
    return json.dumps(value, sort_keys=True)


def _columns(features: list[dict[str, Any]]) -> list[str]:
    """Keys every feature has, with too many distinct values to share."""
    first = features[0]["properties"]
    keys = [k for k in first if all(k in f["properties"] for f in features)]
    return [k for k in keys if len({_key(f["properties"][k]) for f in features}) > SHARED_AT_MOST]


def _area(ring: Ring) -> float:
    """Twice a quadrilateral's area: the cross product of its diagonals."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ring
    return abs((x2 - x0) * (y3 - y1) - (x3 - x1) * (y2 - y0))


def _drawn_in_any_order(rings: list[Ring], ids: list[int]) -> bool:
    """Distinct squares of one size (on a grid, so none overlaps another): the order they
    are drawn in cannot show, and sorted they pack to steps of 1."""
    if len(set(ids)) < len(ids) or any(len(r) != 4 for r in rings):
        return False
    areas = [_area(r) for r in rings]
    return max(areas) < 1.5 * min(areas)


def _pack(layer: folium.GeoJson, rings: list[Ring], table: _Table) -> None:
    features = layer.data["features"]
    ids = [table.rings[r] for r in rings]
    if _drawn_in_any_order(rings, ids):
        order = sorted(range(len(features)), key=ids.__getitem__)
        features, ids = [features[n] for n in order], [ids[n] for n in order]
    columns = _columns(features)
    styles: dict[Any, int] = {}
    kinds: dict[Any, int] = {}
    shared_of: list[list[Any]] = []
    steps, kind_of, previous = [], [], 0
    for feature, ring in zip(features, ids, strict=True):
        number = styles.setdefault(_key(layer.style_function(feature)), len(styles))
        shared = {k: v for k, v in feature["properties"].items() if k not in columns}
        key = (number, tuple((k, _key(v)) for k, v in shared.items()))
        if key not in kinds:
            kinds[key] = len(kinds)
            shared_of.append([number, shared])
        kind_of.append(kinds[key])
        steps.append(ring - previous)
        previous = ring
    # Spelt as folium spells styles: a handful per layer, and tests read them.
    spelt = [
        json.dumps(dict(k) if isinstance(k, tuple) else json.loads(k), sort_keys=True)
        for k in styles
    ]
    spelt = [style.translate(JSON_IN_HTML) for style in spelt]
    data = {
        "k": shared_of,
        "r": steps,
        "i": kind_of,
        "p": {c: [f["properties"][c] for f in features] for c in columns},
    }
    # Read by PACKED_LAYER; folium's GeoJson has no slot for them.
    vars(layer).update(packed_styles="[" + ",".join(spelt) + "]", packed_data=json_for_html(data))
    layer._template = PACKED_LAYER
    layer.style = False  # folium's own style switch (a case per square) is not built


def _tree(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _tree(child)


def pack_layers(fmap: folium.Map) -> None:
    """Pack every polygon layer of ``fmap`` (call once, just before rendering)."""
    layers = [(e, _rings(e)) for e in _tree(fmap) if _packable(e)]
    packable = [(layer, rings) for layer, rings in layers if rings is not None]
    if not packable:
        return
    table = _Table([r for _, rings in packable for r in rings])
    for layer, rings in packable:
        _pack(layer, rings, table)
    packed = PackedGeometry(list(table.vertices), table.corners)
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
