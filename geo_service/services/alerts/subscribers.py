"""Where a program's sent alerts are pushed: webhooks (signed) and email addresses, each for
one audience (peer, planner or manager), set by the steward.

An alert says where overdoses are happening: health data. So a webhook is ``https://``, or
``http://`` only to this machine (127.0.0.1, ::1, localhost: a relay on the same host, nothing
crosses a network in clear text); a URL never carries credentials (they would be kept and
shown in lists). A webhook's secret is generated here and shown once, in the answer that
creates it; lists show targets masked (a webhook's path often is itself a secret)."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from geo_service.audit import record
from geo_service.errors import InvalidParameter
from geo_service.storage import Store
from geo_service.storage.alert_records import NewSubscriber, Subscriber

CHANNELS = ("webhook", "email")
AUDIENCES = ("peer", "planner", "manager")
SECRET_PREFIX = "whsec_"  # noqa: S105  # a prefix, not a secret
MAX_TARGET_CHARS = 500  # the column's size
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Conservative on purpose (no quoted local parts, no IP literals): an address we send health
# warnings to should be an ordinary one; and no space, CR or LF can reach a mail header.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class SubscriberAsk:
    program_id: int
    channel: str
    target: str
    audience: str


def new_secret() -> str:
    """``whsec_`` and 32 random bytes, base64url without padding."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return SECRET_PREFIX + raw


def check_webhook_url(url: str) -> str:
    """The URL if it may carry alerts; else a refusal that says why (never quoting it)."""
    if len(url) > MAX_TARGET_CHARS or _CONTROL.search(url):
        raise InvalidParameter(
            f"a webhook URL is at most {MAX_TARGET_CHARS} characters, without spaces"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises on a port that is not a number in range
    except ValueError:
        raise InvalidParameter("the webhook URL could not be read") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidParameter(
            "a webhook URL must not carry a user name or password; the service signs each "
            "delivery with the webhook's secret instead"
        )
    host = (parts.hostname or "").lower()
    if not host or parts.fragment:
        raise InvalidParameter("a webhook URL needs a host name and no #fragment")
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOCAL_HOSTS):
        return url
    raise InvalidParameter(
        "a webhook URL must start with https:// (alerts are health data and must not cross "
        "a network unencrypted); http:// is accepted only for 127.0.0.1 or localhost"
    )


def check_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    if len(address) > 254 or len(local) > 64 or not EMAIL.match(address) or ".." in domain:
        raise InvalidParameter("the email address is not one the service can send to")
    return address


def check_target(channel: str, target: str) -> str:
    if channel == "webhook":
        return check_webhook_url(target)
    return check_email(target)


def create_subscriber(
    store: Store, ask: SubscriberAsk, *, actor: str, key_id: int, now: int
) -> tuple[Subscriber, str | None]:
    """Store a subscriber (audited, without its target); a webhook's secret is returned here
    and never again."""
    target = check_target(ask.channel, ask.target)
    secret = new_secret() if ask.channel == "webhook" else None
    new = NewSubscriber(ask.program_id, ask.channel, target, ask.audience, secret, now)
    subscriber_id = store.add_subscriber(new)
    record(
        store,
        "alert_subscriber.create",
        actor=actor,
        program_id=ask.program_id,
        key_id=key_id,
        subscriber_id=subscriber_id,
        channel=ask.channel,
        audience=ask.audience,
    )
    return Subscriber(**{**new.__dict__, "id": subscriber_id}), secret


def delete_subscriber(
    store: Store, program_id: int, subscriber_id: int, *, actor: str, key_id: int, now: int
) -> bool:
    if not store.delete_subscriber(program_id, subscriber_id, now):
        return False
    record(
        store,
        "alert_subscriber.delete",
        actor=actor,
        program_id=program_id,
        key_id=key_id,
        subscriber_id=subscriber_id,
    )
    return True


def masked(subscriber: Subscriber) -> str:
    """The target as lists show it: a webhook's scheme and host (its path and query are
    often a secret of their own), an email's first letter and domain."""
    if subscriber.channel == "webhook":
        parts = urlsplit(subscriber.target)
        return f"{parts.scheme}://{parts.netloc}/…"
    local, _, domain = subscriber.target.rpartition("@")
    return f"{local[:1]}…@{domain}"


def shown(subscriber: Subscriber) -> dict[str, Any]:
    """A subscriber in a list: never its secret, its target masked."""
    return {
        "id": subscriber.id,
        "channel": subscriber.channel,
        "target": masked(subscriber),
        "audience": subscriber.audience,
        "created_at": subscriber.created_at,
    }
