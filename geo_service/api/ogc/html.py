"""The /ogc pages as HTML (the OGC's html conformance class), from the web's own Jinja
templates: autoescaped, in the request's language, with no script.

The one place an api module reaches into ``geo_service.web`` (its template shell), allowed by
name in pyproject.toml's layer contract: the pages share the maps' templates and language
switch instead of a second copy of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import HTMLResponse

from geo_service.geojson import Feature
from geo_service.web.shell import page
from maps.language import _

Cell = tuple[str, str | None]  # text, and a link (or None)


@dataclass(frozen=True)
class Table:
    head: Sequence[str]
    rows: Sequence[Sequence[Cell]]


@dataclass(frozen=True)
class View:
    """What one page shows: its heading (already in the request's language) is its title."""

    heading: str
    json_href: str
    lines: Sequence[str] = ()
    links: Sequence[tuple[str, str]] = ()
    table: Table | None = None
    pages: Sequence[tuple[str, str]] = field(default_factory=tuple)
    title: str = ""


def html_page(request: Request, view: View) -> HTMLResponse:
    return page(
        request,
        "ogc.html",
        title=view.title or view.heading,
        switch_query=[("f", "html")],
        heading=view.heading,
        lines=view.lines,
        links=view.links,
        table=view.table,
        pages=view.pages,
        json_href=view.json_href,
    )


def shown(value: object) -> str:
    """A property's value as text for a table cell (lists joined, nothing as a dash)."""
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def features_table(features: Sequence[Feature], item_href: str) -> Table:
    """One row per feature: its id (a link to it) and its properties."""
    names: list[str] = []
    for feature in features:
        names += [n for n in feature["properties"] if n not in names]
    rows = [
        [
            (str(f.get("id", "")), f"{item_href}/{f.get('id', '')}?f=html"),
            *[(shown(f["properties"].get(n)), None) for n in names],
        ]
        for f in features
    ]
    return Table([_("id"), *names], rows)


def feature_table(feature: Feature) -> Table:
    rows = [[(name, None), (shown(value), None)] for name, value in feature["properties"].items()]
    return Table([_("Property"), _("Value")], rows)
