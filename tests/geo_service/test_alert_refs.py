"""Outside the store an alert is named only by a random reference, never by the store's
sequential id: a gap between two ids a peer saw would show a draft nobody sent (or another
program's alert), and poster addresses would let anyone count a deployment's alerts. Tested
as the insider would try it: reading every answer for numbers, asking by id, and paging from
a draft's reference a manager let slip."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.services.alerts import delivery
from geo_service.storage.sql import SqlStore
from tests.conftest import problem
from tests.geo_service.alert_helpers import make_alert
from tests.geo_service.alerting import REF, UNKNOWN_REF, add_rule, draft, stored, town_id

Keys = dict[str, dict[str, str]]
KEYED = ("peer", "planner", "manager", "steward", "other_manager")
# What follows "alerts/" in a path or a feed's tag: an alert's name, or one of these words.
NAMED = re.compile(r"alerts/([A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def no_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "deliver_alert", lambda *_: None)


@pytest.fixture
def rule_id(client: TestClient, keys: Keys) -> int:
    made: int = add_rule(client, keys["steward"])["id"]
    return made


def send(client: TestClient, keys: Keys, ref: str) -> None:
    confirmed = client.post(f"/v1/alerts/{ref}/confirm", headers=keys["manager"])
    assert confirmed.status_code == 200, confirmed.text


def same(responses: list[Any]) -> tuple[int, bytes]:
    """The one answer every response gave (status and bytes)."""
    answers = {(r.status_code, r.content) for r in responses}
    assert len(answers) == 1, answers
    [answer] = answers
    return answer


def shared_start(a: str, b: str) -> int:
    """How many first characters two references share."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))


# -- (1) references reveal no order -----------------------------------------------------------


def test_two_alerts_drafted_in_a_row_have_unrelated_references(
    store: SqlStore, rule_id: int
) -> None:
    program_id = town_id(store)
    first = draft(store, program_id, rule_id, day="2026-11-29")
    second = draft(store, program_id, rule_id, day="2026-11-30")
    ids = [stored(store, program_id, ref).id for ref in (first, second)]
    assert ids[1] == ids[0] + 1  # the store's ids count up: that is what must not show
    assert first != second
    for ref in (first, second):
        assert re.fullmatch(REF, ref) and not ref.isdigit()
    # Twenty in a row: their order, prefixes and letters say nothing of when each was drafted
    # (each check fails by chance about once in a million runs or far less).
    refs = [draft(store, program_id, rule_id, day=f"2026-10-{d:02d}") for d in range(1, 21)]
    assert len(set(refs)) == len(refs)
    assert sorted(refs) not in (refs, refs[::-1])
    assert all(shared_start(a, b) <= 3 for a, b in itertools.pairwise(refs))
    assert len(set("".join(refs))) >= 40  # drawn from all 64 characters, not digits or hex


def test_no_store_id_appears_in_a_peers_answers_feed_or_poster_links(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    program_id = town_id(store)
    first = draft(store, program_id, rule_id, day="2026-11-28")
    send(client, keys, first)
    unsent = draft(store, program_id, rule_id, day="2026-11-29")  # the gap ids would show
    client.post(f"/v1/alerts/{unsent}/dismiss", headers=keys["manager"])
    second = draft(store, program_id, rule_id, day="2026-11-30")
    send(client, keys, second)
    peer = keys["peer"]

    listed = client.get("/v1/alerts", params={"status": "history", "limit": 1}, headers=peer)
    assert listed.json()["next_before"] == second
    rest = client.get("/v1/alerts", params={"status": "history", "before": second}, headers=peer)
    one = client.get(f"/v1/alerts/{first}", headers=peer)
    assert [a["id"] for a in listed.json()["alerts"] + rest.json()["alerts"]] == [second, first]
    assert one.json()["id"] == first
    for answer in (listed, rest, one):
        assert re.search(r'"id":\s*\d', answer.text) is None, answer.text
        assert re.search(r'"next_before":\s*\d', answer.text) is None, answer.text

    feed = client.get("/v1/alerts/feed.atom", headers=peer).text
    links = re.findall(r'href="([^"]*)"', feed)
    assert f"/alerts/{second}/poster" in links and f"/alerts/{first}/poster" in links
    # Every name after "alerts/" in the feed (entry ids, poster links, the feed's own id and
    # address) is a sent alert's reference or a word: never a number.
    assert set(NAMED.findall(feed)) == {first, second, "peer", "feed"}

    poster = client.get(f"/alerts/{first}/poster", headers=peer)
    assert poster.status_code == 200
    assert set(NAMED.findall(poster.text)) <= {first}


# -- (2) a numeric id names no alert --------------------------------------------------------


def test_a_numeric_id_in_a_path_names_no_alert_for_any_role(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    """Id 1 is a sent alert whose poster is public, id 2 a draft: asked by id, every role
    (and the public, for the poster) gets the one answer a number that names nothing gets,
    and nothing changes."""
    program_id = town_id(store)
    published = draft(store, program_id, rule_id, day="2026-11-29")
    send(client, keys, published)
    shown = client.post(
        f"/v1/alerts/{published}/poster", json={"public": True}, headers=keys["steward"]
    )
    assert shown.json()["poster_public"] is True
    waiting = draft(store, program_id, rule_id, day="2026-11-30")
    assert [stored(store, program_id, r).id for r in (published, waiting)] == [1, 2]
    assert client.get(f"/alerts/{published}/poster").status_code == 200  # by its reference

    reads = [
        client.get(f"/v1/alerts/{alert_id}", headers=keys[role])
        for role in KEYED
        for alert_id in (1, 2, 999)
    ]
    problem(reads[0], 422)
    same(reads)
    posters = [
        client.get(f"/alerts/{alert_id}/poster", headers=headers)
        for headers in ({}, *(keys[role] for role in KEYED))
        for alert_id in (1, 2, 999)
    ]
    assert same(posters)[0] == 422
    assert "overdoses" not in posters[0].text
    pages = [
        client.get("/v1/alerts", params={"status": "history", "before": 1}, headers=keys[role])
        for role in KEYED
    ]
    assert same(pages)[0] == 422
    # Those who may decide or publish (others are refused for their role first).
    changes = [
        client.post(f"/v1/alerts/{alert_id}/{action}", headers=keys[role])
        for role in ("manager", "steward")
        for action in ("confirm", "dismiss")
        for alert_id in (1, 2)
    ]
    changes += [
        client.post(
            f"/v1/alerts/{alert_id}/poster", json={"public": False}, headers=keys["steward"]
        )
        for alert_id in (1, 2)
    ]
    assert same(changes)[0] == 422
    assert stored(store, program_id, waiting).status == "drafted"
    assert stored(store, program_id, published).poster_public is True


# -- (3) a draft's reference opens no page ----------------------------------------------------


def test_paging_from_a_drafts_reference_tells_a_peer_nothing(
    client: TestClient, keys: Keys, store: SqlStore, rule_id: int
) -> None:
    """A manager may let a draft's reference slip (it is in their list); as a peer's
    ``before`` it answers exactly like a reference that names nothing. So do a dismissed
    alert's and another program's sent alert's."""
    program_id = town_id(store)
    older = draft(store, program_id, rule_id, day="2026-11-27")
    send(client, keys, older)
    dismissed = draft(store, program_id, rule_id, day="2026-11-28")
    client.post(f"/v1/alerts/{dismissed}/dismiss", headers=keys["manager"])
    waiting = draft(store, program_id, rule_id, day="2026-11-29")
    other_program = store.program_id("other")
    assert other_program is not None
    foreign = make_alert(store, other_program).ref
    # To a manager the draft's reference is a working place to page from.
    managers = client.get(
        "/v1/alerts", params={"status": "history", "before": waiting}, headers=keys["manager"]
    )
    assert [a["id"] for a in managers.json()["alerts"]] == [dismissed, older]

    for role in ("peer", "planner"):
        for status in ("open", "history"):
            for limit in (1, 200):
                pages = [
                    client.get(
                        "/v1/alerts",
                        params={"status": status, "limit": limit, "before": before},
                        headers=keys[role],
                    )
                    for before in (UNKNOWN_REF, waiting, dismissed, foreign, older)
                ]
                problem(pages[0], 400)
                same(pages[:4])
                # A sent alert's reference does page: the refusals above are not for all.
                assert pages[4].json() == {"alerts": [], "next_before": None}


def test_a_reference_never_starts_like_a_command_line_option() -> None:
    from geo_service.storage.sql.alerts import new_ref

    refs = [new_ref() for _ in range(3000)]  # about 47 would start with "-" if allowed
    assert not [ref for ref in refs if ref.startswith("-")]
    assert all(len(ref) == 16 for ref in refs)
