"""Who is looking at a map page: sign-in and sign-out with a session cookie, the viewer (and
their :class:`ProgramContext`) from that cookie or a Bearer key, and the form tokens.

Every form that changes something (sign-in, sign-out, logging a clean-up) carries a token
derived from the browser's own cookie; map pages are built (and cached) with an empty token
field that is filled per request, so no viewer's token is ever in another viewer's page."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Cookie, Depends, Form, Header, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from geo_service.auth import (
    SESSION_COOKIE,
    Principal,
    authenticate,
    hash_key,
    session_principal,
    start_session,
)
from geo_service.context import ServicesDep, SettingsDep, StoreDep
from geo_service.errors import Unauthenticated
from geo_service.security import KEY_VERIFIED, form_token, form_token_matches
from geo_service.services.program import ProgramContext
from geo_service.web.shell import message, page
from maps.language import N_, _

router = APIRouter(include_in_schema=False)
SIGNIN_COOKIE = "gs_signin"  # the sign-in form's own secret, before there is a session
SessionCookie = Annotated[str | None, Cookie(alias=SESSION_COOKIE)]


class SignInNeeded(Exception):
    """A map page without a session: send the browser to the sign-in page."""

    def __init__(self, target: str) -> None:
        self.target = target


async def send_to_sign_in(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    return RedirectResponse(f"/signin?next={quote(exc.target)}", status_code=303)


def get_viewer(
    request: Request,
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
    session: SessionCookie = None,
) -> Principal:
    """The signed-in person: a Bearer key, or a browser session (else off to sign in)."""
    if authorization:
        by_key = authenticate(store, authorization)
        request.scope[KEY_VERIFIED] = True  # counted against the key, as on the API
        return by_key
    principal = session_principal(store, session) if session else None
    if principal is None:
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInNeeded(request.url.path + query)
    return principal


ViewerDep = Annotated[Principal, Depends(get_viewer)]


def get_viewer_context(services: ServicesDep, viewer: ViewerDep) -> ProgramContext:
    """The request's context for the viewer: what ``ContextDep`` is for a Bearer key."""
    return ProgramContext(services, viewer)


ViewerContext = Annotated[ProgramContext, Depends(get_viewer_context)]


def viewer_form_token(session: SessionCookie = None) -> str:
    """The token this browser's forms must send back ("" for Bearer-key viewers)."""
    return form_token(session) if session else ""


FormTokenDep = Annotated[str, Depends(viewer_form_token)]


def form_refused(request: Request) -> HTMLResponse:
    return message(
        request,
        N_("That form is out of date"),
        _("Nothing was changed. Go back, reload the page and send it again."),
        title=N_("Refused"),
        status=403,
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only paths on this service, never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/maps"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int, path: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
    )


@router.get("/signin")
def signin_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    pending: Annotated[str | None, Cookie(alias=SIGNIN_COOKIE)] = None,
) -> HTMLResponse:
    # Keep a pending secret, so two open sign-in tabs both still work.
    secret = pending if pending and len(pending) == 43 else secrets.token_urlsafe(32)
    response = page(
        request,
        "signin.html",
        title=N_("Sign in"),
        next=safe_next(next),
        token=form_token(secret),
        switch_query=[("next", safe_next(next))] if next else [],
    )
    set_cookie(response, request, SIGNIN_COOKIE, secret, max_age=3600, path="/signin")
    return response


@router.post("/signin")
def signin(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    key: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=500)] = None,
    csrf_token: Annotated[str | None, Form(max_length=100)] = None,
    pending: Annotated[str | None, Cookie(alias=SIGNIN_COOKIE)] = None,
) -> Response:
    # Checked before the key: a forged sign-in (into the attacker's own key) never starts.
    if not form_token_matches(pending, csrf_token):
        return form_refused(request)
    try:
        token, _ = start_session(store, key, hours=settings.session_hours)
    except Unauthenticated:
        return page(request, "signin_refused.html", title=N_("Sign in"), status=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    max_age = int(settings.session_hours * 3600)
    set_cookie(response, request, SESSION_COOKIE, token, max_age=max_age, path="/")
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(
    request: Request,
    store: StoreDep,
    session: SessionCookie = None,
    csrf_token: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    if session and not form_token_matches(session, csrf_token):
        return form_refused(request)
    if session:
        store.end_session(hash_key(session))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.headers["Clear-Site-Data"] = '"cache", "storage"'  # the phone's report queue too
    return response
