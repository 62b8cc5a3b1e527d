"""The Atom feed of sent alerts: valid against RFC 4287's RELAX NG schema and to feedparser,
cut to the reader's role (a peer's lacks drafts and counts below k; a manager's has the
counts), per program, in the request's language, and with hostile names as escaped text."""

from __future__ import annotations

import re
from pathlib import Path

import feedparser
import pytest
from fastapi.testclient import TestClient
from lxml import etree

from geo_service.auth import SESSION_COOKIE, start_session
from geo_service.storage.alert_records import StoredAlert
from geo_service.storage.records import ProgramPublication
from geo_service.storage.sql import SqlStore
from tests.conftest import bearer
from tests.geo_service.alert_helpers import make_alert
from tests.geo_service.alerting import REF

Keys = dict[str, dict[str, str]]
FEED = "/v1/alerts/feed.atom"
ATOM = "{http://www.w3.org/2005/Atom}"
SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parents[1] / "data" / "atom.rng")))
HEADLINE = "More overdoses than usual in the last 24 hours"
FRENCH_HEADLINE = "Plus de surdoses que d'habitude dans les dernières 24 heures"
HOSTILE = "</script>]]><b>&amp; ${x} `rm` <![CDATA[x]]>"


@pytest.fixture
def alerts(store: SqlStore, keys: Keys) -> dict[str, StoredAlert]:
    _ = keys  # programs "town" and "other" exist
    town, other = store.program_id("town"), store.program_id("other")
    assert town is not None and other is not None
    return {
        "small": make_alert(store, town, area_name="North End", releasable=3, observed=3),
        "draft": make_alert(store, town, area_name="Draft Lane", status="drafted"),
        "dismissed": make_alert(store, town, area_name="Dismissed Row", status="dismissed"),
        "large": make_alert(store, town, area_name="South End", releasable=7, observed=8),
        "other": make_alert(store, other, area_name="Elsewhere"),
    }


def valid_feed(body: bytes) -> feedparser.FeedParserDict:
    document = etree.fromstring(body)
    assert SCHEMA.validate(document), SCHEMA.error_log
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def fetch(client: TestClient, headers: dict[str, str], query: str = "") -> bytes:
    answer = client.get(FEED + query, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/atom+xml"
    assert answer.headers["cache-control"] == "no-store"  # personal: never kept by a cache
    return answer.content


def test_a_peers_feed_is_valid_atom_with_sent_alerts_only_and_no_count_below_k(
    client: TestClient, keys: Keys, alerts: dict[str, StoredAlert]
) -> None:
    body = fetch(client, keys["peer"])
    parsed = valid_feed(body)
    assert [e.title for e in parsed.entries] == [
        f"{HEADLINE} — South End",
        f"{HEADLINE} — North End",
    ]
    small, large = parsed.entries[1].content[0].value, parsed.entries[0].content[0].value
    assert "overdoses reported" not in small and "3" not in small.replace("24", "")
    assert "7 overdoses reported" in large and "8" not in large
    for hidden in (b"Draft Lane", b"Dismissed Row", b"Elsewhere", b"Reports in the window"):
        assert hidden not in body
    assert "Carry naloxone." in small
    assert parsed.entries[1].link == f"/alerts/{alerts['small'].ref}/poster"
    assert parsed.entries[1].id == f"tag:geo-service,2026:town/alerts/{alerts['small'].ref}"


def test_a_managers_feed_has_the_counts_of_the_manager_view_but_no_drafts(
    client: TestClient, keys: Keys, alerts: dict[str, StoredAlert]
) -> None:
    _ = alerts
    body = fetch(client, keys["manager"])
    parsed = valid_feed(body)
    assert len(parsed.entries) == 2
    small = parsed.entries[1].content[0].value
    assert "Reports in the window: 3; expected: 1.2." in small
    assert b"Draft Lane" not in body and b"Dismissed Row" not in body


def test_entry_ids_are_stable_across_roles_and_languages(
    client: TestClient, keys: Keys, alerts: dict[str, StoredAlert]
) -> None:
    ids = [
        [e.id for e in valid_feed(fetch(client, keys[role], query)).entries]
        for role, query in (("peer", ""), ("manager", ""), ("planner", "?lang=fr"))
    ]
    assert ids[0] == ids[1] == ids[2]
    assert all(re.fullmatch(rf"tag:geo-service,2026:town/alerts/{REF}", i) for i in ids[0])
    assert ids[0] == [
        f"tag:geo-service,2026:town/alerts/{alerts[a].ref}" for a in ("large", "small")
    ]


def test_the_feed_speaks_french_when_asked(
    client: TestClient, keys: Keys, alerts: dict[str, StoredAlert]
) -> None:
    _ = alerts
    for headers, query in (({}, "?lang=fr"), ({"Accept-Language": "fr-CA"}, "")):
        body = fetch(client, {**keys["peer"], **headers}, query)
        parsed = valid_feed(body)
        assert etree.fromstring(body).get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
        assert parsed.entries[0].title == f"{FRENCH_HEADLINE} — South End"
        assert "Ayez de la naloxone sur vous." in parsed.entries[0].content[0].value
        assert parsed.feed.title == "Alertes drogue : town"


def test_the_feed_needs_a_key_or_a_session(
    client: TestClient, keys: Keys, store: SqlStore, alerts: dict[str, StoredAlert]
) -> None:
    _ = alerts
    assert client.get(FEED).status_code == 401
    assert client.get(FEED, headers=bearer("gs_not-a-key")).status_code == 401
    client.cookies.set(SESSION_COOKIE, "expired-or-forged")
    assert client.get(FEED).status_code == 401
    token, _principal = start_session(store, keys["peer"]["Authorization"][7:], hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    parsed = valid_feed(fetch(client, {}))
    assert len(parsed.entries) == 2


def test_another_programs_alerts_are_absent(
    client: TestClient, keys: Keys, alerts: dict[str, StoredAlert]
) -> None:
    _ = alerts
    parsed = valid_feed(fetch(client, keys["other_manager"]))
    assert [e.title for e in parsed.entries] == [f"{HEADLINE} — Elsewhere"]


def test_an_empty_feed_is_valid(client: TestClient, keys: Keys) -> None:
    parsed = valid_feed(fetch(client, keys["peer"]))
    assert parsed.entries == []


def test_hostile_area_names_are_escaped_text(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    town = store.program_id("town")
    assert town is not None
    make_alert(store, town, area_name=HOSTILE)
    body = fetch(client, keys["peer"])
    parsed = valid_feed(body)
    assert parsed.entries[0].title == f"{HEADLINE} — {HOSTILE}"
    entry = etree.fromstring(body).find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}title") == f"{HEADLINE} — {HOSTILE}"
    assert b"</script>]]>" not in body and b"<b>" not in body


def test_an_unchanged_feed_answers_304(
    client: TestClient, keys: Keys, store: SqlStore, alerts: dict[str, StoredAlert]
) -> None:
    _ = alerts
    first = client.get(FEED, headers=keys["peer"])
    etag = first.headers["etag"]
    again = client.get(FEED, headers={**keys["peer"], "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    town = store.program_id("town")
    assert town is not None
    make_alert(store, town, area_name="New Street")
    changed = client.get(FEED, headers={**keys["peer"], "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_the_feed_holds_the_newest_fifty(client: TestClient, keys: Keys, store: SqlStore) -> None:
    town = store.program_id("town")
    assert town is not None
    made = [make_alert(store, town, area_name=f"Area {i}") for i in range(52)]
    parsed = valid_feed(fetch(client, keys["peer"]))
    assert len(parsed.entries) == 50
    assert parsed.entries[0].link == f"/alerts/{made[-1].ref}/poster"


def test_each_role_gets_its_own_k(
    client: TestClient, keys: Keys, store: SqlStore, alerts: dict[str, StoredAlert]
) -> None:
    """The steward raised the planners' k to 8: the alert with 7 releasable reports shows its
    count to peers (k 5) and not to planners."""
    _ = alerts
    town = store.program_id("town")
    assert town is not None
    store.set_publication(town, ProgramPublication(k_planner=8))
    peer = valid_feed(fetch(client, keys["peer"])).entries[0].content[0].value
    planner = valid_feed(fetch(client, keys["planner"])).entries[0].content[0].value
    assert "7 overdoses reported" in peer
    assert "overdoses reported" not in planner and "7" not in planner
