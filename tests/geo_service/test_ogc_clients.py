"""Real GIS clients against /ogc on a real server, on SQLite and PostgreSQL: GDAL's OAPIF
driver (ogrinfo lists the layers a role may read, ogr2ogr copies a released layer into a
GeoPackage with the same features and ids as /v1/published) and OWSLib paging through 5,000
candidate sites by next links.

Skipped when ogrinfo is missing, unless GEO_SERVICE_REQUIRE_GDAL is set (CI installs
gdal-bin): then a missing GDAL fails instead of hiding the tests.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.browser.test_maps_browser import running
from tests.geo_service.ogc_town import BACKENDS, database, ogc_town

MISSING = (
    "no ogrinfo: install gdal-bin to run the GIS client tests; .ci/run does "
    "(GEO_SERVICE_REQUIRE_GDAL=1)"
)
if not shutil.which("ogrinfo") and os.environ.get("GEO_SERVICE_REQUIRE_GDAL"):
    raise RuntimeError(MISSING)  # CI asked for these tests: a skip would hide them
pytestmark = pytest.mark.skipif(not shutil.which("ogrinfo"), reason=MISSING)
CANDIDATES = 5000


@pytest.fixture(params=BACKENDS, scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The /ogc town (5,000 candidate sites) behind uvicorn on a free port."""
    tmp = tmp_path_factory.mktemp(f"ogc-{request.param}")
    with (
        database(request.param, tmp) as url,
        ogc_town(url, tmp, candidates=CANDIDATES) as town,
        running(town["app"]) as base,
    ):
        yield {**town, "base": base}


def gdal(served: dict[str, Any], role: str, *args: str) -> str:
    key = served["keys"][role]["Authorization"]
    env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: {key}", "CPL_DEBUG": "OFF"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def layers(served: dict[str, Any], role: str) -> set[str]:
    listed = gdal(served, role, "ogrinfo", "-ro", "-q", f"OAPIF:{served['base']}/ogc")
    return {
        line.split(": ", 1)[1].split(" (", 1)[0] for line in listed.splitlines() if ": " in line
    }


def test_ogrinfo_lists_what_each_role_may_read(served: dict[str, Any]) -> None:
    month = served["month"]
    planner = layers(served, "planner")
    assert {f"needle_report-cells-{month}", f"overdose-cells-{month}", "sites"} <= planner
    assert {"candidates", "exclusions"} <= planner
    peer = layers(served, "peer")
    assert f"needle_report-cells-{month}" in peer and "sites" in peer
    assert not {"candidates", "exclusions"} & peer, "peers see no planning layers"
    assert peer == planner - {"candidates", "exclusions"}


def test_ogr2ogr_copies_the_released_layer_as_v1_published_has_it(
    served: dict[str, Any], tmp_path: Path
) -> None:
    layer = f"needle_report-cells-{served['month']}"
    out = tmp_path / "copy.gpkg"
    gdal(served, "peer", "ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{served['base']}/ogc", layer)
    with sqlite3.connect(out) as conn:
        rows = conn.execute(f'SELECT id, "count", cell_m FROM "{layer}" ORDER BY fid').fetchall()
    conn.close()
    published = served["client"].get(
        "/v1/published",
        params={"kind": "needle_report", "period": served["month"]},
        headers=served["keys"]["peer"],
    )
    features = published.json()["features"]
    expected = [(f["id"], f["properties"]["count"], f["properties"]["cell_m"]) for f in features]
    assert rows == expected and len(rows) >= 2


def test_owslib_pages_through_5000_candidates_by_next_links(served: dict[str, Any]) -> None:
    from owslib.ogcapi.features import Features

    api = Features(f"{served['base']}/ogc", headers=served["keys"]["planner"])
    assert "candidates" in {c["id"] for c in api.collections()["collections"]}
    page = api.collection_items("candidates", limit=1000)
    ids: list[int] = []
    pages = 1
    while True:
        assert page["numberMatched"] == CANDIDATES
        ids += [f["id"] for f in page["features"]]
        following = [link["href"] for link in page["links"] if link["rel"] == "next"]
        if not following:
            break
        asked = dict(parse_qsl(urlsplit(following[0]).query))
        page = api.collection_items("candidates", **asked)
        pages += 1
    assert pages == 5
    assert len(ids) == len(set(ids)) == CANDIDATES
    stored = served["store"].list_context(served["program_id"], "candidate")
    assert sorted(ids) == sorted(c.id for c in stored)
    peer = Features(f"{served['base']}/ogc", headers=served["keys"]["peer"])
    with pytest.raises(RuntimeError):  # 404, exactly as a collection that does not exist
        peer.collection_items("candidates", limit=10)
