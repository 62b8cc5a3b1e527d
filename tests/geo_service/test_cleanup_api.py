"""Clean-up routes over HTTP: plans, GPX, the log, bad input, privacy, network import."""

from __future__ import annotations

import datetime as dt
import html
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import gpxpy
import numpy as np
import pyrosm
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_service.auth import Role, create_key
from geo_service.cli import app as cli_app
from geo_service.demo import demo_sites
from geo_service.deployment import Deployment
from geo_service.main import create_app
from geo_service.services.network import NetworkImportError, read_walking_network
from geo_service.storage.sql import SqlStore
from tests.conftest import (
    TOWN,
    batch_record,
    bearer,
    collection,
    demo_town,
    feature,
    make_settings,
    problem,
    service_site,
)
from tests.geo_service.test_maps import sign_in


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with demo_town(tmp_path_factory.mktemp("cleanup")) as loaded:
        sites = loaded["client"].get("/v1/sites", headers=loaded["keys"][Role.PEER]).json()
        loaded["dropin"] = next(
            f["id"] for f in sites["features"] if "Drop-in" in f["properties"]["name"]
        )
        yield loaded


def plan(town: Any, role: Role = Role.PEER, **body: Any) -> Any:
    body.setdefault("budget_minutes", 90)
    body.setdefault("start_site", town["dropin"])
    body.setdefault("search_seconds", 0.4)
    return town["client"].post("/v1/routes/cleanup", json=body, headers=town["keys"][role])


def stops_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in answer["features"] if f["properties"]["kind"] == "stop"]


def test_a_two_team_plan_from_the_drop_in_centre(town: Any) -> None:
    response = plan(town, teams=2)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    answer = response.json()
    summary = answer["summary"]
    assert summary["routing"]["mode"] == "walking network"
    assert summary["teams"] == 2 and summary["audience"] == "released cells only"
    stops = stops_of(answer)
    assert stops and summary["stops_visited"] == len(stops)
    assert summary["stops_visited"] + summary["stops_skipped"] == summary["candidates"]
    assert {s["properties"]["team"] for s in stops} == {1, 2}
    ids = [s["properties"]["stop"] for s in stops]
    assert len(ids) == len(set(ids))  # teams never share a stop
    paths = [f for f in answer["features"] if f["properties"]["kind"] == "path"]
    assert len(paths) == 2
    for path in paths:
        assert path["properties"]["duration_min"] <= 90
        assert len(path["geometry"]["coordinates"]) > path["properties"]["stops"] + 2  # streets
    for team in (1, 2):
        arrivals = [s["properties"]["arrival_minute"] for s in stops
                    if s["properties"]["team"] == team]  # fmt: skip
        assert arrivals == sorted(arrivals)
    for s in stops:
        assert s["properties"]["reason"].startswith(f"{s['properties']['needles_reported']} ")
    for skipped in summary["skipped"]:
        assert skipped["reason"]


def test_peers_are_only_sent_to_released_cells(town: Any) -> None:
    answer = plan(town).json()
    period = answer["summary"]["window"]
    released = town["client"].get(
        "/v1/published", params={"kind": "needle_report", "period": period},
        headers=town["keys"][Role.PEER],
    ).json()  # fmt: skip
    released_counts = {f["id"]: f["properties"]["count"] for f in released["features"]}
    candidates = [s["properties"] for s in stops_of(answer)]
    candidates += [{"stop": s["stop"]} for s in answer["summary"]["skipped"]]
    assert candidates
    for stop in candidates:
        assert stop["stop"] in released_counts
        if "needles_reported" in stop:
            assert stop["needles_reported"] == released_counts[stop["stop"]]
    manager = plan(town, Role.MANAGER).json()["summary"]
    assert manager["audience"] == "all cells"
    assert manager["candidates"] > answer["summary"]["candidates"]


def test_a_sent_start_point_never_comes_back(town: Any) -> None:
    deployment: Deployment = town["deployment"]
    lon, lat = -101.87612345, 54.76854321
    body = {"budget_minutes": 60, "start": {"lon": lon, "lat": lat}, "search_seconds": 0.2}
    response = town["client"].post("/v1/routes/cleanup", json=body,
                                   headers=town["keys"][Role.PEER])  # fmt: skip
    assert response.status_code == 200, response.text
    text = response.text
    assert f"{lon:.6f}" not in text and f"{lat:.6f}" not in text
    start = next(f for f in response.json()["features"] if f["properties"]["kind"] == "start")
    # It was replaced by the nearest path node (public map data).
    rows = town["store"].load_network(town["program_id"])[1]
    node = np.argmin(np.hypot(rows.lon - lon, rows.lat - lat))
    assert start["geometry"]["coordinates"] == pytest.approx(
        [rows.lon[node], rows.lat[node]], abs=2e-6
    )
    lon_s, lat_s = start["geometry"]["coordinates"]
    assert deployment.contains([lon_s], [lat_s])[0]


def test_gpx_by_format_and_by_accept_header(town: Any) -> None:
    for response in (
        town["client"].post("/v1/routes/cleanup?format=gpx",
                            json={"budget_minutes": 90, "teams": 2, "start_site": town["dropin"],
                                  "search_seconds": 0.3},
                            headers=town["keys"][Role.PEER]),
        town["client"].post("/v1/routes/cleanup",
                            json={"budget_minutes": 90, "teams": 2, "start_site": town["dropin"],
                                  "search_seconds": 0.3},
                            headers={**town["keys"][Role.PEER], "Accept": "application/gpx+xml"}),
    ):  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/gpx+xml")
        ET.fromstring(response.text)  # well-formed XML
        doc = gpxpy.parse(response.text)
        assert len(doc.tracks) == 2
        assert doc.waypoints and all((w.name or "").startswith("Team ") for w in doc.waypoints)
        assert all(len(t.segments[0].points) >= 2 for t in doc.tracks)


def test_logging_a_cleanup_changes_the_next_plan(town: Any) -> None:
    first = plan(town, teams=2).json()
    visited = [s["properties"]["stop"] for s in stops_of(first)]
    log = {"stops": [{"stop": s, "needles": 7} for s in visited]}
    response = town["client"].post("/v1/cleanups", json=log, headers=town["keys"][Role.PEER])
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == len(visited)
    second = plan(town, teams=2).json()
    again = {s["properties"]["stop"] for s in stops_of(second)}
    assert again != set(visited)
    # A just-cleaned stop is now worth nothing and says so.
    reasons = {s["stop"]: s["reason"] for s in second["summary"]["skipped"]}
    for stop in set(visited) - again:
        assert "cleaned recently" in reasons[stop]
    for s in stops_of(second):
        if s["properties"]["stop"] in visited:
            assert s["properties"]["days_since_cleaned"] == 0


def test_a_log_with_a_bad_stop_stores_nothing(town: Any) -> None:
    store: SqlStore = town["store"]
    before = store.count_rows(town["program_id"])["events"]
    good = stops_of(plan(town).json())[0]["properties"]["stop"]
    body = {"stops": [{"stop": good, "needles": 3}, {"stop": "not-a-stop", "needles": 1},
                      {"stop": "125:0:0", "needles": 1}]}  # fmt: skip
    answer = problem(
        town["client"].post("/v1/cleanups", json=body, headers=town["keys"][Role.PEER]), 422
    )
    assert [r["index"] for r in answer["rejected"]] == [1, 2]
    assert "not-a-stop" not in str(answer)
    assert store.count_rows(town["program_id"])["events"] == before
    bad: dict[str, Any]
    for bad in (
        {"stops": []},
        {"stops": [{"stop": good, "needles": -1}]},
        {"stops": [{"stop": good, "needles": 1, "name": "x"}]},
        {"stops": [{"stop": good, "needles": 1}], "finished_at": "2999-01-01T00:00:00Z"},
    ):
        problem(town["client"].post("/v1/cleanups", json=bad, headers=town["keys"][Role.PEER]),
                422 if "finished_at" not in bad else 400)  # fmt: skip
    problem(town["client"].post("/v1/cleanups", json={"stops": [{"stop": good, "needles": 1}]},
                                headers=town["keys"][Role.PLANNER]), 403)  # fmt: skip
    assert store.count_rows(town["program_id"])["events"] == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"budget_minutes": 0}, 422),
        ({"budget_minutes": -10}, 422),
        ({"budget_minutes": 100_000}, 422),
        ({"budget_minutes": "ninety"}, 422),
        ({"budget_minutes": 90, "teams": 0}, 422),
        ({"budget_minutes": 90, "start": {"lon": 0.0, "lat": 0.0}, "start_site": None}, 400),
        ({"budget_minutes": 90, "start": {"lon": "nan", "lat": 54.7}, "start_site": None}, 422),
        ({"budget_minutes": 90, "start_site": 999_999}, 404),
        ({"budget_minutes": 90, "start_site": None}, 400),
        ({"budget_minutes": 90, "colour": "red"}, 422),
        ({"budget_minutes": 90, "period": "2999-Q1"}, 400),
        ({"budget_minutes": 90, "period": "soon"}, 400),
    ],
)
def test_bad_requests_get_a_clear_4xx(town: Any, body: dict[str, Any], status: int) -> None:
    full = {"start_site": town["dropin"], **body}
    if full.get("start_site") is None:
        full.pop("start_site")
    answer = problem(
        town["client"].post("/v1/routes/cleanup", json=full, headers=town["keys"][Role.PEER]),
        status,
    )
    assert "ninety" not in str(answer) and "red" not in str(answer)


def test_an_empty_period_is_an_empty_plan_with_the_reason(town: Any) -> None:
    old = dt.date.today().year - 5
    answer = plan(town, period=f"{old}-Q1").json()
    assert stops_of(answer) == []
    assert answer["summary"]["stops_visited"] == 0
    assert any("no needle-report cells" in w for w in answer["summary"]["warnings"])


def test_without_a_network_every_answer_says_so(tmp_path: Path) -> None:
    app: FastAPI = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        store: SqlStore = app.state.store
        program_id = store.get_or_create_program("bare")
        store.store_sites(batch_record("sites", program_id), demo_sites())
        key = bearer(create_key(store, program="bare", role=Role.MANAGER)[1])
        site = client.get("/v1/sites", headers=key).json()["features"][0]["id"]
        answer = client.post("/v1/routes/cleanup", json={"budget_minutes": 60,
                             "start_site": site, "search_seconds": 0.1},
                             headers=key).json()  # fmt: skip
        routing = answer["summary"]["routing"]
        assert routing["mode"] == "straight line" and routing["detour_factor"] == 1.3
        assert any("no walking network" in w for w in answer["summary"]["warnings"])
        assert answer["summary"]["stops_visited"] == 0


# -- network import -------------------------------------------------------------------------

TEST_PBF = Path(pyrosm.get_data("test_pbf"))
AROUND_TEST_PBF = "26.935,60.522,26.965,60.538"


def test_the_real_extract_imports_with_progress(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/net.sqlite3")
    monkeypatch.setenv("GEO_SERVICE_SERVICE_AREA_BBOX", AROUND_TEST_PBF)
    monkeypatch.setenv("GEO_SERVICE_TIMEZONE", "Europe/Helsinki")
    runner = CliRunner()
    assert (
        runner.invoke(cli_app, ["keys", "create", "--role", "peer", "--program", "fi"]).exit_code
        == 0
    )
    result = runner.invoke(cli_app, ["network", "import", str(TEST_PBF), "--program", "fi"])
    assert result.exit_code == 0, result.output
    assert "nodes" in result.output and "edges" in result.output and "%" in result.output
    settings = make_settings(tmp_path, service_area_bbox=AROUND_TEST_PBF,
                             timezone="Europe/Helsinki")  # fmt: skip
    settings = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/net.sqlite3"})
    from geo_service.storage.sql import open_store

    store = open_store(settings.database_url)
    program_id = store.program_id("fi")
    assert program_id is not None
    info, rows = store.load_network(program_id)  # type: ignore[misc]
    assert info.source == "test.osm.pbf" and info.nodes == len(rows.lon) > 500
    assert info.edges == len(rows.u) > 500 and info.area_share > 0.5
    # Stored nodes are the extract's own coordinates, inside its bounds.
    assert rows.lon.min() >= 26.93 and rows.lon.max() <= 26.97
    # Importing again replaces, it does not add.
    again = runner.invoke(cli_app, ["network", "import", str(TEST_PBF), "--program", "fi"])
    assert again.exit_code == 0
    assert store.network_info(program_id).version == 2  # type: ignore[union-attr]
    assert store.network_info(program_id).nodes == info.nodes  # type: ignore[union-attr]
    store.close()


def test_files_that_cannot_be_a_network_are_refused(tmp_path: Path) -> None:
    here = Deployment(make_settings(tmp_path, service_area_bbox=AROUND_TEST_PBF))
    elsewhere = Deployment(make_settings(tmp_path))  # Flin Flon: not in the extract
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"this is not protobuf" * 100)
    text = tmp_path / "streets.csv"
    text.write_text("a,b\n1,2\n")
    cases = [
        (garbage, here, "could not be read as an OpenStreetMap PBF"),
        (text, here, "PBF format"),
        (tmp_path / "missing.osm.pbf", here, "no file"),
        (TEST_PBF, elsewhere, "holds no walkable ways"),
    ]
    for path, deployment, message in cases:
        with pytest.raises(NetworkImportError, match=message):
            read_walking_network(path, deployment)
    # A service area much larger than the extract: it covers too little of it.
    wide = Deployment(make_settings(tmp_path, service_area_bbox="26.85,60.48,27.05,60.58"))
    with pytest.raises(NetworkImportError, match="reaches only"):
        read_walking_network(TEST_PBF, wide)


def test_the_route_page_downloads_take_the_page_query(town: Any) -> None:
    browser = TestClient(town["app"])
    key = town["keys"][Role.PEER]["Authorization"].removeprefix("Bearer ")
    signed = sign_in(browser, key, "/maps/cleanup")
    assert signed.status_code == 303
    query = f"budget=60&teams=2&start_site={town['dropin']}"
    geojson = browser.get(f"/maps/cleanup.geojson?{query}")
    assert geojson.status_code == 200, geojson.text
    summary = geojson.json()["summary"]
    assert summary["budget_min"] == 60 and summary["teams"] == 2
    assert summary["audience"] == "released cells only"
    gpx = browser.get(f"/maps/cleanup.gpx?{query}")
    assert gpx.headers["content-type"].startswith("application/gpx+xml")
    assert gpx.text.count("<trk>") == 2
    page = browser.get(f"/maps/cleanup?{query}")
    # The link as HTML writes it ("&" as "&amp;"): the browser follows the same address.
    assert page.status_code == 200 and html.escape(f"/maps/cleanup.gpx?{query}") in page.text
    for bad in ("budget=0", "teams=21", "budget=abc"):
        refused = browser.get(f"/maps/cleanup.geojson?{bad}")
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        name, value = bad.split("=")
        assert refused.json()["errors"][0]["location"] == ["query", name]
        assert value not in refused.text  # the sent value is never repeated
    assert browser.get(f"/maps/cleanup.kml?{query}").status_code == 400


def test_a_stop_inside_a_park_polygons_buffer_counts_more(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    """The boost follows the drawn shape: the park's edge is 100 m from the reports, its
    centre 400 m, so only the polygon (not its centre) puts the stop within 200 m."""
    manager = keys["manager"]
    client.post("/v1/sites", json=collection(service_site("Office", ["needles"], "24/7")),
                headers=manager)  # fmt: skip
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).isoformat()
    reports = [feature(observed_at=when, count=4, source="peer") for _ in range(3)]
    assert client.post("/v1/events", json=collection(*reports), headers=manager).status_code == 201
    east = 100 / (111_320 * np.cos(np.radians(TOWN[1])))  # 100 m in degrees of longitude
    lon0, lon1, lat = TOWN[0] + east, TOWN[0] + 7 * east, TOWN[1]
    park = {"type": "Polygon", "coordinates": [[[lon0, lat - 0.002], [lon1, lat - 0.002],
            [lon1, lat + 0.002], [lon0, lat + 0.002], [lon0, lat - 0.002]]]}  # fmt: skip
    props = {"name": "Big park", "exclusion_type": "playground"}
    layer = collection({"type": "Feature", "geometry": park, "properties": props})
    assert client.post("/v1/exclusions", json=layer, headers=manager).status_code == 201
    office = client.get("/v1/sites", headers=manager).json()["features"][0]["id"]
    answer = client.post("/v1/routes/cleanup", json={"budget_minutes": 60, "start_site": office,
                         "search_seconds": 0.1}, headers=manager).json()  # fmt: skip
    (stop,) = stops_of(answer)
    assert "near Big park" in stop["properties"]["reason"]
