"""Invites: a steward's one-time code signs a phone in on /join, once, for a day, and no
more; refusals look alike, guesses are limited and audited, and the code is kept nowhere."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import segno
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.auth import Role, create_key, revoke_key
from geo_service.cli import app as cli
from geo_service.main import create_app
from geo_service.services.invites import (
    ALPHABET,
    CODE_BITS,
    InviteAsk,
    JoinLimiter,
    create_invite,
    join,
    join_url,
    normalise,
)
from geo_service.settings import Settings, get_settings
from geo_service.storage import Store
from tests.conftest import bearer, fresh_postgres_database, make_settings
from tests.geo_service.test_openapi import check_answer, document

POSTGRES = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
runner = CliRunner()
_ = document  # the OpenAPI document fixture, shared

ORIGIN = {"Origin": "http://testserver"}
FORM_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]*)"')
Keys = dict[str, dict[str, str]]


def form_token_in(page: str) -> str:
    found = FORM_TOKEN.search(page)
    assert found, "the page has no form token field"
    return found.group(1)


def invite(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    made = client.post("/v1/invites", json={"role": "peer"} | body, headers=headers)
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


def tap_join(app: FastAPI, code: str) -> tuple[TestClient, Any]:
    """A fresh phone: open the /join link, then tap Join (the form's POST)."""
    phone = TestClient(app)
    opened = phone.get("/join", params={"code": code})
    assert opened.status_code == 200
    data = {"code": code, "csrf_token": form_token_in(opened.text)}
    return phone, phone.post("/join", data=data, headers=ORIGIN, follow_redirects=False)


def open_ids(client: TestClient, steward: dict[str, str]) -> list[int]:
    return [i["id"] for i in client.get("/v1/invites", headers=steward).json()["invites"]]


def test_codes_avoid_look_alikes_and_forgive_how_they_are_typed() -> None:
    assert not set("01OIL") & set(ALPHABET) and len(ALPHABET) == 31
    assert math.isclose(CODE_BITS, 39.63, abs_tol=0.01)
    assert normalise(" abcd-efgh ") == normalise("ABCD EFGH") == "ABCDEFGH"
    for bad in ("ABCDEFG", "ABCDEFGHJ", "ABCDEFG0", "ABCDEFGO", "ABCDEFG1", "ABCDEFGL", ""):
        assert normalise(bad) is None, bad


def test_a_link_fills_the_field_and_a_tap_signs_the_phone_in(
    app: FastAPI, client: TestClient, keys: Keys, store: Store
) -> None:
    steward = keys["steward"]
    made = invite(client, steward, session_days=7)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", made["code"])
    assert made["url"] == f"/join?code={made['code']}"
    # Link previews and prefetches GET the link: the code must survive them.
    for _ in range(3):
        preview = TestClient(app).get(made["url"])
        assert preview.status_code == 200 and f'value="{made["code"]}"' in preview.text
        assert preview.headers["cache-control"] == "no-store"
        assert preview.headers["referrer-policy"] == "no-referrer"
    assert open_ids(client, steward) == [made["id"]]
    phone, joined = tap_join(app, made["code"].lower().replace("-", " "))
    assert joined.status_code == 303 and joined.headers["location"] == "/report"
    cookie = joined.headers["set-cookie"]
    assert "gs_session=" in cookie and "Max-Age=604800" in cookie and "HttpOnly" in cookie
    assert phone.get("/maps", follow_redirects=False).status_code == 200
    assert open_ids(client, steward) == []
    phones = [k for k in store.list_keys("town") if k.label == f"phone (invite {made['id']})"]
    assert [k.role for k in phones] == ["peer"]
    actions = [row.action for row in store.audit_rows()]
    assert actions[-2:] == ["invite.create", "invite.use"]


def test_every_bad_code_gets_the_same_plain_refusal(
    app: FastAPI, client: TestClient, keys: Keys, store: Store
) -> None:
    steward = keys["steward"]
    used = invite(client, steward)["code"]
    assert tap_join(app, used)[1].status_code == 303
    revoked = invite(client, steward)
    assert client.delete(f"/v1/invites/{revoked['id']}", headers=steward).status_code == 200
    program_id = store.program_id("town")
    assert program_id is not None
    old = create_invite(
        store, InviteAsk(program_id, "town", Role.PEER), actor="t", now=int(time.time()) - 86401
    )
    bodies = set()
    for code in (used, revoked["code"], old.code, "ZZZZ-ZZZZ", "not a code", "<script>"):
        phone, refused = tap_join(app, code)
        assert refused.status_code == 401, code
        assert "gs_session" not in refused.headers.get("set-cookie", "")
        assert phone.get("/maps", follow_redirects=False).status_code == 303
        bodies.add(refused.text)
    assert len(bodies) == 1 and "did not work" in bodies.pop()
    # Only something shaped like a code is written back into the page, so no markup is.
    for text in ("</script><b>x", "`${1}`", '"><img src=x>'):
        shown_back = TestClient(app).get("/join", params={"code": text}).text
        assert text not in shown_back and 'value=""' in shown_back
    refusals = [r for r in store.audit_rows() if r.action == "invite.refused"]
    assert len(refusals) == 6 and all(r.program_id is None for r in refusals)


def test_a_join_needs_this_browsers_form_token(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    code = invite(client, keys["steward"])["code"]
    phone = TestClient(app)
    token = form_token_in(TestClient(app).get("/join").text)  # another browser's
    for headers, data in ((ORIGIN, {"code": code}), (ORIGIN, {"code": code, "csrf_token": token})):
        refused = phone.post("/join", data=data, headers=headers, follow_redirects=False)
        assert refused.status_code == 403
    mine = form_token_in(phone.get("/join").text)
    elsewhere = {"Origin": "http://evil.example"}
    cross = phone.post("/join", data={"code": code, "csrf_token": mine},
                       headers=elsewhere, follow_redirects=False)  # fmt: skip
    assert cross.status_code == 403
    assert tap_join(app, code)[1].status_code == 303  # none of those used it


def test_only_stewards_invite_and_only_peers_or_planners(
    client: TestClient, keys: Keys, store: Store
) -> None:
    for role in ("peer", "planner", "manager"):
        assert (
            client.post("/v1/invites", json={"role": "peer"}, headers=keys[role]).status_code == 403
        )
        assert client.get("/v1/invites", headers=keys[role]).status_code == 403
    peer = {"role": "peer"}
    for body in ({"role": "manager"}, {"role": "steward"}, peer | {"session_days": 31},
                 peer | {"session_days": 0}, peer | {"program": "other"}):  # fmt: skip
        assert client.post("/v1/invites", json=body, headers=keys["steward"]).status_code == 422
    program_id = store.program_id("town")
    assert program_id is not None
    with pytest.raises(Exception, match="peer or planner"):
        create_invite(store, InviteAsk(program_id, "town", Role.MANAGER), actor="t")
    planner = invite(client, keys["steward"], role="planner")
    other_steward = bearer(create_key(store, program="other", role=Role.STEWARD)[1])
    assert client.get("/v1/invites", headers=other_steward).json() == {"invites": []}
    gone = client.delete(f"/v1/invites/{planner['id']}", headers=other_steward)
    assert gone.status_code == 404
    assert open_ids(client, keys["steward"]) == [planner["id"]]


@pytest.mark.usefixtures("keys")
def test_expiry_is_24_hours(store: Store) -> None:
    program_id = store.program_id("town")
    assert program_id is not None
    now = 1_800_000_000
    made = create_invite(store, InviteAsk(program_id, "town", Role.PEER), actor="t", now=now)
    assert join(store, made.code, now=now + 24 * 3600) is None
    assert join(store, made.code, now=now + 24 * 3600 - 1) is not None


@pytest.mark.usefixtures("keys")
def test_of_two_joins_at_once_exactly_one_wins(store: Store) -> None:
    assert one_winner_of_two(store) == 1


def one_winner_of_two(store: Store) -> int:
    program_id = store.program_id("town") or store.get_or_create_program("town")
    made = create_invite(store, InviteAsk(program_id, "town", Role.PEER), actor="t")
    barrier, results = threading.Barrier(2), []

    def racer() -> None:
        barrier.wait()
        results.append(join(store, made.code))

    threads = [threading.Thread(target=racer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phones = [k for k in store.list_keys("town") if k.label == f"phone (invite {made.id})"]
    winners = [r for r in results if r is not None]
    assert len(phones) == len(winners)
    return len(winners)


def test_revoking_the_phone_or_its_invite_ends_the_session(
    app: FastAPI, client: TestClient, keys: Keys, store: Store
) -> None:
    steward = keys["steward"]
    first = invite(client, steward)
    phone, _ = tap_join(app, first["code"])
    [key] = [k for k in store.list_keys("town") if k.label == f"phone (invite {first['id']})"]
    assert revoke_key(store, key.id)  # what `keys revoke ID` does
    assert phone.get("/maps", follow_redirects=False).status_code == 303
    second = invite(client, steward)
    phone, _ = tap_join(app, second["code"])
    assert phone.get("/maps", follow_redirects=False).status_code == 200
    gone = client.delete(f"/v1/invites/{second['id']}", headers=steward)
    assert gone.json() == {"revoked": second["id"]}
    assert phone.get("/maps", follow_redirects=False).status_code == 303
    assert "invite.revoke" in [r.action for r in store.audit_rows()]


@pytest.fixture
def limited(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, invite_failures_per_address=3)


def test_guessing_trips_the_limit_and_is_audited(limited: Settings) -> None:
    app = create_app(limited)
    with TestClient(app) as client:
        store: Store = app.state.store
        steward = bearer(create_key(store, program="town", role=Role.STEWARD)[1])
        code = invite(client, steward)["code"]
        for _ in range(3):
            assert tap_join(app, "ZZZZ-ZZZZ")[1].status_code == 401
        _, blocked = tap_join(app, code)  # even the right code waits now
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 900
        actions = [r.action for r in store.audit_rows()]
        assert actions.count("invite.refused") == 3 and "invite.rate_limited" in actions
        assert open_ids(client, steward) != []


def test_the_limit_counts_each_address_and_everyone(any_store: Store) -> None:
    limiter = JoinLimiter(per_address=3, overall=5, window_s=900)
    for _ in range(3):
        limiter.failed(any_store, "a", 1000.0)
    assert limiter.retry_after(any_store, "a", 1000.0) == 900
    assert limiter.retry_after(any_store, "b", 1000.0) is None
    limiter.failed(any_store, "b", 1010.0)
    limiter.failed(any_store, "c", 1020.0)
    assert limiter.retry_after(any_store, "d", 1030.0) == 870  # five failures in all: all wait
    assert limiter.retry_after(any_store, "d", 1900.5) is None  # the first three have aged out
    assert limiter.retry_after(any_store, "a", 1900.5) is None
    limiter.failed(any_store, "e", 1915.0)  # and are forgotten with the next failure
    with any_store.engine.connect() as conn:  # type: ignore[attr-defined]
        kept = conn.execute(sa.text("SELECT at, address FROM join_failures")).all()
    assert sorted(at for at, _ in kept) == [1020.0, 1915.0]
    assert not {"a", "b", "c", "e"} & {address for _, address in kept}  # digests only


def test_the_code_is_kept_nowhere(
    app: FastAPI,
    client: TestClient,
    keys: Keys,
    store: Store,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    made = invite(client, keys["steward"])
    wrong = "WXYZ-2345"
    tap_join(app, wrong)
    tap_join(app, made["code"])
    tap_join(app, made["code"])
    secrets_ = {made["code"], made["code"].replace("-", ""), wrong, wrong.replace("-", "")}
    audit = " ".join(f"{r.actor} {r.action} {r.detail}" for r in store.audit_rows())
    # Every log line but the test client's own (httpx prints the URL it was asked to get).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "POST /join 303" in logged
    for text in (logged, audit):
        assert not any(s in text for s in secrets_)
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert not any(s.encode() in stored for s in secrets_)


def test_the_steward_api_answers_match_their_schemas(
    client: TestClient, keys: Keys, document: dict[str, Any]
) -> None:
    made = client.post(
        "/v1/invites", json={"role": "planner", "label": "van"}, headers=keys["steward"]
    )
    check_answer(document, "post", "/v1/invites", made)
    check_answer(document, "get", "/v1/invites", client.get("/v1/invites", headers=keys["steward"]))
    gone = client.delete(f"/v1/invites/{made.json()['id']}", headers=keys["steward"])
    check_answer(document, "delete", "/v1/invites/{invite_id}", gone)
    listed = client.get("/v1/invites", headers=keys["steward"]).json()
    assert listed == {"invites": []} and made.json()["code"] not in str(listed)


def test_the_cli_prints_a_code_and_a_qr_for_the_public_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("GEO_SERVICE_PUBLIC_URL", "https://maps.example.org")
    get_settings.cache_clear()
    try:
        assert (
            runner.invoke(
                cli, ["keys", "create", "--role", "steward", "--program", "town"]
            ).exit_code
            == 0
        )
        png = tmp_path / "invite.png"
        args = ["keys", "invite", "--role", "peer", "--program", "town", "--session-days", "14"]
        made = runner.invoke(cli, [*args, "--png", str(png)])
        assert made.exit_code == 0, made.output
        code = made.stdout.splitlines()[0]
        assert normalise(code) is not None and "▀" in made.stdout  # the terminal QR code
        assert png.read_bytes().startswith(b"\x89PNG")
        assert "14 days" in made.stderr and "until" in made.stderr
        listed = runner.invoke(cli, ["keys", "invites"]).stdout
        assert "town\tpeer\t14 days" in listed and code not in listed
        manager = runner.invoke(cli, ["keys", "invite", "--role", "manager", "--program", "town"])
        assert manager.exit_code == 2 and "keys create" in manager.stderr
        invite_id = listed.split("\t")[0]
        assert runner.invoke(cli, ["keys", "revoke-invite", invite_id]).exit_code == 0
        assert runner.invoke(cli, ["keys", "invites"]).stdout == ""
        assert runner.invoke(cli, ["keys", "revoke-invite", "999"]).exit_code == 2
    finally:
        get_settings.cache_clear()


def test_the_qr_carries_the_join_link() -> None:
    qr = segno.make(join_url("https://maps.example.org/", "ABCDEFGH"), error="m")
    assert join_url("https://maps.example.org/", "ABCDEFGH") == (
        "https://maps.example.org/join?code=ABCD-EFGH"
    )
    assert qr.error in "MQH" and int(qr.version) <= 4  # small enough for a cheap camera


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES, reason="set GEO_SERVICE_TEST_POSTGRES_URL to run")
def test_postgresql_joins_once_and_keeps_no_code() -> None:
    assert POSTGRES is not None
    with fresh_postgres_database(POSTGRES) as url:
        app = create_app(Settings(database_url=url))
        with TestClient(app) as client:
            store: Store = app.state.store
            steward = bearer(create_key(store, program="town", role=Role.STEWARD)[1])
            code = invite(client, steward)["code"]
            phone, joined = tap_join(app, code)
            assert joined.status_code == 303
            assert phone.get("/maps", follow_redirects=False).status_code == 200
            assert tap_join(app, code)[1].status_code == 401
            assert all(one_winner_of_two(store) == 1 for _ in range(5))
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
            with engine.connect() as conn:
                dumped = str(conn.execute(sa.text("SELECT * FROM invites")).all())
                dumped += str(conn.execute(sa.text("SELECT * FROM audit_log")).all())
            engine.dispose()
            assert code not in dumped and code.replace("-", "") not in dumped


@pytest.mark.usefixtures("keys")
def test_a_join_is_written_whole_or_not_at_all(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    program_id = store.program_id("town")
    assert program_id is not None
    made = create_invite(store, InviteAsk(program_id, "town", Role.PEER), actor="t")
    keys_before = len(store.list_keys())

    def broken(*_: object) -> None:
        raise RuntimeError("the audit row could not be written")

    monkeypatch.setattr(store, "_append_audit", broken)
    with pytest.raises(RuntimeError):
        join(store, made.code)
    monkeypatch.undo()
    assert len(store.list_keys()) == keys_before  # no phone key, no session
    assert join(store, made.code) is not None  # and the code was not used up
