"""The printable drug-alert poster page, ``/alerts/{id}/poster``: one page on A4 or Letter,
in the request's language, no script. Who may open it is decided in
:mod:`geo_service.services.alerts.poster`; any refusal is the same "not found" page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Header, Path, Request
from starlette.responses import HTMLResponse

from geo_service.auth import SESSION_COOKIE, Principal, authenticate, session_principal
from geo_service.context import SettingsDep, StoreDep
from geo_service.i18n import language_of
from geo_service.services.alerts.poster import find_poster, poster_of
from geo_service.web.shell import message, page
from maps.language import N_, _

router = APIRouter(include_in_schema=False)
NOT_FOUND_HEADING = N_("There is no such alert poster")


def optional_viewer(
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> Principal | None:
    """A Bearer key or a signed-in browser; nobody (the public) is not an error here."""
    if authorization:
        return authenticate(store, authorization)
    return session_principal(store, session) if session else None


@router.get("/alerts/{ref}/poster")
def alert_poster(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    ref: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16}$")],
    authorization: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
) -> HTMLResponse:
    viewer = optional_viewer(store, authorization, session)
    found = find_poster(store, viewer, ref)
    poster = None if found is None else poster_of(store, settings, found, language_of(request))
    if poster is None:
        response = message(
            request,
            NOT_FOUND_HEADING,
            _("The alert may not exist, or it has not been published."),
            title=N_("Drug alert"),
            status=404,
        )
    else:
        response = page(request, "alert_poster.html", title=N_("Drug alert"), poster=poster)
    # A poster the steward unpublishes must not stay in a cache.
    response.headers["Cache-Control"] = "no-store"
    return response
