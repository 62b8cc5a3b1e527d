"""Attacks by an insider holding a valid peer or planner key (issue 13): each test here
failed before its fix. Idempotency keys, bounds on periods and stored dates, analysis costs,
rate limits and links, database file modes, and the audit of sub-k reads."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from geo_service.auth import Role, create_key
from geo_service.ingest.batches import idempotency_digest
from geo_service.main import create_app
from geo_service.storage import EventRows
from geo_service.storage.schema import batches
from geo_service.storage.sql import SqlStore
from tests.conftest import (
    batch_record,
    bearer,
    collection,
    feature,
    make_settings,
    problem,
    service_site,
)

Keys = dict[str, dict[str, str]]
# Peers may only send reports from the last grace window.
RECENT = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0).isoformat()


def post_events(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post("/v1/events", json=body, headers=headers)


# -- idempotency: scoped to the sending key, stored as a keyed hash -------------------------


def test_another_peers_idempotency_key_is_just_another_batch(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    peer_b, peer_c = (bearer(create_key(store, program="town", role=Role.PEER)[1]) for _ in "bc")
    guessed = "2026-12-02T05:01:07Z"  # a time-based key, as an app might send
    first = post_events(
        client,
        collection(feature(observed_at=RECENT)),
        {**keys["peer"], "Idempotency-Key": guessed},
    )
    assert first.status_code == 201
    # Another body: no 409 that would confirm A used this key.
    other = post_events(
        client,
        collection(feature(count=4, observed_at=RECENT)),
        {**peer_b, "Idempotency-Key": guessed},
    )
    assert other.status_code == 201
    # Same body: C's batch is stored, not A's answer replayed (A's batch id stays secret).
    same = post_events(
        client, collection(feature(observed_at=RECENT)), {**peer_c, "Idempotency-Key": guessed}
    )
    assert same.status_code == 201
    assert "Idempotent-Replayed" not in same.headers
    assert same.json()["batch_id"] != first.json()["batch_id"]
    assert store.count_rows(store.program_id("town") or 0)["events"] == 3


def test_the_sender_still_gets_a_replay_and_the_raw_key_is_not_stored(
    client: TestClient, keys: Keys, store: SqlStore
) -> None:
    headers = {**keys["peer"], "Idempotency-Key": "2026-12-02T05:01:07Z"}
    first = post_events(client, collection(feature(observed_at=RECENT)), headers)
    again = post_events(client, collection(feature(observed_at=RECENT)), headers)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(batches.c.idempotency_key)).scalars().all()
    assert len(stored) == 1 and stored[0] is not None
    assert "2026" not in stored[0] and len(stored[0]) == 64


def test_the_migration_hashes_keys_stored_verbatim(tmp_path: Path) -> None:
    from alembic import command

    from geo_service.storage.sql import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/old.sqlite3")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0009")
        conn.execute(sa.text("INSERT INTO programs (id, name, created_on) VALUES (1, 't', 'x')"))
        conn.execute(
            sa.text(
                "INSERT INTO ingest_batches (id, program_id, key_id, target, idempotency_key, "
                "fingerprint, received_on, response) "
                "VALUES ('b1', 1, NULL, 'events', 'raw-key-1', 'f', '2026-01-01', '{}')"
            )
        )
    store = SqlStore(engine)
    store.migrate()
    with engine.connect() as conn:
        stored = conn.execute(sa.select(batches.c.idempotency_key)).scalar_one()
    digest = idempotency_digest(
        store.server_secret(), key_id=None, target="events", value="raw-key-1"
    )
    assert stored == digest
    found = store.find_batch(1, "events", None, digest)
    assert found is not None and found.batch_id == "b1"
    store.close()


# -- bounds: no 500 from a period or a stored date, and no input in the log -----------------


@pytest.mark.parametrize("period", ["0000-01", "9999-Q4", "1999-12", "2101-Q1"])
def test_periods_outside_the_years_served_get_a_4xx(
    client: TestClient, keys: Keys, store: SqlStore, caplog: pytest.LogCaptureFixture, period: str
) -> None:
    store.set_publication(
        store.get_or_create_program("town"),
        replace(store.publication(store.get_or_create_program("town")), public_enabled=True),
    )
    paths = [
        ("/v1/hotspots?kind=needle_report&period=", keys["peer"]),
        ("/v1/published?kind=needle_report&period=", keys["peer"]),
        ("/v1/public/published?program=town&kind=needle_report&period=", {}),
        ("/v1/coverage?service=naloxone&period=", keys["peer"]),
    ]
    for path, headers in paths:
        with caplog.at_level(logging.INFO):
            answer = client.get(path + period, headers=headers)
        assert 400 <= answer.status_code < 500, (path, answer.status_code)
        body = problem(answer, answer.status_code)
        assert period not in str(body)
    ours = [r for r in caplog.records if r.name.startswith("geo_service")]
    assert ours and not any(period in r.getMessage() or r.exc_info for r in ours)


ODD_STARTS = {
    "year 1": int(dt.datetime(1, 1, 1, tzinfo=dt.UTC).timestamp()) - 6 * 3600,  # +06 midnight
    "year 9999": int(dt.datetime(9999, 12, 31, 23, tzinfo=dt.UTC).timestamp()),
}


def store_odd_events(store: SqlStore, bucket_start: int) -> None:
    """Rows with dates ingest would refuse, as an older version or a bad import left them."""
    program_id = store.get_or_create_program("town")
    one = np.array([1], dtype=np.int64)
    rows = EventRows(
        kind=["needle_report", "overdose"],
        cell_m=np.array([125, 250]),
        cell_ix=np.array([2524, 1262]),
        cell_iy=np.array([48577, 24288]),
        bucket_start=np.array([bucket_start, bucket_start]),
        bucket_hours=np.array([1, 6]),
        count=np.concatenate([one, one]),
        source=["peer", "ems"],
        fatal=[None, False],
        naloxone_doses=[None, 1],
        place_type=["park", None],
    )
    store.store_events(batch_record("events", program_id), rows)


@pytest.mark.parametrize("when", sorted(ODD_STARTS))
def test_stored_odd_dates_read_back_without_a_500(
    client: TestClient, keys: Keys, store: SqlStore, when: str
) -> None:
    store_odd_events(store, ODD_STARTS[when])
    reads = {
        "events": client.get("/v1/events", headers=keys["manager"]),
        "export geojson": client.get("/v1/export?format=geojson", headers=keys["steward"]),
        "export csv": client.get("/v1/export?format=csv", headers=keys["steward"]),
        "hotspots": client.get("/v1/hotspots?kind=needle_report", headers=keys["manager"]),
        "clusters": client.get(
            "/v1/hotspots?kind=needle_report&method=dbscan&min_events=1", headers=keys["manager"]
        ),
        "coverage": client.get("/v1/coverage?service=naloxone", headers=keys["manager"]),
    }
    assert [r.status_code for r in reads.values()] == [200, 200, 200, 200, 200, 422]  # no sites
    assert reads["events"].json()["numberReturned"] == 2


# -- costs: what one request may make the server compute -------------------------------------


@pytest.mark.parametrize("role", ["peer", "planner"])
@pytest.mark.parametrize(
    ("query", "limit"),
    [("permutations=9999&seed=7", "999 permutations"), ("distance_m=50000", "1676 m")],
)
def test_peers_and_planners_cannot_order_a_huge_analysis(
    client: TestClient, keys: Keys, role: str, query: str, limit: str
) -> None:
    answer = client.get(
        f"/v1/hotspots?kind=needle_report&period=2025-Q2&{query}", headers=keys[role]
    )
    assert limit in problem(answer, 400)["detail"]


def test_a_band_within_the_limit_is_still_served(client: TestClient, keys: Keys) -> None:
    answer = client.get(
        "/v1/hotspots?kind=needle_report&period=2025-Q2&distance_m=1500&permutations=999",
        headers=keys["peer"],
    )
    assert answer.status_code == 200


def test_a_slow_analysis_answers_503_then_its_kept_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo_service.services.hotspots import compute

    slow = compute.analyse_cells

    def analyse_cells(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return slow(*args, **kwargs)

    monkeypatch.setattr("geo_service.services.hotspots.cache.analyse_cells", analyse_cells)
    with TestClient(app := create_app(make_settings(tmp_path, analysis_seconds=0.2))) as client:
        manager = bearer(create_key(app.state.store, program="t", role=Role.MANAGER)[1])
        assert post_events(client, collection(feature()), manager).status_code == 201
        started = time.monotonic()
        first = client.get("/v1/hotspots?kind=needle_report", headers=manager)
        assert time.monotonic() - started < 0.9
        assert problem(first, 503)["code"] == "analysis_overdue"
        assert first.headers["Retry-After"] == "1"
        time.sleep(1.2)
        again = client.get("/v1/hotspots?kind=needle_report", headers=manager)
        assert again.status_code == 200 and again.headers["X-Analysis-Cache"] == "hit"


# -- rate limits, links and file modes --------------------------------------------------------


@pytest.mark.usefixtures("steady_minute")
def test_a_new_junk_key_per_request_stays_on_the_address_bucket(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_key=100, rate_limit_per_address=3)
    with TestClient(create_app(settings)) as client:
        junk = [bearer(f"gs_junk{n}") for n in range(5)]
        statuses = [client.get("/v1/sites", headers=h).status_code for h in junk]
        assert statuses == [401, 401, 401, 429, 429]
        # Routes that never look at the key cannot launder a junk key into a bucket either.
        docs = [client.get("/openapi.json", headers=bearer(f"x{n}")).status_code for n in range(2)]
        assert docs == [429, 429]


@pytest.mark.usefixtures("steady_minute")
def test_static_files_never_use_up_the_address_bucket(tmp_path: Path) -> None:
    # Every map page loads several of them; phones behind one address would otherwise be
    # refused the page's own script after a few maps (seen: map-labels.js answered 429).
    settings = make_settings(tmp_path, rate_limit_per_key=100, rate_limit_per_address=3)
    with TestClient(create_app(settings)) as client:
        assert {client.get("/static/map-labels.js").status_code for _ in range(10)} == {200}
        statuses = [client.get("/v1/sites").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]


@pytest.mark.usefixtures("steady_minute")
def test_a_valid_key_moves_to_its_own_bucket_and_back_when_revoked(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_per_key=100, rate_limit_per_address=3)
    with TestClient(app := create_app(settings)) as client:
        store = app.state.store
        key_id, key = create_key(store, program="t", role=Role.PEER)
        assert all(
            client.get("/v1/sites", headers=bearer(key)).status_code == 200 for _ in range(6)
        )
        assert [client.get("/v1/sites").status_code for _ in range(4)] == [401] * 3 + [429]
        store.revoke_key(key_id)
        assert [client.get("/v1/sites", headers=bearer(key)).status_code for _ in range(2)] == [
            401,
            429,
        ]


def test_links_never_echo_the_host_header(client: TestClient, keys: Keys) -> None:
    post_events(client, collection(feature(), feature(count=2)), keys["manager"])
    page = client.get(
        "/v1/events?limit=1&kind=needle_report&kind=overdose",
        headers={**keys["manager"], "Host": "evil.example"},
    ).json()
    (link,) = page["links"]
    assert "evil.example" not in link["href"]
    assert link["href"].startswith("/v1/events?")
    assert "kind=needle_report&kind=overdose" in link["href"]  # both kinds kept


def test_links_use_the_configured_public_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://maps.example.org/")
    with TestClient(app := create_app(settings)) as client:
        manager = bearer(create_key(app.state.store, program="t", role=Role.MANAGER)[1])
        post_events(client, collection(feature(), feature(count=2)), manager)
        page = client.get("/v1/events?limit=1", headers={**manager, "Host": "evil.example"})
        assert page.json()["links"][0]["href"].startswith("https://maps.example.org/v1/events?")


def test_database_files_are_private_to_the_service(
    client: TestClient, keys: Keys, settings: Any
) -> None:
    post_events(client, collection(feature()), keys["manager"])
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    assert all(f.exists() for f in files)
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {"0o600"}


# -- the audit of sub-k reads -----------------------------------------------------------------


def small_cell_reads(client: TestClient, keys: Keys) -> list[dict[str, Any]]:
    entries = client.get("/v1/audit", headers=keys["steward"]).json()["entries"]
    return [e["detail"] for e in entries if e["action"] == "small_cells.read"]


def assert_no_coordinates(details: list[dict[str, Any]]) -> None:
    text = str(details)
    assert "54.7" not in text and "101.8" not in text and "101.9" not in text


def test_a_managers_narrow_hotspot_window_and_download_are_audited(
    client: TestClient, keys: Keys
) -> None:
    post_events(client, collection(feature()), keys["manager"])
    window = "datetime=2025-05-01T00:00:00Z/2025-05-02T00:00:00Z"
    assert (
        client.get(f"/v1/hotspots?kind=needle_report&{window}", headers=keys["manager"]).status_code
        == 200
    )
    download = "/maps/hotspots.csv?kind=needle_report&period=2025-Q2"
    assert client.get(download, headers=keys["steward"]).status_code == 200
    # Peers see released cells only: nothing below k, nothing to audit.
    assert (
        client.get(
            "/v1/hotspots?kind=needle_report&period=2025-Q2", headers=keys["peer"]
        ).status_code
        == 200
    )
    reads = small_cell_reads(client, keys)
    assert [(r["route"], r["below_k"], r["k"]) for r in reads] == [
        ("/v1/hotspots", 1, 5),
        ("/maps/hotspots.csv", 1, 5),
    ]
    assert reads[0]["parameters"]["datetime"].startswith("2025-05-01")
    assert reads[1]["parameters"] == {"kind": "needle_report", "period": "2025-Q2"}
    assert_no_coordinates(reads)


def test_a_managers_coverage_gap_cells_are_audited(client: TestClient, keys: Keys) -> None:
    site = service_site("Office", ["naloxone"], "24/7")
    assert (
        client.post("/v1/sites", json=collection(site), headers=keys["manager"]).status_code == 201
    )
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).isoformat()
    far = feature(-101.905, 54.785, kind="overdose", observed_at=recent)
    post_events(client, collection(far, far), keys["manager"])
    answer = client.get("/v1/coverage?service=naloxone&kind=overdose", headers=keys["manager"])
    assert answer.json()["results"][0]["uncovered"]["features"]
    (read,) = small_cell_reads(client, keys)
    assert read["route"] == "/v1/coverage" and read["below_k"] >= 1
    assert read["parameters"]["service"] == "naloxone"
    assert_no_coordinates([read])


@pytest.mark.parametrize(
    "url", ["maps.example.org", "https://u:p@maps.example.org", "https://x/?a"]
)
def test_a_public_url_must_be_a_plain_address(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_URL"):
        make_settings(tmp_path, public_url=url)
