"""Hardening around every route: security headers, keys kept out of URLs, rate limits, and
same-origin checks on browser (cookie) changes.

Each is a plain ASGI middleware, so it also covers answers that never reach a route (413,
429, 404) and streaming bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl

import psycopg
import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.auth import KEY_PREFIX, SESSION_COOKIE
from geo_service.errors import StoreBusy, problem_response
from geo_service.storage import Store

logger = logging.getLogger(__name__)

# Only our own assets: the API docs page and its Swagger UI files are served from /static.
# Swagger UI sets inline style attributes and data: icons; nothing else is inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(), camera=(), microphone=()"),
]
# Answers that may set their own private caching although signed in: the program's streets
# (public OpenStreetMap geometry, tagged by network version, nothing from events) and the
# phone's grid (the program's area and grid only).
PRIVATELY_CACHED = frozenset({"/maps/streets.json", "/report/grid.json"})
KEY_PARAMETERS = frozenset(
    {"key", "api_key", "apikey", "api-key", "token", "access_token", "auth", "authorization"}
)


class SecurityHeadersMiddleware:
    """Add the security headers to every answer; ``no-store`` to every authenticated one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A key or a cookie (a session, a sign-in form's secret) makes the answer personal;
        # shared static files stay cacheable, which matters on slow rural links.
        sent = {name for name, _ in scope["headers"]}
        authenticated = b"authorization" in sent or (
            b"cookie" in sent and not scope["path"].startswith("/static/")
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                own = dict(headers).get(b"cache-control", b"")
                kept = scope["path"] in PRIVATELY_CACHED and own.startswith(b"private")
                if (authenticated and not kept) or b"set-cookie" in present:
                    headers = [h for h in headers if h[0].lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class KeysNotInUrlMiddleware:
    """Refuse a request that carries what looks like a key in its query string.

    Addresses end up in proxy logs, browser history and Referer headers; a key there is a
    key given away, so the request fails before any route (or log line) can use it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            if any(
                name.lower() in KEY_PARAMETERS or value.startswith(KEY_PREFIX)
                for name, value in pairs
            ):
                response = problem_response(
                    400,
                    "key_in_url",
                    "Keys go in the Authorization header",
                    "send the key as 'Authorization: Bearer <key>', never in the address, where "
                    "logs and browser history keep it; if a key was sent this way, ask your "
                    "steward to revoke it",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ApiCorsMiddleware(CORSMiddleware):
    """CORS for the API (``/v1/``) only. Pages, the phone's ``/report*`` answers (its form
    token among them) and sign-in are for this service's own pages: no other site is ever
    told it may read them, whatever origins the API trusts."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# Set in the request's scope by the key check once a key proved valid.
KEY_VERIFIED = "geo_service.key_verified"
# A key that proved valid is counted against itself alone for this many minutes; then one
# request goes through its address again and proves it anew.
KNOWN_KEY_MINUTES = 10
KEEP_MINUTES = KNOWN_KEY_MINUTES + 1  # older counts (and marks) are deleted


def address_digest(secret: str, address: str) -> str:
    """How shared tables name a client address: a keyed digest (the address space is small
    enough to search, so a plain hash would give the address back)."""
    return hmac.new(secret.encode(), b"address:" + address.encode(), hashlib.sha256).hexdigest()[
        :24
    ]


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _key_identity(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            # A digest, so the table never holds a usable key.
            return "k:" + hashlib.sha256(value).hexdigest()[:24]
    return None


def _database_failed(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.SQLAlchemyError | psycopg.Error | StoreBusy)


@dataclass
class _Admitted:
    """What the check charged: the address's identity and window, or a known key."""

    minute: int
    key: str | None
    address: str | None = None
    known_key: bool = False


class RateLimitMiddleware:
    """Requests a minute per client address, and per key once that key has proved valid;
    429 with Retry-After when a minute's count is spent.

    Counted in the database (``rate_counts``), so every worker on every host shares one
    count: N requests spread over any workers meet the limit at the same total as on one.
    Windows are fixed epoch minutes, not token buckets: a client may send up to twice its
    limit across the turn of a minute, and a refused request waits until the next minute.

    Any header can be made up, so a request is counted against its address before
    credentials are looked at; only after the key check passed is that count given back,
    the key's own, larger count charged instead and the key marked known for a few minutes.
    A known key is counted against itself alone, in one statement. A new junk key per
    request therefore stays on the address's count. A key that does not prove valid (revoked,
    or sent to a route that never checks keys) is no longer known, and its counts stay. A
    limit of 0 turns that count off. ``/healthz`` is never limited, so orchestrators can
    always probe, and neither are the self-hosted ``/static/`` files: every map page loads
    several, and phones behind one drop-in centre's address would otherwise run out after a
    few maps and get half-drawn pages.

    If the database does not answer the count, the request goes ahead uncounted (it fails
    open): a request that needs the database gets its own 503 there, and one that does not
    (the docs) is served. Only the check's error class is logged.
    """

    def __init__(self, app: ASGIApp, *, per_key: int, per_address: int) -> None:
        self.app = app
        self.per_key = per_key
        self.per_address = per_address
        # The deployment's secret (read from the database once) and the minute this worker
        # last deleted old counts: neither changes an answer.
        self._secret: tuple[object, str] | None = None
        self._swept_minute = 0
        self._logged_minute = 0  # the last minute a failed count was logged

    def _address(self, store: Store, scope: Scope) -> str:
        if self._secret is None or self._secret[0] is not store:
            self._secret = (store, store.server_secret())
        return "a:" + address_digest(self._secret[1], _client_address(scope))

    def _admit(self, store: Store, scope: Scope, now: float) -> tuple[_Admitted, int]:
        """Count the request; what was charged, and 0 if it may go ahead, else its limit."""
        minute = int(now // 60)
        if minute > self._swept_minute:
            self._swept_minute = minute
            store.forget_counts_before(minute - KEEP_MINUTES)
        key = _key_identity(scope)
        if key is not None:
            hits = store.count_known_key(key, minute, known_since=minute - KNOWN_KEY_MINUTES)
            if hits is not None:
                over = bool(self.per_key) and hits > self.per_key
                return _Admitted(minute, key, known_key=True), self.per_key if over else 0
        if not self.per_address:
            return _Admitted(minute, key), 0
        address = self._address(store, scope)
        hits = store.count_request(address, minute)
        refused = self.per_address if hits > self.per_address else 0
        return _Admitted(minute, key, address), refused

    def _settle(self, store: Store, admitted: _Admitted, verified: bool, now: float) -> None:
        """After the answer: move a key that proved valid onto its own count, or stop
        treating a known key that did not as known."""
        if admitted.key is None:
            return
        if admitted.known_key and not verified:
            store.forget_key(admitted.key)
        elif not admitted.known_key and verified:
            store.key_proved(
                admitted.key,
                int(now // 60),
                address=admitted.address,
                address_window=admitted.minute,
            )

    def _log_uncounted(self, exc: BaseException, now: float) -> None:
        # Once a minute (a long SQLite import would otherwise log every request), and the
        # class only: a driver's message may quote the statement's parameters.
        if int(now // 60) != self._logged_minute:
            self._logged_minute = int(now // 60)
            logger.warning(
                "rate limits not counted: database error %s (the requests went ahead; "
                "not logged again this minute)",
                type(exc).__name__,
            )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, limit: int, now: float
    ) -> None:
        response = problem_response(
            429,
            "rate_limited",
            "Too many requests",
            f"this key or address may make {limit} requests a minute; retry after the "
            "number of seconds in Retry-After",
        )
        response.headers["Retry-After"] = str(max(1, math.ceil(60 - now % 60)))
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        store = getattr(getattr(scope.get("app"), "state", None), "store", None)
        if (
            scope["type"] != "http"
            or path == "/healthz"
            or path.startswith("/static/")
            or store is None
            or not (self.per_key or self.per_address)
        ):
            await self.app(scope, receive, send)
            return
        now = _now()
        try:
            admitted, limit = await run_in_threadpool(self._admit, store, scope, now)
        except Exception as exc:
            if not _database_failed(exc):
                raise
            self._log_uncounted(exc, now)
            await self.app(scope, receive, send)
            return
        if limit:
            await self._refuse(scope, receive, send, limit, now)
            return
        await self.app(scope, receive, send)
        verified = bool(scope.get(KEY_VERIFIED))
        try:
            await run_in_threadpool(self._settle, store, admitted, verified, _now())
        except Exception as exc:  # the answer is sent; only the counts are behind
            if not _database_failed(exc):
                raise
            self._log_uncounted(exc, now)


def _now() -> float:
    """The limiter's clock (tests hold it still inside one minute)."""
    return time.time()


CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BROWSER_FORM_PATHS = ("/signin", "/signout", "/join", "/maps")


def form_token(secret: str) -> str:
    """The hidden-field token of a session or a sign-in form: an HMAC keyed by the cookie's
    secret value, which only pages served to that browser can carry (the cookie is HttpOnly)."""
    return hmac.new(secret.encode(), b"geo-service form token", hashlib.sha256).hexdigest()


def form_token_matches(secret: str | None, sent: str | None) -> bool:
    return bool(secret and sent) and hmac.compare_digest(form_token(secret or ""), sent or "")


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def _is_browser_change(scope: Scope) -> bool:
    if scope["method"] not in UNSAFE_METHODS or _header(scope, b"authorization") is not None:
        return False  # Bearer keys are not sent by browsers on their own: no forgery
    path: str = scope["path"]
    on_form_path = any(path == p or path.startswith(p + "/") for p in BROWSER_FORM_PATHS)
    cookies = _header(scope, b"cookie") or ""
    return on_form_path or f"{SESSION_COOKIE}=" in cookies


def is_same_origin(scope: Scope) -> bool:
    """The browser says the request comes from this service's own pages."""
    origin = _header(scope, b"origin")
    # Under "Referrer-Policy: no-referrer" browsers send "Origin: null" even from our own
    # pages; then, as without an Origin, the browser-set Sec-Fetch-Site decides.
    if origin is not None and origin != "null":
        return origin == f"{scope['scheme']}://{_header(scope, b'host')}"
    return _header(scope, b"sec-fetch-site") == "same-origin"


class SameOriginChangesMiddleware:
    """Refuse a cookie-authenticated change (a form post, sign-in, sign-out) unless the
    browser's ``Origin`` (or, without one, ``Sec-Fetch-Site``) says it came from this
    service. A page on another site, or another port of this host, cannot post as a viewer.
    The per-session form token is checked by the routes, which read the form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_browser_change(scope) and not is_same_origin(scope):
            response = problem_response(
                403,
                "cross_origin",
                "Sent from another site",
                "changes made with a browser sign-in must come from this service's own pages; "
                "open the page here and submit it again",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
