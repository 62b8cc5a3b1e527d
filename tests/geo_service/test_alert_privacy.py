"""What an alert tells each audience (issue 19, part 4), tested as an insider would try it:
a peer key that also sends reports, polls, pages from every reference it can name, and
compares its answers
with a planner's. Peers and planners see sent alerts only, in words, with a count only when
it reaches their k; never the rule's name, threshold, observed or expected values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.services.alerts import delivery
from geo_service.storage.sql import SqlStore
from tests.conftest import collection, feature, problem
from tests.geo_service.alerting import RULE, UNKNOWN_REF, add_rule, draft, square, town_id

Keys = dict[str, dict[str, str]]
K = 5  # the deployment's floor for peers and planners (publish_min_count)
PEER_MEMBERS = {
    "id", "kind", "headline", "area", "day", "window", "sent_at", "count", "count_words",
    "what_to_do",
}  # fmt: skip
RULE_NAME = "Tell no one: 3 in 24h at the old rink"


@pytest.fixture(autouse=True)
def no_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "deliver_alert", lambda *_: None)


def sent(client: TestClient, keys: Keys, store: SqlStore, rule_id: int, **draft_args: Any) -> str:
    """A sent alert's reference."""
    ref = draft(store, town_id(store), rule_id, **draft_args)
    confirmed = client.post(f"/v1/alerts/{ref}/confirm", headers=keys["manager"])
    assert confirmed.status_code == 200, confirmed.text
    return ref


@pytest.fixture
def rule_id(client: TestClient, keys: Keys) -> int:
    rule_id: int = add_rule(client, keys["steward"], name=RULE_NAME)["id"]
    return rule_id


def test_peers_and_planners_see_sent_alerts_only_and_no_rule_details(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    shown = sent(client, keys, store, rule_id, day="2026-11-28")
    draft(store, town_id(store), rule_id, day="2026-11-29")
    dismissed = draft(store, town_id(store), rule_id, day="2026-11-30")
    client.post(f"/v1/alerts/{dismissed}/dismiss", headers=keys["manager"])
    for role in ("peer", "planner"):
        for status in ("open", "history"):
            answer = client.get("/v1/alerts", params={"status": status}, headers=keys[role])
            alerts = answer.json()["alerts"]
            assert [a["id"] for a in alerts] == [shown], (role, status)
            assert set(alerts[0]) == PEER_MEMBERS
            assert RULE_NAME not in answer.text and "observed" not in answer.text
        one = client.get(f"/v1/alerts/{shown}", headers=keys[role]).json()
        assert one == alerts[0]
        assert one["headline"] == "More overdoses than usual in the last 24 hours"
        assert one["area"] == "the whole program area"
    managers = client.get("/v1/alerts", params={"status": "history"}, headers=keys["manager"])
    assert len(managers.json()["alerts"]) == 3


@pytest.mark.parametrize(("releasable", "shown"), [(K - 1, None), (K, K), (None, None)])
def test_a_count_is_shown_only_when_it_reaches_k(
    client: TestClient,
    keys: Keys,
    store: SqlStore,
    rule_id: int,
    releasable: int | None,
    shown: int | None,
) -> None:
    alert_id = sent(client, keys, store, rule_id, releasable=releasable)
    for role in ("peer", "planner"):
        alert = client.get(f"/v1/alerts/{alert_id}", headers=keys[role]).json()
        assert alert["count"] == shown
        assert (alert["count_words"] is None) == (shown is None)
    manager = client.get(f"/v1/alerts/{alert_id}", headers=keys["manager"]).json()
    assert (manager["count"], manager["observed"]) == (releasable, 4)


def test_a_steward_raised_k_applies_to_its_own_audience_only(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    alert_id = sent(client, keys, store, rule_id, releasable=K + 1)
    raised = client.put("/v1/program/publication", json={"k_peer": K + 2},
                        headers=keys["steward"])  # fmt: skip
    assert raised.status_code == 200, raised.text
    peer = client.get(f"/v1/alerts/{alert_id}", headers=keys["peer"]).json()
    planner = client.get(f"/v1/alerts/{alert_id}", headers=keys["planner"]).json()
    assert (peer["count"], planner["count"]) == (None, K + 1)
    assert planner["count_words"] == f"{K + 1} overdoses reported"
    # Besides the count, the two audiences are told exactly the same.
    drop = {"count", "count_words"}
    assert {k: v for k, v in peer.items() if k not in drop} == {
        k: v for k, v in planner.items() if k not in drop
    }


def _peer_view(client: TestClient, headers: dict[str, str], refs: list[str]) -> list[bytes]:
    """Everything a peer can ask about alerts naming ``refs`` (one alert each, and a page
    before each), as bytes."""
    answers = []
    asks: list[dict[str, Any]] = [
        {},
        {"status": "history"},
        {"status": "history", "limit": 1},
        {"status": "open", "limit": 200},
    ]
    asks += [{"status": "history", "before": ref} for ref in refs]
    for params in asks:
        answers.append(client.get("/v1/alerts", params=params, headers=headers).content)
    answers += [client.get(f"/v1/alerts/{ref}", headers=headers).content for ref in refs]
    return answers


def test_an_insider_who_reports_and_polls_learns_nothing_of_drafts(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    peer = keys["peer"]
    earlier = sent(client, keys, store, rule_id, day="2026-11-27", releasable=K)
    # The insider cannot guess a draft's reference; even given it, the answers must be those
    # for a reference that names nothing.
    before = _peer_view(client, peer, [earlier, UNKNOWN_REF])
    # The insider sends a burst of reports; the engine (here: by hand) drafts an alert.
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    burst = [feature(observed_at=hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ")) for _ in range(5)]
    reported = client.post("/v1/events", json=collection(*burst), headers=peer)
    assert reported.status_code == 201, reported.text
    drafted = draft(store, town_id(store), rule_id, day="2026-11-28", releasable=K)
    assert _peer_view(client, peer, [earlier, drafted]) == before
    client.post(f"/v1/alerts/{drafted}/dismiss", headers=keys["manager"])
    assert _peer_view(client, peer, [earlier, drafted]) == before
    # A second draft, waiting for review: its reference answers as one that never existed.
    waiting = draft(store, town_id(store), rule_id, day="2026-11-29", releasable=K)
    assert _peer_view(client, peer, [earlier, waiting]) == before
    assert _peer_view(client, peer, [earlier, UNKNOWN_REF]) == before
    missing = client.get(f"/v1/alerts/{UNKNOWN_REF}", headers=peer)
    for hidden in (drafted, waiting):
        answer = client.get(f"/v1/alerts/{hidden}", headers=peer)
        assert (answer.status_code, answer.content) == (missing.status_code, missing.content)
    problem(missing, 404)
    # Only once a manager sends it does the peer's answer change, by that alert alone.
    client.post(f"/v1/alerts/{waiting}/confirm", headers=keys["manager"])
    history = client.get("/v1/alerts", params={"status": "history"}, headers=peer).json()
    assert [a["id"] for a in history["alerts"]] == [waiting, earlier]


def test_sweeping_the_pages_shows_nothing_more(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    shown = {sent(client, keys, store, rule_id, day=f"2026-11-{d}") for d in (20, 22)}
    hidden = [draft(store, town_id(store), rule_id, day=f"2026-11-{d}") for d in (21, 23, 24)]
    client.post(f"/v1/alerts/{hidden[0]}/dismiss", headers=keys["manager"])
    for role in ("peer", "planner"):
        seen: set[str] = set()
        for status in ("open", "history"):
            for limit in (1, 2, 3, 200):
                # Every reference the insider could learn, and more: the drafts' too.
                for before in [None, UNKNOWN_REF, *sorted(shown), *hidden]:
                    params: dict[str, Any] = {"status": status, "limit": limit}
                    if before is not None:
                        params["before"] = before
                    answer = client.get("/v1/alerts", params=params, headers=keys[role])
                    if before in (UNKNOWN_REF, *hidden):
                        problem(answer, 400)
                        continue
                    page = answer.json()
                    seen |= {a["id"] for a in page["alerts"]}
                    assert page["next_before"] in (None, *shown)
        assert seen == shown, role


def test_another_programs_alert_answers_like_a_missing_one(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    alert_id = sent(client, keys, store, rule_id)
    from geo_service.auth import Role, create_key
    from tests.conftest import bearer

    outsider = bearer(create_key(store, program="other", role=Role.PEER)[1])
    foreign = client.get(f"/v1/alerts/{alert_id}", headers=outsider)
    missing = client.get(f"/v1/alerts/{UNKNOWN_REF}", headers=outsider)
    assert (foreign.status_code, foreign.content) == (missing.status_code, missing.content)
    assert client.get("/v1/alerts", params={"status": "history"},
                      headers=outsider).json()["alerts"] == []  # fmt: skip


def test_the_public_sees_no_alert(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    alert_id = sent(client, keys, store, rule_id)
    client.post(f"/v1/alerts/{alert_id}/poster", json={"public": True}, headers=keys["steward"])
    problem(client.get("/v1/alerts"), 401)
    problem(client.get(f"/v1/alerts/{alert_id}"), 401)


def test_a_peer_reads_the_alert_in_french(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    alert_id = sent(client, keys, store, rule_id, releasable=K)
    french = {**keys["peer"], "Accept-Language": "fr-CA,fr;q=0.9"}
    alert = client.get(f"/v1/alerts/{alert_id}", headers=french).json()
    assert alert["headline"] == "Plus de surdoses que d'habitude dans les dernières 24 heures"
    assert alert["count_words"] == f"{K} surdoses signalées"
    asked = client.get(f"/v1/alerts/{alert_id}", params={"lang": "fr"}, headers=keys["peer"])
    assert asked.json()["headline"] == alert["headline"]


HOSTILE = ["</script><script>alert(1)</script>", "${x}", "`id`", "{{7*7}}", "'; DROP TABLE x;--"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_data(client: TestClient, keys: Keys, name: str) -> None:
    rule = client.post("/v1/alert-rules", json={**RULE, "name": name}, headers=keys["steward"])
    assert rule.status_code == 201
    assert rule.headers["content-type"] == "application/json"
    listed = client.get("/v1/alert-rules", headers=keys["manager"]).json()
    assert listed["rules"][0]["name"] == name
    area = client.post("/v1/alert-areas", json=square(name), headers=keys["steward"])
    assert area.status_code == 201
    areas = client.get("/v1/alert-areas", headers=keys["manager"]).json()
    assert areas["features"][0]["properties"]["name"] == name


@pytest.mark.parametrize("name", HOSTILE)
def test_a_refusal_never_repeats_a_hostile_name(client: TestClient, keys: Keys, name: str) -> None:
    long_name = name + "x" * 120
    for response in (
        client.post("/v1/alert-rules", json={**RULE, "name": long_name}, headers=keys["steward"]),
        client.post(
            "/v1/alert-rules", json={**RULE, "name": name, "method": name}, headers=keys["steward"]
        ),
        client.post("/v1/alert-areas", json=square(long_name), headers=keys["steward"]),
        client.post("/v1/alert-areas", json=square(name, half_lon=0.001), headers=keys["steward"]),
        client.put("/v1/alert-settings", json={"phone": name}, headers=keys["steward"]),
    ):
        problem(response, 400)
        assert name not in response.text
