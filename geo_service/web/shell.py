"""The HTML around the maps: sign-in, the index, map headers and refusals, from the Jinja2
templates in ``web/templates``. Autoescaping is on for every template, so a value (a program
name, a period, an error's detail) can only ever be text, never markup.

Every word a person reads goes through ``_()`` / ``{% trans %}`` (Jinja2's i18n extension,
newstyle gettext). The environment is shared by every thread, so no language is installed in
it: each render passes its own language's ``gettext``, and a translation is escaped like any
other value (a ``<`` in a catalogue is text, not markup).

The map bodies are folium's; user text inside them goes through the JSON data island and
``/static/map-labels.js`` (see :mod:`maps.base`), never through these templates."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from geo_service.i18n import language_of, request_switch
from geo_service.security import CSRF_FIELD
from maps.language import translations

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every template, whatever its file name
    undefined=StrictUndefined,  # a misspelt name fails a test instead of showing nothing
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"],
)
TEMPLATES.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's lines are one message
TEMPLATES.newstyle_gettext = True  # type: ignore[attr-defined]  # set by the i18n extension
TEMPLATES.globals.update(csrf_field=CSRF_FIELD)
_TOKEN_FIELD = TEMPLATES.from_string(
    '{% from "macros.html" import token_field %}{{ token_field(token) }}'
)


@cache
def gettext_of(language: str) -> dict[str, Any]:
    """The template's ``gettext``/``ngettext`` in one language: the translation escaped,
    then filled with its (escaped) values, as newstyle gettext fills them."""
    words = translations(language)

    @pass_context
    def gettext(_: Context, message: str, **values: object) -> Markup:
        return escape(words.gettext(message)) % values

    @pass_context
    def ngettext(_: Context, singular: str, plural: str, n: int, **values: object) -> Markup:
        return escape(words.ngettext(singular, plural, n)) % {"num": n, **values}

    return {"gettext": gettext, "ngettext": ngettext, "language": language}


def render(template: str, language: str, **values: object) -> str:
    return TEMPLATES.get_template(template).render(**gettext_of(language), **values)


def token_field(token: str) -> str:
    """The hidden form-token field; with ``""``, the empty slot of :data:`maps.base.CSRF_SLOT`."""
    return _TOKEN_FIELD.render(token=token)


def page(
    request: Request,
    template: str,
    *,
    title: str,
    status: int = 200,
    switch_query: Sequence[tuple[str, str]] = (),
    **values: object,
) -> HTMLResponse:
    """A whole page in the request's language, with its language switch (to this path with
    ``switch_query``, never the request's own query); a refusal keeps its status (403, 400,
    ...) so links, caches and scripts see it too. ``title`` is an English message,
    translated here."""
    language = language_of(request)
    shown = translations(language).gettext(title)
    body = render(
        template,
        language,
        title=shown,
        switch=request_switch(request, switch_query),
        **values,
    )
    return HTMLResponse(body, status_code=status)


def message(
    request: Request,
    heading: str,
    text: str,
    *,
    title: str,
    status: int,
    back: tuple[str, str] | None = None,
) -> HTMLResponse:
    """A plain answer saying why nothing happened; ``back`` is a link (path, words). The
    heading, title and link words are English messages, translated here; ``text`` is
    translated by the caller (it is often filled with a number)."""
    words = translations(language_of(request)).gettext
    shown_back = (back[0], words(back[1])) if back else None
    return page(
        request,
        "message.html",
        title=title,
        status=status,
        heading=words(heading),
        text=text,
        back=shown_back,
    )
