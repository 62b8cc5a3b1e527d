"""``/report``: the page a peer's phone sends reports from (issue 18).

The page is the same for every phone of a program: it carries the words and addresses as a
JSON data island and nothing personal, so the service worker may keep it for offline use.
The form token that ``POST /v1/reports`` needs comes from ``/report/token`` right before a
send, never cached, so no kept page ever holds one. The app's manifest, its icons and its
service worker (served from the root so it may control ``/report``) are public files.

An open sent alert is a banner at the top, written into the page itself (no script, no
second request): what a peer may read, alike for every role that reports, so the page stays
the same for every phone of a program. The worker keeps the page, so with no signal a phone
shows the banner it last loaded, with the alert's day on it; with signal the page is asked
for again (network first) and the banner is current.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import cache
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from starlette.responses import HTMLResponse, Response

from geo_service.auth import Action, session_principal
from geo_service.context import PAGE_CHECK_HEADER, StoreDep
from geo_service.errors import Forbidden, NotFound, Unauthenticated
from geo_service.i18n import language_of, request_switch
from geo_service.security import CONTENT_SECURITY_POLICY, form_token
from geo_service.services.alerts.banner import PageAlert, peer_alerts
from geo_service.services.program import ProgramContext
from geo_service.web.report_words import N_, WORDS
from geo_service.web.session import SessionCookie, ViewerContext
from geo_service.web.shell import message, render
from geo_service.web.streets import streets_url
from maps.language import translations
from maps.packing import json_for_html

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parents[1] / "static"
THEME = "#1d5c63"
ICON_SIZES = (192, 512)
# The shared policy, plus the manifest and the service worker this page installs.
REPORT_CSP = CONTENT_SECURITY_POLICY + "; manifest-src 'self'; worker-src 'self'"
# "Use my location" needs the page's own geolocation; every other page keeps it off.
REPORT_PERMISSIONS = "geolocation=(self), camera=(), microphone=()"
GRID_URL = "/report/grid.json"
BANNER_MAX = 1  # the newest alert a phone shows above the form (the form stays in view on a
# 360 px phone); a link sends to the maps index, which lists them all
SW_URL = "/report-sw.js"


def words_in(language: str) -> dict[str, str]:
    """The page's words in one language (English where a catalogue lacks one)."""
    gettext = translations(language).gettext
    return {name: gettext(text) for name, text in WORDS.items()}


def _page_data(ctx: ViewerContext, language: str) -> dict[str, object]:
    return {
        "words": words_in(language),
        "grid": GRID_URL,
        "streets": streets_url(ctx),
        "token": "/report/token",
        "reports": "/v1/reports",
        "join": "/join",
        "signout": "/signout",
        "worker": SW_URL,
        "scope": "/report",
        "token_header": PAGE_CHECK_HEADER,
    }


def _banner(ctx: ProgramContext, language: str) -> tuple[list[PageAlert], bool]:
    """The newest open sent alerts a peer may read, and whether there are more."""
    alerts = peer_alerts(ctx.store, ctx.settings, ctx.program_id, language=language, now=ctx.now)
    return alerts[:BANNER_MAX], len(alerts) > BANNER_MAX


@router.get("/report")
def report_page(request: Request, ctx: ViewerContext) -> HTMLResponse:
    language = language_of(request)
    words = words_in(language)
    if not ctx.principal.may(Action.SEND_REPORTS):
        return message(
            request,
            N_("This sign-in cannot send reports"),
            words["cannot_report"],
            title=N_("Report"),
            status=403,
            back=("/maps", N_("Go to the maps")),
        )
    alerts, more_alerts = _banner(ctx, language)
    html = render(
        "report.html",
        language,
        title=words["page_title"],
        theme=THEME,
        switch=request_switch(request),
        data=json_for_html(_page_data(ctx, language)),
        alerts=alerts,
        more_alerts=more_alerts,
    )
    headers = {
        # The service worker keeps its own copy; the browser asks again each time.
        "Cache-Control": "no-cache",
        "Content-Security-Policy": REPORT_CSP,
        "Permissions-Policy": REPORT_PERMISSIONS,
    }
    return HTMLResponse(html, headers=headers)


@router.get("/report/token")
def report_token(store: StoreDep, session: SessionCookie = None) -> Response:
    """The phone session's form token, asked for right before each send."""
    principal = session_principal(store, session) if session else None
    if principal is None or session is None:
        raise Unauthenticated("this phone is not signed in; open your invite link again")
    if not principal.may(Action.SEND_REPORTS):
        raise Forbidden("this sign-in cannot send reports")
    body = orjson.dumps({"token": form_token(session)})
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/report/manifest.webmanifest")
def report_manifest(request: Request) -> Response:
    words = words_in(language_of(request))
    manifest = {
        "name": words["app_name"],
        "short_name": words["app_short_name"],
        "lang": language_of(request),
        "start_url": "/report",
        "scope": "/report",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": [
            {"src": f"/report/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
            for size in ICON_SIZES
        ],
    }
    return Response(
        orjson.dumps(manifest),
        media_type="application/manifest+json",
        # Its words follow the phone's language: a shared cache must keep one per language.
        headers={"Cache-Control": "no-cache", "Vary": "Accept-Language"},
    )


@router.get("/report/icon-{size}.png")
def report_icon(size: Annotated[int, PathParam(ge=1, le=1024)]) -> Response:
    if size not in ICON_SIZES:
        raise NotFound("the report icon comes in 192 and 512 pixels")
    return Response(
        icon_png(size), media_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get(SW_URL)
def report_worker() -> Response:
    # Served from the root so that it may control /report; it asks for no wider scope.
    return Response(
        worker_script(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/report"},
    )


# The files the worker keeps cache-first; their digest names its cache (see worker_script).
WORKER_FILES = ("report.js", "report.css", "grid.js", "vendor/leaflet/leaflet.js")
CACHE_SLOT = b'"geo-report-v1"'


@cache
def worker_script() -> bytes:
    """The worker, its cache named by the digest of the files it keeps cache-first: a new
    version of any of them changes the worker's bytes, so phones install it, and its
    ``activate`` drops the old cache instead of serving old scripts for ever."""
    digest = hashlib.sha256()
    for name in WORKER_FILES:
        path = STATIC / name
        digest.update(path.read_bytes() if path.is_file() else b"-")
    script = (STATIC / "report-sw.js").read_bytes()
    return script.replace(CACHE_SLOT, f'"geo-report-{digest.hexdigest()[:16]}"'.encode(), 1)


def _icon_pixel(x: int, y: int, size: int) -> bytes:
    """The icon: a white map square with one square marked, on the theme colour."""
    unit = size / 12
    col, row = int(x // unit), int(y // unit)
    if not (2 <= col < 10 and 2 <= row < 10):
        return bytes.fromhex(THEME[1:])
    if 5 <= col < 7 and 5 <= row < 7:
        return bytes.fromhex("f2a93b")
    line = (x - 2 * unit) % (unit * 8 / 3) < unit / 4 or (y - 2 * unit) % (unit * 8 / 3) < unit / 4
    return bytes.fromhex("bcd7d9" if line else "ffffff")


@cache
def icon_png(size: int) -> bytes:
    """A square RGB PNG written with zlib and struct (no imaging library needed)."""
    rows = b"".join(
        b"\x00" + b"".join(_icon_pixel(x, y, size) for x in range(size)) for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )
