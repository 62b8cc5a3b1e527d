"""Peers' hot-spot pages kept in the database by what they are made of (issue 20): a fresh
process or another host serves a stored page; each session still gets its own form token;
a new batch changes neither whether the page is served from the store nor its bytes; a new
street network or another language is another page; a withheld release stores nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.demo import demo_events, demo_streets
from geo_service.main import create_app
from geo_service.periods import Bucket, latest_published
from geo_service.services.releases.making import ReleaseWithheld
from geo_service.storage.schema import metadata, stored_pages
from geo_service.storage.sql import SqlStore
from geo_service.web import hotspots as hotspots_route
from maps.hotspots import hotspot_map
from tests.conftest import batch_record, demo_town
from tests.geo_service.test_maps import FORM_TOKEN, form_token_in, sign_in


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with demo_town(tmp_path_factory.mktemp("stored-pages")) as loaded:
        yield loaded


def _quarter(town: dict[str, Any], back: int = 0) -> str:
    latest = latest_published(Bucket.QUARTER, now=time.time(), grace_days=7,
                              tz=town["deployment"].tz)  # fmt: skip
    index = int(latest[:4]) * 4 + int(latest[-1]) - 1 - back
    return f"{index // 4}-Q{index % 4 + 1}"


def _count(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(stored_pages)).scalar_one())


def _no_drawing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the pages drawn from here on (a page served from the store draws none)."""
    drawn: list[int] = []
    draw = hotspot_map

    def counted(*args: Any, **kwargs: Any) -> str:
        drawn.append(1)
        return draw(*args, **kwargs)

    monkeypatch.setattr(hotspots_route, "hotspot_map", counted)
    return drawn


def _without_token(page: str) -> str:
    return FORM_TOKEN.sub('name="csrf_token" value=""', page)


def test_a_stored_page_is_served_by_a_fresh_app_with_each_sessions_own_token(
    town: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store: SqlStore = town["store"]
    period = _quarter(town, back=1)
    params = {"kind": "needle_report", "period": period}
    first_key = create_key(store, program="town", role=Role.PEER)[1]
    second_key = create_key(store, program="town", role=Role.PEER)[1]
    before = _count(store)
    client: TestClient = town["client"]
    sign_in(client, first_key)
    first = client.get("/maps/hotspots", params=params)
    assert first.status_code == 200
    assert _count(store) == before + 1
    drawn = _no_drawing(monkeypatch)
    # Another process (or host) on the same database: nothing cached in its memory.
    with TestClient(create_app(town["app"].state.settings)) as fresh:
        sign_in(fresh, second_key)
        second = fresh.get("/maps/hotspots", params=params)
    assert second.status_code == 200
    assert drawn == [], "the fresh app served the stored page, drawing nothing"
    first_token, second_token = form_token_in(first.text), form_token_in(second.text)
    assert first_token and second_token and first_token != second_token
    assert _without_token(first.text) == _without_token(second.text)
    assert first.headers["content-security-policy"] == second.headers["content-security-policy"]
    assert _count(store) == before + 1


def test_a_new_batch_changes_neither_the_stored_page_nor_whether_it_is_served(
    town: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store: SqlStore = town["store"]
    client: TestClient = town["client"]
    headers = town["keys"][Role.PEER]
    params = {"kind": "needle_report", "period": _quarter(town)}
    before = client.get("/maps/hotspots", params=params, headers=headers)
    assert before.status_code == 200
    stored = _count(store)
    drawn = _no_drawing(monkeypatch)
    version = store.data_version(town["program_id"])
    # Reports sent after the release, some of them inside its quarter (late rows).
    rows = demo_events(town["deployment"], end=pd.Timestamp.now(tz="UTC").floor("h")).rows
    store.store_events(batch_record("events", town["program_id"]), rows)
    assert store.data_version(town["program_id"]) > version
    after = client.get("/maps/hotspots", params=params, headers=headers)
    assert after.status_code == 200
    assert after.content == before.content
    assert drawn == [] and _count(store) == stored


def test_another_language_or_street_network_is_another_page(
    town: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store: SqlStore = town["store"]
    client: TestClient = town["client"]
    headers = town["keys"][Role.PEER]
    params = {"kind": "needle_report", "period": _quarter(town, back=2)}
    english = client.get("/maps/hotspots", params=params, headers=headers)
    assert english.status_code == 200
    stored = _count(store)
    drawn = _no_drawing(monkeypatch)
    french = client.get("/maps/hotspots", params=params,
                        headers={**headers, "Accept-Language": "fr"})  # fmt: skip
    assert french.status_code == 200 and french.content != english.content
    assert len(drawn) == 1 and _count(store) == stored + 1
    streets = demo_streets(town["deployment"])
    store.replace_network(town["program_id"], source="new streets", rows=streets, area_share=1.0)
    renewed = client.get("/maps/hotspots", params=params, headers=headers)
    assert renewed.status_code == 200 and renewed.content != english.content
    assert len(drawn) == 2 and _count(store) == stored + 2


def test_a_withheld_release_stores_no_page(
    town: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store: SqlStore = town["store"]
    client: TestClient = town["client"]
    period = _quarter(town, back=3)
    assert store.release_hash(town["program_id"], "needle_report", period) is None

    def withheld(*_args: Any, **_kwargs: Any) -> Any:
        raise ReleaseWithheld("withheld")

    monkeypatch.setattr("geo_service.services.hotspots.cache.get_release", withheld)
    stored = _count(store)
    refused = client.get("/maps/hotspots", params={"kind": "needle_report", "period": period},
                         headers=town["keys"][Role.PEER])  # fmt: skip
    assert refused.status_code != 200
    assert _count(store) == stored


def test_the_store_keeps_the_first_page_and_forgets_a_programs_pages(any_store: SqlStore) -> None:
    program = any_store.get_or_create_program("pages")
    other = any_store.get_or_create_program("other pages")
    assert any_store.stored_page("a" * 64) is None
    assert any_store.store_page("a" * 64, program, b"first", 100)
    assert not any_store.store_page("a" * 64, program, b"second", 200)
    assert any_store.stored_page("a" * 64) == b"first"
    assert any_store.store_page("b" * 64, program, b"old", 10)
    assert any_store.store_page("c" * 64, other, b"kept", 300)
    assert any_store.prune_pages(50) == 1
    assert any_store.stored_page("b" * 64) is None
    any_store.delete_program_data(program)
    assert any_store.stored_page("a" * 64) is None
    assert any_store.stored_page("c" * 64) == b"kept"
    assert any_store.delete_pages(other) == 1
    assert any_store.stored_page("c" * 64) is None


def test_the_migrated_page_table_is_the_declared_one(any_store: SqlStore) -> None:
    with any_store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("stored_pages")}
    assert [d for d in diffs if "stored_pages" in repr(d)] == []
    assert "ix_stored_pages_program_made" in indexes


def test_each_tick_of_the_maker_forgets_pages_older_than_a_week(any_store: SqlStore) -> None:
    from geo_service.deployment import Deployment
    from geo_service.services.releases.ahead import STORED_PAGE_DAYS, ReleaseMaker
    from geo_service.settings import Settings

    program = any_store.get_or_create_program("pages")
    now = 1_800_000_000
    week = STORED_PAGE_DAYS * 86_400
    any_store.store_page("a" * 64, program, b"old", now - week - 1)
    any_store.store_page("b" * 64, program, b"recent", now - week + 1)
    ReleaseMaker(any_store, Deployment(Settings()), every_s=0).tick(now=now)
    assert any_store.stored_page("a" * 64) is None
    assert any_store.stored_page("b" * 64) == b"recent"


def test_a_peers_stored_page_is_not_a_planners(
    town: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store: SqlStore = town["store"]
    client: TestClient = town["client"]
    params = {"kind": "overdose", "period": _quarter(town)}
    peer = client.get("/maps/hotspots", params=params, headers=town["keys"][Role.PEER])
    assert peer.status_code == 200
    stored = _count(store)
    drawn = _no_drawing(monkeypatch)
    planner = client.get("/maps/hotspots", params=params, headers=town["keys"][Role.PLANNER])
    assert planner.status_code == 200
    assert len(drawn) == 1 and _count(store) == stored + 1
