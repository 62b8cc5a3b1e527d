"""Issue 19's "done when", end to end through the HTTP API: a steward sets a rule, a burst of
overdose reports from peers' phones drafts an alert, a manager confirms it, and peers get it
on the feed, a signed webhook and a printable poster (the public only once published).
Nothing is inserted behind the service's back."""

from __future__ import annotations

import json
import uuid
from typing import Any

import feedparser
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.services.alerts.evaluate import settled
from geo_service.storage.sql import SqlStore
from tests.conftest import bearer
from tests.geo_service.test_alert_delivery import Receiver, expected_signature
from tests.geo_service.test_alert_delivery import quick_retries as quick_retries
from tests.geo_service.test_alert_delivery import receiver as receiver
from tests.geo_service.test_reports_api import report

Keys = dict[str, dict[str, str]]
PEERS = 6  # reporting phones, each one overdose in the same square within the last hours
THRESHOLD = 3
RULE: dict[str, object] = {
    "name": "3 or more overdoses in 24 hours",
    "kind": "overdose",
    "method": "count",
    "window_hours": 24,
    "threshold": THRESHOLD,
    "areas": "program",
    "auto_send": False,
    "options": {},
}


def _send_reports(app: FastAPI, client: TestClient, store: SqlStore) -> None:
    for n in range(PEERS):
        phone = bearer(create_key(store, program="town", role=Role.PEER, label=f"phone {n}")[1])
        sent = client.post(
            "/v1/reports",
            json=report(app, "overdose_helped"),
            headers={**phone, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert sent.status_code in (200, 201), sent.text
    settled()  # the rules run after each batch, off the request


def _alerts(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = client.get("/v1/alerts", params={"status": "open"}, headers=headers)
    assert answer.status_code == 200, answer.text
    alerts: list[dict[str, Any]] = answer.json()["alerts"]
    return alerts


def test_a_rule_a_burst_a_review_and_the_peers_are_warned(
    app: FastAPI, client: TestClient, store: SqlStore, keys: Keys, receiver: Receiver
) -> None:
    made = client.post("/v1/alert-rules", json=RULE, headers=keys["steward"])
    assert made.status_code == 201, made.text
    hook = client.post(
        "/v1/alert-subscribers",
        json={"channel": "webhook", "target": receiver.url, "audience": "peer"},
        headers=keys["steward"],
    )
    secret = hook.json()["secret"]
    peer_before = client.get("/v1/alerts", headers=keys["peer"]).content

    _send_reports(app, client, store)

    [draft] = _alerts(client, keys["manager"])
    # Drafted by the batch that crossed the threshold, with the counts of that moment; later
    # reports the same day add no second draft.
    assert (draft["status"], draft["observed"], draft["rule"]["name"]) == (
        "drafted",
        THRESHOLD,
        RULE["name"],
    )
    assert draft["releasable"] == THRESHOLD - 1  # the largest reporting key left out
    # A draft is for a person to review: peers see nothing yet, byte for byte.
    assert client.get("/v1/alerts", headers=keys["peer"]).content == peer_before
    assert receiver.received == []

    confirmed = client.post(f"/v1/alerts/{draft['id']}/confirm", headers=keys["manager"])
    assert confirmed.status_code == 200, confirmed.text
    settled()

    [seen] = _alerts(client, keys["peer"])
    assert seen["id"] == draft["id"]
    assert seen["headline"] == "More overdoses than usual in the last 24 hours"
    assert seen["count"] is None  # two reporters left out of three: below k, never said
    assert "observed" not in seen and "rule" not in seen

    [(headers, body)] = receiver.received
    timestamp = headers["X-Geo-Service-Timestamp"]
    assert headers["X-Geo-Service-Signature"] == expected_signature(secret, timestamp, body)
    assert json.loads(body)["alert"]["id"] == draft["id"]

    feed = client.get("/v1/alerts/feed.atom", headers=keys["peer"])
    parsed = feedparser.parse(feed.content)
    assert parsed.bozo == 0
    [entry] = parsed.entries
    assert "More overdoses than usual" in entry.title
    assert entry.link.endswith(f"/alerts/{draft['id']}/poster")

    poster = f"/alerts/{draft['id']}/poster"
    for_peer = client.get(poster, headers=keys["peer"])
    assert for_peer.status_code == 200
    assert "Carry naloxone." in for_peer.text
    french = client.get(poster, params={"lang": "fr"}, headers=keys["peer"])
    assert "Ayez de la naloxone sur vous." in french.text
    assert client.get(poster).status_code == 404  # the public: not until the steward says
    published = client.post(
        f"/v1/alerts/{draft['id']}/poster", json={"public": True}, headers=keys["steward"]
    )
    assert published.status_code == 200, published.text
    assert client.get(poster).status_code == 200
