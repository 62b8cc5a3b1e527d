"""Who may open an alert's printable poster, and what it says: any signed-in role of the
program once the alert is sent, managers and stewards a draft's (a preview), the public only
what the steward published; every refusal is the same page as a reference that names no
alert. The
poster says no count below the public k, and a hostile area name stays text."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geo_service.auth import SESSION_COOKIE, start_session
from geo_service.storage.sql import SqlStore
from tests.geo_service.alert_helpers import make_alert
from tests.geo_service.alerting import UNKNOWN_REF

Keys = dict[str, dict[str, str]]
HEADLINE = "More overdoses than usual in the last 24 hours"


def poster(ref: str) -> str:
    return f"/alerts/{ref}/poster"


@pytest.fixture
def town(store: SqlStore, keys: Keys) -> int:
    _ = keys
    program_id = store.program_id("town")
    assert program_id is not None
    return program_id


def test_the_public_sees_a_poster_only_once_the_steward_publishes_it(
    client: TestClient, store: SqlStore, town: int
) -> None:
    alert = make_alert(store, town)
    missing = client.get(poster(UNKNOWN_REF))
    hidden = client.get(poster(alert.ref))
    assert hidden.status_code == missing.status_code == 404
    same = hidden.text.replace(poster(alert.ref), poster("REF"))
    assert same == missing.text.replace(poster(UNKNOWN_REF), poster("REF"))
    assert "Downtown" not in hidden.text
    assert store.set_poster_public(town, alert.id, True)
    shown = client.get(poster(alert.ref))
    assert shown.status_code == 200
    assert "Downtown" in shown.text and HEADLINE in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert store.set_poster_public(town, alert.id, False)
    assert client.get(poster(alert.ref)).status_code == 404


def test_signed_in_roles_see_sent_posters_and_managers_preview_drafts(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    sent = make_alert(store, town).ref
    drafted = make_alert(store, town, status="drafted")
    draft = drafted.ref
    dismissed = make_alert(store, town, status="dismissed").ref
    for role in ("peer", "planner", "manager", "steward"):
        assert client.get(poster(sent), headers=keys[role]).status_code == 200, role
        assert client.get(poster(dismissed), headers=keys[role]).status_code == 404, role
    for role in ("peer", "planner"):
        assert client.get(poster(draft), headers=keys[role]).status_code == 404, role
    for role in ("manager", "steward"):
        preview = client.get(poster(draft), headers=keys[role])
        assert preview.status_code == 200 and "Draft: not sent yet" in preview.text
    assert "Draft: not sent yet" not in client.get(poster(sent), headers=keys["peer"]).text
    # A sent poster can be published; a draft's cannot.
    assert not store.set_poster_public(town, drafted.id, True)
    assert client.get(poster(draft)).status_code == 404


def test_a_browser_session_opens_the_poster(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    sent = make_alert(store, town).ref
    token, _principal = start_session(store, keys["peer"]["Authorization"][7:], hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get(poster(sent)).status_code == 200


def test_another_programs_key_sees_only_published_posters(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    sent = make_alert(store, town)
    assert client.get(poster(sent.ref), headers=keys["other_manager"]).status_code == 404
    store.set_poster_public(town, sent.id, True)
    assert client.get(poster(sent.ref), headers=keys["other_manager"]).status_code == 200


def test_the_poster_says_what_to_do_the_phone_and_no_small_count(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    store.set_alert_phone(town, "204-555-0199")
    small = make_alert(store, town, releasable=9, observed=9).ref  # peer k 5, public k 10
    page = client.get(poster(small), headers=keys["peer"]).text
    for words in ("Drug alert", "town", "December 1, 2025", "Downtown", HEADLINE):
        assert words in page
    for words in ("Carry naloxone.", "Don&#39;t use alone.", "Call 204-555-0199"):
        assert words in page
    shown = page[page.index('<main class="poster">') :].replace(small, "REF")
    assert "9" not in shown.replace("204-555-0199", "").replace("&#39;", "")
    assert "<script" not in page.lower()
    large = make_alert(store, town, releasable=10, observed=12)
    assert "10 overdoses reported" in client.get(poster(large.ref), headers=keys["peer"]).text


def test_the_poster_speaks_french(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    sent = make_alert(store, town).ref
    page = client.get(poster(sent) + "?lang=fr", headers=keys["peer"]).text
    assert '<html lang="fr">' in page
    for words in ("Alerte drogue", "1 décembre 2025", "Ayez de la naloxone sur vous."):
        assert words in page
    assert "Appelez" not in page  # no phone set: no line for it


def test_a_hostile_area_name_stays_text(
    client: TestClient, keys: Keys, store: SqlStore, town: int
) -> None:
    hostile = "</script><script>alert(1)</script>${x}`whoami`"
    sent = make_alert(store, town, area_name=hostile).ref
    page = client.get(poster(sent), headers=keys["peer"]).text
    assert "<script>" not in page and "</script>" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;${x}`whoami`" in page


def test_the_public_look_up_finds_only_published_sent_alerts(any_store: SqlStore) -> None:
    town = any_store.get_or_create_program("town")
    sent = make_alert(any_store, town)
    draft = make_alert(any_store, town, status="drafted")
    assert any_store.program_name(town) == "town" and any_store.program_name(999) is None
    assert any_store.public_poster(sent.ref) is None
    assert any_store.public_poster(draft.ref) is None
    assert any_store.set_poster_public(town, sent.id, True)
    found = any_store.public_poster(sent.ref)
    assert found is not None and (found[0].id, found[0].poster_public, found[1]) == (
        sent.id,
        True,
        "town",
    )
    # Only its reference finds it: not its id, not a reference that names nothing.
    assert any_store.public_poster(str(sent.id)) is None
    assert any_store.public_poster(UNKNOWN_REF) is None
    assert any_store.set_poster_public(town, draft.id, True) is False
    assert any_store.public_poster(draft.ref) is None
