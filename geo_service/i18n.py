"""Which language a request is answered in, and the switch that changes it.

``?lang=xx`` wins (and is kept in the ``gs_lang`` cookie for a year), else the cookie, else
the phone's ``Accept-Language`` (q-values honoured), else English. Only a language with a
catalogue (:func:`maps.language.languages`) is ever taken; anything else is ignored and
never written back into a page, a cookie or a log.

The middleware sets the language of the words built for the request
(:func:`maps.language.speaking`), so map legends, templates and refusals agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.errors import problem_response
from geo_service.ingest.reports import ReportRefused
from maps.language import SOURCE_LANGUAGE, languages, own_name, speaking, translations

LANG_COOKIE = "gs_lang"
LANG_PARAMETER = "lang"
COOKIE_YEAR_S = 365 * 24 * 3600
API_PREFIX = "/v1/"
LANGUAGE_KEY = "geo_service.language"  # where the middleware leaves its choice in the scope
_MAX_ACCEPT_CHARS = 500  # a longer header is read this far only


def accepted_languages(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header we have, best first: ``"fr-CA,
    en;q=0.5"`` -> ``["fr", "en"]``. A range with ``q=0`` is refused; ``*`` names none."""
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate(header[:_MAX_ACCEPT_CHARS].split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        code = tag.strip().split("-")[0].lower()
        if weight > 0 and code in languages():
            ranked.append((-weight, order, code))
    return list(dict.fromkeys(code for _, _, code in sorted(ranked)))


def _asked(query: str) -> str | None:
    """The ``lang`` of a query string, if it names a language we have."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == LANG_PARAMETER and value in languages():
            return value
    return None


def _cookie(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:  # a mangled Cookie header means no choice, not an error page
        return None
    morsel = jar.get(LANG_COOKIE)
    return morsel.value if morsel is not None and morsel.value in languages() else None


def choose_language(query: str, cookie_header: str, accept_language: str) -> str:
    """Query, then cookie, then ``Accept-Language``, then English."""
    return (
        _asked(query)
        or _cookie(cookie_header)
        or next(iter(accepted_languages(accept_language)), None)
        or SOURCE_LANGUAGE
    )


def _scope_language(scope: Scope) -> str:
    if LANGUAGE_KEY in scope:
        chosen: str = scope[LANGUAGE_KEY]
        return chosen
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
    query = scope.get("query_string", b"").decode("latin-1")
    return choose_language(query, headers.get("cookie", ""), headers.get("accept-language", ""))


def language_of(request: Request) -> str:
    """The request's language (as the middleware chose it)."""
    return _scope_language(request.scope)


class LanguageMiddleware:
    """Speaks the request's language while it is answered; keeps a ``?lang=`` choice."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        asked = _asked(query)
        # ``lang`` is this middleware's: the routes (which refuse names they do not declare)
        # never see it, and the language it chose travels in the scope.
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != LANG_PARAMETER]
        language = _scope_language(scope)
        # In place, not a copy: the middlewares around this one read what the routes set in
        # the scope (the key check's mark, for the rate limit).
        scope[LANGUAGE_KEY] = language
        if len(kept) != len(parse_qsl(query, keep_blank_values=True)):
            scope["query_string"] = urlencode(kept).encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers.add_vary_header("Accept-Language")  # a page's words follow it
                if asked is not None:
                    secure = "; Secure" if scope.get("scheme") == "https" else ""
                    headers.append(
                        "Set-Cookie",
                        f"{LANG_COOKIE}={asked}; Max-Age={COOKIE_YEAR_S}; Path=/; "
                        f"SameSite=Strict; HttpOnly{secure}",
                    )
            await send(message)

        if scope.get("path", "").startswith(API_PREFIX):
            # The API answers in English (its words are cached for every caller); a
            # refusal of a report is told in the caller's language by its own handler.
            await self.app(scope, receive, send_with_cookie)
            return
        with speaking(language):
            await self.app(scope, receive, send_with_cookie)


@dataclass(frozen=True)
class SwitchLink:
    code: str
    name: str  # in its own language: "English", "Français"
    href: str
    current: bool


def switch_links(
    language: str, path: str, query: Sequence[tuple[str, str]] = ()
) -> list[SwitchLink]:
    """One link per language, to the same page (``path`` and ``query``) in that language."""
    kept = [(k, v) for k, v in query if k != LANG_PARAMETER]
    return [
        SwitchLink(
            code, own_name(code), f"{path}?{urlencode([*kept, ('lang', code)])}", code == language
        )
        for code in languages()
    ]


def request_switch(request: Request, query: Sequence[tuple[str, str]] = ()) -> list[SwitchLink]:
    """The switch of a page answered at this request's own path. Its query is only what the
    caller passes (values it checked itself): a refusal must never echo the request's."""
    return switch_links(language_of(request), request.url.path, query)


async def _report_refused(request: Request, exc: Exception) -> Response:
    """A refused report, told in the request's language; its ``code`` stays as it is."""
    assert isinstance(exc, ReportRefused)
    words = translations(language_of(request))
    detail = exc.told(words.gettext)
    title = words.gettext(exc.title)
    response = problem_response(exc.status, exc.code, title, detail, **exc.extra)
    response.headers.update(exc.headers)
    return response


def register_language(app: FastAPI) -> None:
    """The language middleware, and refusals that speak the request's language."""
    app.add_exception_handler(ReportRefused, _report_refused)
    app.add_middleware(LanguageMiddleware)
