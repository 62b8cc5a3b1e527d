"""``GET /report/grid.json``: the program's grid for the report page's ``static/grid.js``.

The phone snaps "use my location" to a square itself, so only the square is ever sent
(DESIGN.md §4.9); this is what it needs for that: the projection, origin, square sizes, the
squares a report may name and the area's outline (``services/phone_grid.py``).

The answer is data-independent: it comes from the program's area and grid only, never from
events or releases, so it reveals nothing a peer's map does not, and it may be kept an
hour. Only a signed-in viewer (session cookie or Bearer key) whose role may send reports
gets it: 401 without one, 403 for another role, as problem+json (a fetch, not a page, so
no redirect to sign in).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Annotated

import orjson
from fastapi import APIRouter, Cookie, Header
from starlette.responses import Response

from geo_service.auth import SESSION_COOKIE, Action, Principal, authenticate, session_principal
from geo_service.context import ServicesDep
from geo_service.errors import Unauthenticated
from geo_service.services.phone_grid import phone_grid
from geo_service.services.program import ProgramContext

router = APIRouter(include_in_schema=False)
GRID_PATH = "/report/grid.json"
KEPT = "private, max-age=3600"
_KEEP = 32  # programs' grids kept built, by geography stamp
_built: dict[str, tuple[bytes, str]] = {}
_lock = threading.Lock()


def _viewer(
    services: ServicesDep,
    authorization: str | None,
    session: str | None,
) -> Principal:
    if authorization:
        return authenticate(services.store, authorization)
    principal = session_principal(services.store, session) if session else None
    if principal is None:
        raise Unauthenticated("sign in first: this is for phones signed in to a program")
    return principal


def _body(ctx: ProgramContext) -> tuple[bytes, str]:
    """The answer's bytes and ETag, built once per geography."""
    stamp = ctx.deployment.geography.stamp
    with _lock:
        found = _built.get(stamp)
    if found is not None:
        return found
    body = orjson.dumps(phone_grid(ctx.deployment))
    built = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    with _lock:
        if len(_built) >= _KEEP:
            _built.clear()
        _built[stamp] = built
    return built


@router.get(GRID_PATH)
def report_grid(
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    ctx = ProgramContext(services, _viewer(services, authorization, session))
    ctx.check(Action.SEND_REPORTS)
    body, etag = _body(ctx)
    headers = {"ETag": etag, "Cache-Control": KEPT, "Vary": "Cookie, Authorization"}
    sent = {t.strip().removeprefix("W/") for t in (if_none_match or "").split(",")}
    if etag in sent or "*" in sent:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
