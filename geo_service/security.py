"""Hardening around every route: security headers, keys kept out of URLs, rate limits.

Each is a plain ASGI middleware, so it also covers answers that never reach a route (413,
429, 404) and streaming bodies.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.auth import KEY_PREFIX
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
        authenticated = any(name == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                if authenticated:
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
    always probe.
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
        if scope["type"] != "http" or scope["path"] == "/healthz":
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
