"""Hardening around every route: security headers, keys kept out of URLs, rate limits, and
same-origin checks on browser (cookie) changes.

Each is a plain ASGI middleware, so it also covers answers that never reach a route (413,
429, 404) and streaming bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from urllib.parse import parse_qsl

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.auth import KEY_PREFIX, SESSION_COOKIE
from geo_service.errors import problem_response

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


class RateLimitMiddleware:
    """Token buckets per client address, and per key once that key has proved valid; 429
    when empty.

    Any header can be made up, so a request spends its address's token before credentials
    are looked at; only after the key check passed is that token given back and the key's
    own, larger bucket charged instead. A new junk key per request therefore stays on the
    address's bucket. Limits are per worker process and per minute, refilled continuously. A
    limit of 0 turns that bucket off. ``/healthz`` is never limited, so orchestrators can
    always probe, and neither are the self-hosted ``/static/`` files: every map page loads
    several, and phones behind one drop-in centre's address would otherwise run out after a
    few maps and get half-drawn pages.
    """

    def __init__(self, app: ASGIApp, *, per_key: int, per_address: int) -> None:
        self.app = app
        self.per_key = per_key
        self.per_address = per_address
        self._buckets: dict[str, tuple[float, float]] = {}
        self._valid_keys: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key_identity(scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                # A digest, so the table never holds a usable key.
                return "k:" + hashlib.sha256(value).hexdigest()[:24]
        return None

    def _take(self, identity: str, limit: int) -> float:
        """Take one token; return 0 if granted, else seconds until one is available."""
        if not limit:
            return 0.0
        now = time.monotonic()
        rate = limit / 60.0
        with self._lock:
            tokens, last = self._buckets.get(identity, (float(limit), now))
            tokens = min(float(limit), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[identity] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[identity] = (tokens, now)
                wait = (1.0 - tokens) / rate
            if len(self._buckets) > 100_000:  # forget idle clients; full buckets lose nothing
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60.0}
        return wait

    def _give_back(self, identity: str, limit: int) -> None:
        with self._lock:
            tokens, last = self._buckets.get(identity, (float(limit), time.monotonic()))
            self._buckets[identity] = (min(float(limit), tokens + 1.0), last)

    def _remember(self, key: str, valid: bool) -> None:
        with self._lock:
            if not valid:
                self._valid_keys.discard(key)
                return
            if len(self._valid_keys) >= 100_000:
                self._valid_keys.clear()
            self._valid_keys.add(key)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, limit: int, wait: float
    ) -> None:
        response = problem_response(
            429,
            "rate_limited",
            "Too many requests",
            f"this key or address may make {limit} requests a minute; retry after the "
            "number of seconds in Retry-After",
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path == "/healthz" or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        key = self._key_identity(scope)
        if key is not None and key in self._valid_keys:
            wait = self._take(key, self.per_key)
            if wait:
                await self._refuse(scope, receive, send, self.per_key, wait)
                return
            await self.app(scope, receive, send)
            self._remember(key, bool(scope.get(KEY_VERIFIED)))  # a revoked key goes back
            return
        client = scope.get("client")
        address = "a:" + (client[0] if client else "unknown")
        wait = self._take(address, self.per_address)
        if wait:
            await self._refuse(scope, receive, send, self.per_address, wait)
            return
        await self.app(scope, receive, send)
        if key is not None and scope.get(KEY_VERIFIED):
            self._remember(key, True)
            if self.per_address:
                self._give_back(address, self.per_address)
            self._take(key, self.per_key)


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
