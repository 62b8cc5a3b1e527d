"""Alert delivery: the steward's subscribers, and signed webhooks received by a local HTTP
server (email: test_alert_email.py). Each audience gets its own view: a peer hook never gets a
count below k, nor the observed or expected counts."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.services.alerts import webhooks
from geo_service.services.alerts.delivery import deliver_alert
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore
from tests.geo_service.alert_helpers import Keys, make_alert, subscribe, town

HEADLINE = "More overdoses than usual in the last 24 hours"
FRENCH_HEADLINE = "Plus de surdoses que d'habitude dans les dernières 24 heures"


# -- a local webhook receiver -----------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answers to give, then 204
    delay_s: float = 0.0  # how long to think before answering
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append((dict(self.headers.items()), body))
            time.sleep(state.delay_s)
            self.send_response(state.statuses.pop(0) if state.statuses else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts?token=abc"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "BACKOFF_S", (0.01, 0.01))


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Computed here, as a receiver would, not with the service's own function."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


# -- subscribers ------------------------------------------------------------------------------


def test_a_webhooks_secret_is_shown_once_and_lists_mask_targets(
    client: TestClient, keys: Keys, store: SqlStore, receiver: Receiver
) -> None:
    made = subscribe(client, keys, "webhook", receiver.url, "peer")
    assert made["secret"].startswith("whsec_") and len(made["secret"]) == 6 + 43
    assert made["target"] == receiver.url.split("/hooks")[0] + "/…"
    mail = subscribe(client, keys, "email", "peer.group@example.org", "peer")
    assert mail["secret"] is None and mail["target"] == "p…@example.org"

    listed = client.get("/v1/alert-subscribers", headers=keys["manager"])
    assert listed.status_code == 200
    assert "whsec_" not in listed.text and "token=abc" not in listed.text
    assert "peer.group" not in listed.text
    assert [s["id"] for s in listed.json()["subscribers"]] == [made["id"], mail["id"]]
    assert client.get("/v1/alert-subscribers", headers=keys["other_manager"]).json() == {
        "subscribers": []
    }
    # The store keeps the secret (it signs with it); the answer was the only time it showed.
    assert store.subscribers(town(store))[0].secret == made["secret"]
    audit = [r for r in store.audit_rows(town(store)) if r.action.startswith("alert_subscriber")]
    assert [r.action for r in audit] == ["alert_subscriber.create"] * 2
    assert all("example.org" not in r.detail and "127.0.0.1" not in r.detail for r in audit)


def test_only_stewards_change_subscribers_and_only_managers_up_list_them(
    client: TestClient, keys: Keys
) -> None:
    body = {"channel": "email", "target": "a@example.org", "audience": "peer"}
    for role in ("peer", "planner", "manager"):
        answer = client.post("/v1/alert-subscribers", json=body, headers=keys[role])
        assert answer.status_code == 403, role
    for role in ("peer", "planner"):
        assert client.get("/v1/alert-subscribers", headers=keys[role]).status_code == 403
    assert client.get("/v1/alert-subscribers").status_code == 401


@pytest.mark.parametrize(
    ("channel", "target"),
    [
        ("webhook", "http://hooks.example.org/alerts"),  # health data in clear text
        ("webhook", "http://localhost.attacker.example/x"),
        ("webhook", "https://user:pass@hooks.example.org/x"),
        ("webhook", "https://@hooks.example.org/x"),
        ("webhook", "ftp://hooks.example.org/x"),
        ("webhook", "https:///no-host"),
        ("webhook", "https://hooks.example.org/a b"),
        ("webhook", "https://hooks.example.org:99999/x"),
        ("webhook", "javascript:alert(1)//"),
        ("email", "not-an-address"),
        ("email", "someone@localhost"),
        ("email", "a@b@example.org"),
        ("email", "x@example.org\r\nBcc: evil@example.org"),
        ("email", "<script>@example.org"),
    ],
)
def test_a_target_that_could_leak_is_refused_without_echo(
    client: TestClient, keys: Keys, channel: str, target: str
) -> None:
    answer = client.post(
        "/v1/alert-subscribers",
        json={"channel": channel, "target": target, "audience": "peer"},
        headers=keys["steward"],
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert target not in answer.text and "example.org" not in answer.text


def test_local_http_and_ipv6_localhost_are_accepted(client: TestClient, keys: Keys) -> None:
    for target in ("http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"):
        subscribe(client, keys, "webhook", target, "manager")


def test_deleting_a_subscriber_is_audited_and_once(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    made = subscribe(client, keys, "email", "a@example.org", "planner")
    path = f"/v1/alert-subscribers/{made['id']}"
    assert client.delete(path, headers=keys["other_manager"]).status_code == 403
    assert client.delete(path, headers=keys["steward"]).json() == {"deleted": made["id"]}
    assert client.delete(path, headers=keys["steward"]).status_code == 404
    assert store.subscribers(town(store)) == []
    actions = [r.action for r in store.audit_rows(town(store))]
    assert actions.count("alert_subscriber.delete") == 1


# -- webhooks ---------------------------------------------------------------------------------


def test_a_webhook_arrives_signed_and_a_tampered_body_fails(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    secret = subscribe(client, keys, "webhook", receiver.url, "peer")["secret"]
    alert = make_alert(store, town(store))
    deliver_alert(store, settings, town(store), alert.id)

    [(headers, body)] = receiver.received
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Geo-Service-Event"] == "alert.sent"
    timestamp = headers["X-Geo-Service-Timestamp"]
    assert headers["X-Geo-Service-Signature"] == expected_signature(secret, timestamp, body)
    assert webhooks.verify(secret, timestamp, body, headers["X-Geo-Service-Signature"])
    tampered = body.replace(b"Downtown", b"Uptown!!")
    assert tampered != body
    assert not webhooks.verify(secret, timestamp, tampered, headers["X-Geo-Service-Signature"])
    assert not webhooks.verify(
        secret, str(int(timestamp) + 1), body, headers["X-Geo-Service-Signature"]
    )
    payload = json.loads(body)
    assert payload["alert"]["headline"] == HEADLINE and payload["alert"]["area"] == "Downtown"
    assert payload["fr"]["headline"] == FRENCH_HEADLINE
    assert payload["alert"]["id"] == alert.ref  # never the store's id
    assert payload["poster_url"] == f"/alerts/{alert.ref}/poster"
    [delivery] = store.deliveries(alert.id)
    assert (delivery.ok, delivery.detail) == (True, "204")


def test_a_failing_webhook_is_tried_three_times_then_recorded_as_failed(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    subscribe(client, keys, "webhook", receiver.url, "manager")
    receiver.statuses = [500, 500, 500, 500]
    alert = make_alert(store, town(store))
    deliver_alert(store, settings, town(store), alert.id)
    assert len(receiver.received) == 3
    [delivery] = store.deliveries(alert.id)
    assert (delivery.ok, delivery.detail) == (False, "500 (3 tries)")


def test_a_webhook_that_recovers_on_the_second_try_is_delivered(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    subscribe(client, keys, "webhook", receiver.url, "manager")
    receiver.statuses = [503]
    alert = make_alert(store, town(store))
    deliver_alert(store, settings, town(store), alert.id)
    assert len(receiver.received) == 2
    assert store.deliveries(alert.id)[0].detail == "204 (2 tries)"


def test_a_refusing_webhook_is_not_retried_and_redirects_are_not_followed(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    subscribe(client, keys, "webhook", receiver.url, "manager")
    receiver.statuses = [410, 302]
    first, second = make_alert(store, town(store)).id, make_alert(store, town(store)).id
    deliver_alert(store, settings, town(store), first)
    deliver_alert(store, settings, town(store), second)
    assert len(receiver.received) == 2
    assert [d.detail for d in store.deliveries(first)] == ["410"]
    assert [(d.ok, d.detail) for d in store.deliveries(second)] == [(False, "302")]


def test_an_unreachable_webhook_records_the_error_class_not_the_url(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nobody listens there
    subscribe(client, keys, "webhook", f"http://127.0.0.1:{port}/x", "peer")
    alert = make_alert(store, town(store))
    deliver_alert(store, settings, town(store), alert.id)
    [delivery] = store.deliveries(alert.id)
    assert delivery.ok is False
    assert delivery.detail == "ConnectionRefusedError (3 tries)"


def test_a_peer_hook_never_gets_a_count_below_k_and_a_manager_hook_gets_them(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    """The insider with a peer hook: three reports (k is 5) give no number at all."""
    subscribe(client, keys, "webhook", receiver.url, "peer")
    subscribe(client, keys, "webhook", receiver.url, "manager")
    alert = make_alert(store, town(store), releasable=3, observed=3)
    deliver_alert(store, settings, town(store), alert.id)
    (_, peer_body), (_, manager_body) = receiver.received
    peer = json.loads(peer_body)
    assert peer["alert"]["count"] is None and peer["alert"]["count_words"] is None
    for hidden in (b"observed", b"expected", b"releasable", b"threshold", b"area_key", b"1.25"):
        assert hidden not in peer_body
    manager = json.loads(manager_body)["alert"]
    assert (manager["observed"], manager["expected"], manager["releasable"]) == (3, 1.25, 3)


def test_a_peer_hook_gets_the_count_once_it_reaches_k(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    subscribe(client, keys, "webhook", receiver.url, "peer")
    alert = make_alert(store, town(store), releasable=5, observed=6)
    deliver_alert(store, settings, town(store), alert.id)
    peer = json.loads(receiver.received[0][1])["alert"]
    assert (peer["count"], peer["count_words"]) == (5, "5 overdoses reported")
    assert "observed" not in peer


def test_drafts_and_dismissed_alerts_are_never_delivered(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    subscribe(client, keys, "webhook", receiver.url, "manager")
    for status in ("drafted", "dismissed"):
        alert = make_alert(store, town(store), status=status)
        deliver_alert(store, settings, town(store), alert.id)
        assert store.deliveries(alert.id) == []
    deliver_alert(store, settings, town(store), 999_999)  # no such alert: nothing, no error
    assert receiver.received == []


def test_logs_name_the_alert_and_outcome_never_the_target_or_secret(
    client: TestClient,
    keys: Keys,
    store: SqlStore,
    settings: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = subscribe(client, keys, "webhook", receiver.url, "peer")["secret"]
    receiver.statuses = [500, 500, 500]
    alert = make_alert(store, town(store))
    with caplog.at_level(logging.INFO, logger="geo_service"):
        deliver_alert(store, settings, town(store), alert.id)
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert f"alert {alert.id} delivery by webhook: 500 (3 tries)" in said
    for secret_part in (secret, "127.0.0.1", "token", "Downtown", "naloxone"):
        assert secret_part not in said


def test_the_readmes_verification_snippet_accepts_a_delivery_and_refuses_a_tampered_one(
    client: TestClient, keys: Keys, store: SqlStore, settings: Settings, receiver: Receiver
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Alert delivery") :]
    snippet = section[section.index("```python\n") + 10 : section.index("```\n\nA webhook gets")]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # the README's own words, run as they are written
    secret = subscribe(client, keys, "webhook", receiver.url, "peer")["secret"]
    deliver_alert(store, settings, town(store), make_alert(store, town(store)).id)
    [(headers, body)] = receiver.received
    assert namespace["verified"](secret, headers, body)
    assert not namespace["verified"](secret, headers, body + b" ")
    assert not namespace["verified"]("whsec_other", headers, body)


def test_a_slow_webhook_times_out_and_is_recorded(
    client: TestClient,
    keys: Keys,
    store: SqlStore,
    settings: Settings,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT_S", 0.2)
    receiver.delay_s = 1.0
    subscribe(client, keys, "webhook", receiver.url, "peer")
    alert = make_alert(store, town(store))
    deliver_alert(store, settings, town(store), alert.id)
    assert len(receiver.received) == 3
    assert store.deliveries(alert.id)[0].detail == "TimeoutError (3 tries)"


def test_one_subscribers_failure_does_not_stop_the_next_and_nothing_raises(
    client: TestClient,
    keys: Keys,
    store: SqlStore,
    settings: Settings,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = subscribe(client, keys, "webhook", "https://hooks.example.org/a", "peer")
    second = subscribe(client, keys, "webhook", receiver.url, "peer")
    real_post = webhooks.post

    def post(url: str, secret: str, body: bytes) -> webhooks.Outcome:
        if "example.org" in url:
            raise RuntimeError("a bug in one delivery")
        return real_post(url, secret, body)

    monkeypatch.setattr(webhooks, "post", post)
    alert = make_alert(store, town(store))
    deliver_alert(store, settings, town(store), alert.id)
    outcomes = {d.subscriber_id: (d.ok, d.detail) for d in store.deliveries(alert.id)}
    assert outcomes == {first["id"]: (False, "RuntimeError"), second["id"]: (True, "204")}

    def broken(_program_id: int) -> list[object]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "subscribers", broken)
    with caplog.at_level(logging.ERROR, logger="geo_service"):
        deliver_alert(store, settings, town(store), alert.id)  # must not raise
    assert f"alert {alert.id} delivery stopped: RuntimeError" in caplog.text
