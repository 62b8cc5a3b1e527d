"""A small program for the /ogc tests: a month of needle reports and overdoses that has
been published, a lonely square below k, sites, candidates and exclusions, a key per role.

Dates are relative to today (the latest published month), so the retention window can stay
short and the catalogue small: a year of months, quarters and half-years per kind.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import bearer, collection, feature, fresh_postgres_database, make_settings

HOT = (-101.8700, 54.7700)
WARM = (-101.8850, 54.7620)
LONELY = (-101.9200, 54.7450)  # far from everything else: two or three reports only
RETENTION_MONTHS = 12
PG_SERVER = os.environ.get("GEO_SERVICE_TEST_POSTGRES_URL")


def published_month(bucket: str = "month", tz: str = "America/Winnipeg") -> str:
    """The latest month (or quarter) published by now (grace 7 days), as ``2025-05``."""
    from zoneinfo import ZoneInfo

    from geo_service.periods import latest_published

    return latest_published(bucket, now=time.time(), grace_days=7, tz=ZoneInfo(tz))


def first_month(quarter: str) -> str:
    """``2025-04`` for ``2025-Q2``."""
    year, q = quarter.split("-Q")
    return f"{year}-{3 * int(q) - 2:02d}"


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A database URL: a SQLite file, or a fresh PostgreSQL database (skipped without
    GEO_SERVICE_TEST_POSTGRES_URL)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/test.sqlite3"
        return
    if not PG_SERVER:
        pytest.skip("set GEO_SERVICE_TEST_POSTGRES_URL to run")
    with fresh_postgres_database(PG_SERVER) as url:
        yield url


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _near(
    centre: tuple[float, float], rng: np.random.Generator, spread: float = 0.0004
) -> tuple[float, float]:
    return (
        round(centre[0] + rng.uniform(-spread, spread), 6),
        round(centre[1] + rng.uniform(-spread / 2, spread / 2), 6),
    )


def post(client: TestClient, headers: dict[str, str], rows: list[dict[str, Any]]) -> None:
    answer = client.post("/v1/events", json=collection(*rows), headers=headers)
    assert answer.status_code == 201, answer.text


def report_month(
    client: TestClient, keys: dict[str, dict[str, str]], month: str, *, peer: bool = True
) -> None:
    """Three reporters around HOT and WARM (shown), two at LONELY (below k however it is
    cut), and the peer's own report there today (in no published period)."""
    rng = np.random.default_rng(7)
    for n, reporter in enumerate(("manager", "steward", "manager2")):
        rows = [
            feature(*_near(HOT, rng), observed_at=f"{month}-{day:02d}T18:00:00Z")
            for day in range(1, 9)
        ]
        rows += [
            feature(*_near(WARM, rng, 0.0001), observed_at=f"{month}-{day:02d}T16:00:00Z")
            for day in range(10, 17)
        ]
        rows += [
            feature(*_near(HOT, rng), kind="overdose", observed_at=f"{month}-{d:02d}T03:00:00Z")
            for d in range(2, 6)
        ]
        if n < 2:
            rows.append(feature(*LONELY, observed_at=f"{month}-2{n}T12:00:00Z"))
        post(client, keys[reporter], rows)
    if peer:
        today = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
        post(client, keys["peer"], [feature(*LONELY, observed_at=today.isoformat())])


def add_layers(
    app: Any, program_id: int, *, candidates: int = 3, site_name: str = "Drop-in centre"
) -> None:
    """Two sites, ``candidates`` candidate sites and an exclusion, straight into the store."""
    from geo_service.storage import ContextFeature, SiteRecord
    from tests.conftest import batch_record

    store = app.state.store
    sites = [
        SiteRecord(site_name, "hr_supply", ("needles",), "Mo-Fr 09:00-17:00", None, *WARM),
        SiteRecord("Pharmacy", "pharmacy", ("naloxone",), None, None, *HOT),
    ]
    store.store_sites(batch_record("sites", program_id), sites)
    rng = np.random.default_rng(3)
    spots = [_near(HOT, rng) for _ in range(candidates)]
    rows = [
        ContextFeature("candidate", "locker", f"Candidate {i}", lon, lat, notes="power: yes")
        for i, (lon, lat) in enumerate(spots)
    ]
    rows.append(ContextFeature("exclusion", "school", "School", WARM[0], WARM[1], buffer_m=200))
    store.store_context(program_id, rows)


@contextmanager
def ogc_town(
    url: str, tmp: Path, *, candidates: int = 3, site_name: str = "Drop-in centre", **overrides: Any
) -> Iterator[dict[str, Any]]:
    """The app on ``url`` with program "town": keys per role, one published month."""
    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from geo_service.settings import Settings

    options: dict[str, Any] = {
        "rate_limit_per_key": 0,
        "rate_limit_per_address": 0,
        "retention_months": RETENTION_MONTHS,
        "map_tiles": "none",
        **overrides,
    }
    if url.startswith("sqlite"):
        settings = make_settings(tmp, **options)
    else:
        settings = Settings(database_url=url, **options)
    app = create_app(settings)
    with TestClient(app) as client:
        store = app.state.store
        keys = {r.value: bearer(create_key(store, program="town", role=r)[1]) for r in Role}
        keys["manager2"] = bearer(create_key(store, program="town", role=Role.MANAGER)[1])
        month, quarter = published_month(), published_month("quarter")
        report_month(client, keys, month)
        if first_month(quarter) != month:  # the hot spots and gaps read the latest quarter
            report_month(client, keys, first_month(quarter), peer=False)
        program_id = store.program_id("town")
        add_layers(app, program_id, candidates=candidates, site_name=site_name)
        yield {"app": app, "client": client, "keys": keys, "month": month, "quarter": quarter,
               "program_id": program_id, "store": store}  # fmt: skip


def month_start(month: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{month}-01T00:00:00-06:00")
