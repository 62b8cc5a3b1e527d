"""``/join``: a phone signs in with a steward's one-time code instead of a key.

A ``?code=`` link (what the QR code carries) only fills the field: a GET never uses a code,
so a link preview or a prefetch cannot burn it. The POST, with the form token of this
browser's own ``/join`` cookie, does. Every refused code looks the same, is audited without
the code, and counts against the address and against everyone (``JoinLimiter``)."""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from geo_service.audit import record
from geo_service.auth import SESSION_COOKIE, Action
from geo_service.context import StoreDep
from geo_service.security import form_token, form_token_matches
from geo_service.services.invites import (
    MAX_SESSION_DAYS,
    JoinLimiter,
    client_tag,
    join,
    normalise,
    shown,
)
from geo_service.web.session import form_refused, set_cookie
from geo_service.web.shell import message, page
from maps.language import N_, _

router = APIRouter(include_in_schema=False)
JOIN_COOKIE = "gs_join"  # the join form's own secret, before there is a session


def _limiter(request: Request) -> JoinLimiter:
    limiter: JoinLimiter = request.app.state.join_limiter
    return limiter


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/join")
def join_form(
    request: Request,
    code: Annotated[str | None, Query(max_length=40)] = None,
    pending: Annotated[str | None, Cookie(alias=JOIN_COOKIE)] = None,
) -> HTMLResponse:
    secret = pending if pending and len(pending) == 43 else secrets.token_urlsafe(32)
    ready = normalise(code) if code else None
    response = page(
        request,
        "join.html",
        title=N_("Join"),
        code=shown(ready) if ready else "",
        token=form_token(secret),
        days=MAX_SESSION_DAYS,
        switch_query=[("code", shown(ready))] if ready else [],  # a QR link keeps its code
    )
    # The code sits in this page's address: keep the page out of every cache.
    response.headers["Cache-Control"] = "no-store"
    set_cookie(response, request, JOIN_COOKIE, secret, max_age=3600, path="/join")
    return response


def _too_many(request: Request, store: StoreDep, address: str, wait: int) -> HTMLResponse:
    record(
        store,
        "invite.rate_limited",
        actor="join page",
        client=client_tag(store.server_secret(), address),
    )
    response = message(
        request,
        N_("Too many tries"),
        _("Wait {minutes} minutes, then try again, or ask your steward.").format(
            minutes=max(1, wait // 60)
        ),
        title=N_("Join"),
        status=429,
    )
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/join")
def join_post(
    request: Request,
    store: StoreDep,
    code: Annotated[str, Form(max_length=40)],
    csrf_token: Annotated[str | None, Form(max_length=100)] = None,
    pending: Annotated[str | None, Cookie(alias=JOIN_COOKIE)] = None,
) -> Response:
    if not form_token_matches(pending, csrf_token):
        return form_refused(request)
    limiter, address, now = _limiter(request), _address(request), time.time()
    wait = limiter.retry_after(store, address, now)
    if wait is not None:
        return _too_many(request, store, address, wait)
    joined = join(store, code, now=int(now))
    if joined is None:
        limiter.failed(store, address, now)
        record(
            store,
            "invite.refused",
            actor="join page",
            client=client_tag(store.server_secret(), address),
        )
        return page(request, "join_refused.html", title=N_("Join"), status=401)
    response = RedirectResponse(
        "/report" if joined.principal.may(Action.SEND_REPORTS) else "/maps", status_code=303
    )
    max_age = joined.expires_at - int(now)
    set_cookie(response, request, SESSION_COOKIE, joined.token, max_age=max_age, path="/")
    response.delete_cookie(JOIN_COOKIE, path="/join")
    return response
