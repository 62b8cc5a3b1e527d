"""The HTML around the maps: sign-in, the index, map headers and refusals, from the Jinja2
templates in ``web/templates``. Autoescaping is on for every template, so a value (a program
name, a period, an error's detail) can only ever be text, never markup.

The map bodies are folium's; user text inside them goes through the JSON data island and
``/static/map-labels.js`` (see :mod:`maps.base`), never through these templates."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from geo_service.security import CSRF_FIELD

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every template, whatever its file name
    undefined=StrictUndefined,  # a misspelt name fails a test instead of showing nothing
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.globals.update(csrf_field=CSRF_FIELD)
_TOKEN_FIELD = TEMPLATES.from_string(
    '{% from "macros.html" import token_field %}{{ token_field(token) }}'
)


def render(template: str, **values: object) -> str:
    return TEMPLATES.get_template(template).render(**values)


def token_field(token: str) -> str:
    """The hidden form-token field; with ``""``, the empty slot of :data:`maps.base.CSRF_SLOT`."""
    return _TOKEN_FIELD.render(token=token)


def page(template: str, *, title: str, status: int = 200, **values: object) -> HTMLResponse:
    """A whole page; a refusal keeps its status (403, 400, ...) so links, caches and scripts
    see it too."""
    return HTMLResponse(render(template, title=title, **values), status_code=status)


def message(
    heading: str, text: str, *, title: str, status: int, back: tuple[str, str] | None = None
) -> HTMLResponse:
    """A plain answer saying why nothing happened; ``back`` is a link (path, words)."""
    return page("message.html", title=title, status=status, heading=heading, text=text, back=back)
