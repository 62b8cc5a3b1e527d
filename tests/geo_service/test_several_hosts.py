"""Several hosts: two real servers (``geo-service serve``) on one database give the same
answers, because nothing that changes an answer lives in a worker's memory (issue 20).

A request may land on either server, as behind any proxy: what one stores, the other serves
on its next request; a sign-in made on one works on the other; the rate limits and the
invite-code limiter count every request wherever it landed. Client addresses are set with
``X-Forwarded-For``, which uvicorn believes from loopback (a proxy on the same host), so each
part of the test has an address of its own.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from geo_service.auth import Role, create_key
from geo_service.cli import app as cli
from geo_service.deployment import Deployment
from geo_service.ingest.privacy import blur_locations
from geo_service.services.invites import InviteAsk, create_invite
from geo_service.settings import EventKind, Settings, get_settings
from geo_service.storage.alert_records import NewAlertRule
from geo_service.storage.sql import SqlStore, open_store
from tests.conftest import TOWN, collection, feature, fresh_postgres_database
from tests.geo_service.test_reports_api import ANSWERS
from tests.servers import server_env, servers

SERVER = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")
PER_KEY, PER_ADDRESS, WRONG_CODES = 40, 30, 3
LIMITS = {
    "rate_limit_per_key": PER_KEY,
    "rate_limit_per_address": PER_ADDRESS,
    "invite_failures_per_address": WRONG_CODES,
    "retention_months": 240,  # the fixed 2025 dates stay inside it
}
FORM_TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]*)"')


@dataclass
class Program:
    """What the test set up in the database before the servers started."""

    store: SqlStore
    keys: dict[Role, str]
    invite_code: str


def prepared(url: str) -> Program:
    store = open_store(url, grid_record=Deployment(Settings(database_url=url)).grid_record())
    keys = {role: create_key(store, program="town", role=role)[1] for role in Role}
    program_id = store.program_id("town")
    assert program_id is not None
    store.add_alert_rule(
        NewAlertRule(program_id, "3 in 24 h", "overdose", "count", 24, 3, "program", False, "{}", 0)
    )
    ask = InviteAsk(program_id=program_id, program="town", role=Role.PEER)
    code = create_invite(store, ask, actor="test").code
    return Program(store, keys, code)


def phone_square(deployment: Deployment) -> str:
    """The square a phone in town sends: the service's own snapping."""
    m, ix, iy = blur_locations([TOWN[0]], [TOWN[1]], [EventKind.NEEDLE_REPORT.value], deployment)
    return f"{m[0]}:{ix[0]}:{iy[0]}"


class Host:
    """One server, reached as a client behind a proxy would reach it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def get(self, path: str, *, key: str | None = None, client: str = "10.0.0.1", **kw: Any) -> Any:
        return self.http.get(path, headers=_headers(key, client, kw.pop("headers", {})), **kw)

    def post(
        self, path: str, *, key: str | None = None, client: str = "10.0.0.1", **kw: Any
    ) -> Any:
        headers = {"Origin": self.base} | _headers(key, client, kw.pop("headers", {}))
        return self.http.post(path, headers=headers, **kw)


def _headers(key: str | None, client: str, extra: dict[str, str]) -> dict[str, str]:
    headers = {"X-Forwarded-For": client} | extra
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def cookie(answer: Any, name: str) -> str:
    value = answer.cookies.get(name)
    assert value, f"no {name} cookie in the answer"
    return str(value)


def at_least_seconds_left_in_the_minute(seconds: float) -> None:
    """Limits count in fixed minutes: a burst that must meet its limit starts early enough
    to end in the same minute."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.1)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not SERVER:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    with fresh_postgres_database(SERVER) as url:
        yield url


@pytest.fixture(scope="module")
def two_hosts(postgres_url: str) -> Iterator[tuple[Host, Host, Program]]:
    program = prepared(postgres_url)
    env = server_env(database_url=postgres_url, **LIMITS)
    with servers(env, count=2, workers=2) as (a, b), Host(a) as host_a, Host(b) as host_b:
        yield host_a, host_b, program
    program.store.close()


# -- what one stores, the other serves ---------------------------------------------------------


def needles(n: int, day: str = "2025-05-01") -> dict[str, Any]:
    spots = [(TOWN[0] + 0.003 * (i % 4), TOWN[1] + 0.002 * (i % 3)) for i in range(n)]
    return collection(
        *[
            feature(lon, lat, observed_at=f"{day}T1{i % 10}:00:00Z")
            for i, (lon, lat) in enumerate(spots)
        ]
    )


def overdoses_now(n: int) -> dict[str, Any]:
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    return collection(*[feature(kind="overdose", observed_at=at) for _ in range(n)])


def send(host: Host, key: str, body: dict[str, Any]) -> None:
    sent = host.post(
        "/v1/events", key=key, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert sent.status_code == 201, sent.text


@pytest.mark.postgres
def test_a_batch_on_one_host_is_seen_on_the_other_at_once(two_hosts: Any) -> None:
    a, b, program = two_hosts
    manager = program.keys[Role.MANAGER]
    hotspots = "/v1/hotspots?kind=needle_report&period=2025-05"
    send(a, manager, needles(30))
    before = b.get(hotspots, key=manager)  # B computes and keeps this answer
    assert before.status_code == 200, before.text
    assert b.get(hotspots, key=manager).headers["X-Analysis-Cache"] == "hit"

    send(a, manager, collection(*needles(30)["features"], *overdoses_now(3)["features"]))
    after_b = b.get(hotspots, key=manager)
    assert after_b.headers["X-Analysis-Cache"] == "miss"  # the data version moved
    assert after_b.content != before.content
    assert after_b.content == a.get(hotspots, key=manager).content

    deadline = time.monotonic() + 20  # rules run after the batch, off the request
    while not (drafted := b.get("/v1/alerts?status=open", key=manager).json()["alerts"]):
        assert time.monotonic() < deadline, "the alert drafted on A never showed on B"
        time.sleep(0.3)
    assert [(x["status"], x["observed"]) for x in drafted] == [("drafted", 3)]
    assert a.get("/v1/alerts?status=open", key=manager).json()["alerts"] == drafted


@pytest.mark.postgres
def test_a_release_made_through_one_host_is_the_one_the_other_serves(two_hosts: Any) -> None:
    a, b, program = two_hosts
    peer = program.keys[Role.PEER]
    send(a, program.keys[Role.MANAGER], needles(40, day="2025-03-02"))
    published = "/v1/published?kind=needle_report&period=2025-03"
    made = a.get(published, key=peer)  # the first ask freezes the release
    assert made.status_code == 200, made.text
    assert b.get(published, key=peer).content == made.content
    manager = program.keys[Role.MANAGER]
    sealed = {h.get(published, key=manager).json()["summary"]["content_hash"] for h in (a, b)}
    assert len(sealed) == 1
    send(b, manager, needles(40, day="2025-03-03"))  # late: never enters the release
    assert a.get(published, key=peer).content == made.content
    assert b.get(published, key=manager).json()["summary"]["content_hash"] in sealed


# -- sign-ins made on one host work on the other -------------------------------------------------


@pytest.mark.postgres
def test_a_sign_in_on_one_host_works_on_the_other_until_signed_out_there(two_hosts: Any) -> None:
    a, b, program = two_hosts
    opened = a.get("/signin", client="10.0.1.1")
    form = {"key": program.keys[Role.MANAGER], "csrf_token": FORM_TOKEN.findall(opened.text)[0]}
    # The form was served by A and is sent to B: its token is the cookie's, not a worker's.
    signed_in = b.post(
        "/signin",
        client="10.0.1.1",
        data=form,
        headers={"Cookie": f"gs_signin={cookie(opened, 'gs_signin')}"},
    )
    assert signed_in.status_code == 303, signed_in.text
    session = {"Cookie": f"gs_session={cookie(signed_in, 'gs_session')}"}
    assert a.get("/maps", client="10.0.1.1", headers=session).status_code == 200
    page = b.get("/maps", client="10.0.1.1", headers=session)
    assert page.status_code == 200
    token = FORM_TOKEN.findall(page.text)[0]
    out = a.post("/signout", client="10.0.1.1", data={"csrf_token": token}, headers=session)
    assert out.status_code == 303
    assert b.get("/maps", client="10.0.1.1", headers=session).status_code != 200


@pytest.mark.postgres
def test_a_phone_joins_through_one_host_and_reports_through_the_other(two_hosts: Any) -> None:
    a, b, program = two_hosts
    opened = a.get("/join", client="10.0.2.1")
    join_cookie = {"Cookie": f"gs_join={cookie(opened, 'gs_join')}"}
    form = {"code": program.invite_code, "csrf_token": FORM_TOKEN.findall(opened.text)[0]}
    joined = b.post("/join", client="10.0.2.1", data=form, headers=join_cookie)
    assert joined.status_code == 303, joined.text
    phone = {"Cookie": f"gs_session={cookie(joined, 'gs_session')}"}
    token = a.get("/report/token", client="10.0.2.1", headers=phone).json()["token"]
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    square = b.get("/report/grid.json", client="10.0.2.1", headers=phone)
    assert square.status_code == 200
    body = {**ANSWERS["needles_here"], "type": "needles_here", "bucket": now.isoformat()}
    body["cell"] = phone_square(Deployment(Settings()))
    sent = b.post(
        "/v1/reports",
        client="10.0.2.1",
        json=body,
        headers={**phone, "X-Form-Token": token, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 201, sent.text
    manager = program.keys[Role.MANAGER]
    listed = a.get("/v1/events?kind=needle_report&limit=1000", key=manager).json()["features"]
    assert any(f["properties"].get("source") == "peer" for f in listed)
    manager = program.keys[Role.MANAGER]
    listed = a.get("/v1/events?kind=needle_report&limit=1000", key=manager).json()["features"]
    assert any(f["properties"].get("source") == "peer" for f in listed)
    assert sent.json().get("code") != "form_token"  # never for the token made on A


# -- the limits count every request, wherever it landed --------------------------------------


def alternate(hosts: tuple[Host, ...], count: int, path: str, **kw: Any) -> list[int]:
    turns = cycle(hosts)
    return [next(turns).get(path, **kw).status_code for _ in range(count)]


@pytest.mark.postgres
def test_rate_limits_are_shared_by_both_hosts(two_hosts: Any) -> None:
    a, b, program = two_hosts
    spread, alone = (create_key(program.store, program="town", role=Role.PEER)[1] for _ in range(2))
    at_least_seconds_left_in_the_minute(8)
    on_both = alternate((a, b), PER_KEY + 3, "/v1/sites", key=spread, client="10.0.3.1")
    on_one = alternate((a,), PER_KEY + 3, "/v1/sites", key=alone, client="10.0.3.2")
    assert on_both == on_one == [200] * PER_KEY + [429] * 3
    anonymous = alternate((a, b), PER_ADDRESS + 2, "/v1/sites", client="10.0.3.3")
    assert anonymous == [401] * PER_ADDRESS + [429] * 2
    limited = b.get("/v1/sites", client="10.0.3.3")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


@pytest.mark.postgres
def test_wrong_invite_codes_count_on_both_hosts(two_hosts: Any) -> None:
    a, b, _ = two_hosts
    opened = a.get("/join", client="10.0.4.1")
    form = {"code": "ZZZZ-ZZZZ", "csrf_token": FORM_TOKEN.findall(opened.text)[0]}
    join_cookie = {"Cookie": f"gs_join={cookie(opened, 'gs_join')}"}
    tries = [
        host.post("/join", client="10.0.4.1", data=form, headers=join_cookie).status_code
        for host in (a, b, a, b, a)
    ]
    assert tries == [401] * WRONG_CODES + [429] * 2
    assert b.post("/join", client="10.0.4.2", data=form, headers=join_cookie).status_code == 401


# -- the command that runs them ---------------------------------------------------------------


@pytest.mark.postgres
def test_serve_says_its_workers_share_the_database_and_links_use_the_public_address(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", postgres_url)
    monkeypatch.setenv("GEO_SERVICE_PUBLIC_URL", "https://maps.example.org")
    get_settings.cache_clear()
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: runs.append(options))
    try:
        result = CliRunner().invoke(cli, ["serve", "--workers", "2", "--port", "8123"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert [(r["workers"], r["port"]) for r in runs] == [(2, 8123)]
    said = result.stdout
    assert "Serving on http://127.0.0.1:8123 (public address https://maps.example.org)" in said
    assert "2, sharing limits, sessions" in said and "note:" not in result.stderr
    assert "https://maps.example.org/maps" in said and "127.0.0.1:8123/maps" not in said


# -- SQLite, the embedded default: two servers on one file ---------------------------------------


def test_two_servers_on_one_sqlite_file_share_the_limits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    program = prepared(url)
    env = server_env(database_url=url, **LIMITS)
    with servers(env, count=2, workers=1) as (base_a, base_b), Host(base_a) as a, Host(base_b) as b:
        at_least_seconds_left_in_the_minute(8)
        key = program.keys[Role.PEER]
        assert alternate((a, b), PER_KEY + 2, "/v1/sites", key=key) == [200] * PER_KEY + [429] * 2
        anonymous = alternate((a, b), PER_ADDRESS + 2, "/v1/sites", client="10.0.5.1")
        assert anonymous == [401] * PER_ADDRESS + [429] * 2
    program.store.close()
