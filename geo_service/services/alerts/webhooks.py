"""Signed webhook POSTs: ``X-Geo-Service-Signature: sha256=<hex HMAC-SHA256(secret,
"<timestamp>.<body>")>``, the timestamp in ``X-Geo-Service-Timestamp`` so a receiver can refuse
replays. Three tries with a back-off; redirects are not followed (the body is health data and
goes only where the steward pointed it)."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

EVENT = "alert.sent"
TIMEOUT_S = 5.0
ATTEMPTS = 3
BACKOFF_S = (1.0, 3.0)  # the waits between tries; tests shorten them
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed by the whole
    secret (``whsec_...``) as UTF-8."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does (and the README shows)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: object, **__: object) -> None:
        return None  # a 3xx is answered as it is: a failed delivery


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str  # a status code or an error's class name: never the URL or the body


def _post_once(url: str, secret: str, body: bytes) -> tuple[Outcome, bool]:
    """One try; returns the outcome and whether another try may help."""
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310  # the URL was checked: https or local http
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "geo-service-alerts",
            "X-Geo-Service-Event": EVENT,
            "X-Geo-Service-Timestamp": timestamp,
            "X-Geo-Service-Signature": signature(secret, timestamp, body),
        },
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_S) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as refused:
        status = int(refused.code)
        refused.close()
    except (OSError, ValueError) as exc:  # refused, unreachable, timed out, TLS
        reason = getattr(exc, "reason", None)
        name = type(reason if isinstance(reason, BaseException) else exc).__name__
        return Outcome(False, name), True
    return Outcome(200 <= status < 300, str(status)), status in RETRIED_STATUSES


def post(url: str, secret: str, body: bytes) -> Outcome:
    """POST ``body`` up to :data:`ATTEMPTS` times while the failure may pass."""
    tries = 0
    while True:
        tries += 1
        outcome, again = _post_once(url, secret, body)
        if outcome.ok or not again or tries == ATTEMPTS:
            break
        time.sleep(BACKOFF_S[min(tries - 1, len(BACKOFF_S) - 1)])
    said = f"{outcome.detail} ({tries} tries)" if tries > 1 else outcome.detail
    return Outcome(outcome.ok, said)
