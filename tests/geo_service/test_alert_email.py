"""Alert email through a local aiosmtpd server: English then French in one plain-text
message, the headline and area as subject, no count below the audience's k, no header a
hostile area name could add, STARTTLS never skipped, and "not configured" without a host."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.services.alerts.delivery import deliver_alert
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore
from tests.geo_service.alert_helpers import Keys, make_alert, subscribe, town

HEADLINE = "More overdoses than usual in the last 24 hours"
FRENCH_HEADLINE = "Plus de surdoses que d'habitude dans les dernières 24 heures"


# -- email ------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    port: int
    messages: list[bytes] = field(default_factory=list)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(port=0)

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            box.messages.append(envelope.content)
            return "250 Message accepted for delivery"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        box.port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def smtp_settings(settings: Settings, port: int) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,  # the test server speaks plain SMTP
            "smtp_from": "alerts@town.example.org",
            "public_url": "https://maps.example.org",
        }
    )


def test_an_email_arrives_with_the_headline_in_english_and_french(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, mailbox: Mailbox
) -> None:
    subscribe(client, keys, "email", "peers@town.example.org", "peer")
    alert = make_alert(store, town(store), releasable=3, observed=6)
    deliver_alert(store, smtp_settings(settings, mailbox.port), town(store), alert.id)

    [raw] = mailbox.messages
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == f"{HEADLINE} — Downtown"
    assert mail["To"] == "peers@town.example.org"
    assert mail["From"] == "alerts@town.example.org"
    body = mail.get_content()
    english, french = body.split("-----")
    assert "Drug alert — town" in english and "Carry naloxone." in english
    assert "Alerte drogue — town" in french and FRENCH_HEADLINE in french
    assert "Ayez de la naloxone sur vous." in french
    assert f"https://maps.example.org/alerts/{alert.ref}/poster" in english
    digits = body.replace(f"/alerts/{alert.ref}/", "/alerts/REF/").replace("24", "")
    for hidden in ("overdoses reported", "Reports in the window", "3", "6", "1.25"):
        assert hidden not in digits
    [delivery] = store.deliveries(alert.id)
    assert (delivery.ok, delivery.detail) == (True, "sent")


def test_a_managers_email_has_the_counts(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, mailbox: Mailbox
) -> None:
    subscribe(client, keys, "email", "manager@town.example.org", "manager")
    alert = make_alert(store, town(store), releasable=3, observed=4)
    deliver_alert(store, smtp_settings(settings, mailbox.port), town(store), alert.id)
    body = email.message_from_bytes(mailbox.messages[0], policy=email.policy.default)
    assert "Reports in the window: 4; expected: 1.2." in body.get_content()


def test_a_hostile_area_name_cannot_add_a_mail_header(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, mailbox: Mailbox
) -> None:
    subscribe(client, keys, "email", "peers@town.example.org", "peer")
    hostile = "Main St\r\nBcc: spy@attacker.example\r\n\r\n</script>${x}`"
    alert = make_alert(store, town(store), area_name=hostile)
    deliver_alert(store, smtp_settings(settings, mailbox.port), town(store), alert.id)
    mail = email.message_from_bytes(mailbox.messages[0], policy=email.policy.default)
    assert mail["Bcc"] is None
    assert mail["Subject"] == f"{HEADLINE} — Main St Bcc: spy@attacker.example </script>${{x}}`"


def test_without_an_smtp_host_email_is_recorded_as_not_configured(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings
) -> None:
    subscribe(client, keys, "email", "peers@town.example.org", "peer")
    alert = make_alert(store, town(store))
    deliver_alert(store, settings, town(store), alert.id)
    [delivery] = store.deliveries(alert.id)
    assert (delivery.ok, delivery.detail) == (False, "not configured")


def test_an_unreachable_smtp_server_is_a_recorded_failure(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subscribe(client, keys, "email", "peers@town.example.org", "peer")
    alert = make_alert(store, town(store))
    deliver_alert(store, smtp_settings(settings, port), town(store), alert.id)
    [delivery] = store.deliveries(alert.id)
    assert (delivery.ok, delivery.detail) == (False, "ConnectionRefusedError")


def test_starttls_is_never_skipped_when_the_server_cannot_do_it(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, mailbox: Mailbox
) -> None:
    """The test server has no TLS: with STARTTLS on (the default) nothing is sent in clear."""
    subscribe(client, keys, "email", "peers@town.example.org", "peer")
    alert = make_alert(store, town(store))
    plain = smtp_settings(settings, mailbox.port).model_copy(update={"smtp_starttls": True})
    deliver_alert(store, plain, town(store), alert.id)
    assert mailbox.messages == []
    [delivery] = store.deliveries(alert.id)
    assert (delivery.ok, delivery.detail) == (False, "SMTPNotSupportedError")
