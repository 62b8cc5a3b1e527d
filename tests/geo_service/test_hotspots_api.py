"""GET /v1/hotspots: every method, the role cut, caching, bad parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from geo_service.auth import Role, create_key
from geo_service.storage.sql import SqlStore
from tests.conftest import TOWN, bearer, collection, feature, problem

Keys = dict[str, dict[str, str]]
K = 5  # the default publication threshold for peers and planners
QUARTER = "2025-Q2"  # every test event falls in it
HOT = (-101.8700, 54.7700)


def town_events(seed: int = 0) -> list[dict[str, Any]]:
    """80 reports in a ~200 m hot spot, 30 scattered singles, and a cell holding 3."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(80):
        lon = HOT[0] + rng.uniform(-0.0015, 0.0015)
        lat = HOT[1] + rng.uniform(-0.0009, 0.0009)
        rows.append(feature(round(lon, 7), round(lat, 7), observed_at="2025-05-01T13:45:00Z"))
    for _ in range(30):
        lon, lat = rng.uniform(-101.925, -101.835), rng.uniform(54.745, 54.795)
        rows.append(feature(round(lon, 7), round(lat, 7), observed_at="2025-06-02T08:00:00Z"))
    for _ in range(3):
        rows.append(feature(-101.9000, 54.7900, observed_at="2025-06-03T08:00:00Z"))
    return rows


def post_events(client: TestClient, rows: list[dict[str, Any]], headers: dict[str, str]) -> None:
    response = client.post("/v1/events", json=collection(*rows), headers=headers)
    assert response.status_code == 201, response.text


@pytest.fixture
def town(client: TestClient, keys: Keys, store: SqlStore) -> int:
    """The town's events, sent by three keys in turn (the publication step wants two)."""
    rows = town_events()
    reporters = [
        keys["manager"],
        keys["steward"],
        bearer(create_key(store, program="town", role=Role.MANAGER)[1]),
    ]
    for i, headers in enumerate(reporters):
        post_events(client, rows[i::3], headers)
    return len(rows)


def hotspots(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    params.setdefault("kind", "needle_report")
    response = client.get("/v1/hotspots", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "FeatureCollection"
    return body


# -- what managers see ---------------------------------------------------------------------


def test_manager_gets_every_cell_with_its_statistics(
    client: TestClient, keys: Keys, town: int
) -> None:
    body = hotspots(client, keys["manager"], method="gi_star")
    summary = body["summary"]
    assert summary["counts"]["events"] == town
    assert sum(f["properties"]["count"] for f in body["features"]) == town
    parameters = summary["parameters"]
    assert parameters["distance_rule"] != "given"
    assert parameters["distance_m"] == parameters["automatic_distance_m"]
    assert parameters["distance_m"] <= parameters["band_search"]["bound_m"]
    tried = [point["distance_m"] for point in parameters["moran_z_by_distance"]]
    if parameters["distance_rule_code"] == "first_peak":
        assert parameters["distance_m"] in tried
    else:  # ArcGIS's fallback: the average distance to the K nearest cells, whole metres
        assert parameters["band_search"]["k_neighbours"] >= 3
        assert parameters["distance_m"] == int(parameters["distance_m"])
    assert summary["counts"]["cells_analysed"] > 2000  # the whole town, empty cells included
    small = [f for f in body["features"] if 0 < f["properties"]["count"] < K]
    assert small, "managers see cells below the threshold"
    hottest = max(body["features"], key=lambda f: f["properties"]["gi_z"])
    assert hottest["properties"]["gi_class"] == 3
    centre = shape(hottest["geometry"]).centroid
    assert abs(centre.x - HOT[0]) < 0.004 and abs(centre.y - HOT[1]) < 0.003
    assert {"gi_z", "p_value", "p_adjusted", "neighbours"} <= hottest["properties"].keys()


@pytest.mark.parametrize("cell_m", [125, 250, 500, 1000])
def test_grid_counts_sum_to_the_events_at_every_cell_size(
    client: TestClient, keys: Keys, town: int, cell_m: int
) -> None:
    body = hotspots(client, keys["manager"], method="gi_star", cell_m=cell_m)
    assert sum(f["properties"]["count"] for f in body["features"]) == town
    ring = body["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]


@pytest.mark.usefixtures("town")
def test_permutation_inference_is_seeded_and_reported(client: TestClient, keys: Keys) -> None:
    a = hotspots(client, keys["manager"], permutations=199, seed=4)
    b = hotspots(client, keys["manager"], permutations=199, seed=4)
    assert a == b
    assert a["summary"]["parameters"]["inference"] == "permutation"
    assert a["summary"]["parameters"]["seed"] == 4
    # with 199 permutations the smallest two-sided p is 2/200
    assert min(f["properties"]["p_value"] for f in a["features"]) == pytest.approx(0.01)


def test_clusters_are_polygons_ranked_by_events(client: TestClient, keys: Keys, town: int) -> None:
    for method, options in (("dbscan", {"eps_m": 200, "min_events": 20}), ("hdbscan", {})):
        body = hotspots(client, keys["manager"], method=method, **options)
        clusters = body["features"]
        assert clusters, method
        top = clusters[0]["properties"]
        assert top["rank"] == 1 and top["count"] >= 60
        assert [c["properties"]["rank"] for c in clusters] == list(range(1, len(clusters) + 1))
        counts = [c["properties"]["count"] for c in clusters]
        assert counts == sorted(counts, reverse=True)
        polygon = shape(clusters[0]["geometry"])
        assert (
            polygon.contains(shapely.Point(top["centroid"]))
            or polygon.distance(shapely.Point(top["centroid"])) < 0.002
        )
        assert abs(top["centroid"][0] - HOT[0]) < 0.003
        assert top["first_bucket_start"] == "2025-05-01T13:00:00Z"
        assert top["share"] == pytest.approx(top["count"] / town, abs=1e-4)


@pytest.mark.usefixtures("town")
def test_density_peaks_at_the_hot_spot(client: TestClient, keys: Keys) -> None:
    body = hotspots(client, keys["manager"], method="density", bandwidth_m=200)
    peak = max(body["features"], key=lambda f: f["properties"]["density"])
    assert peak["properties"]["level"] == 10
    centre = shape(peak["geometry"]).centroid
    assert abs(centre.x - HOT[0]) < 0.003 and abs(centre.y - HOT[1]) < 0.002
    assert body["summary"]["parameters"]["units"] == "events/km²"


# -- what peers and planners see -----------------------------------------------------------


@pytest.mark.usefixtures("town")
@pytest.mark.parametrize("role", ["peer", "planner"])
@pytest.mark.parametrize("method", ["gi_star", "dbscan", "hdbscan", "density"])
def test_peers_and_planners_get_only_the_released_cells(
    client: TestClient, keys: Keys, role: str, method: str
) -> None:
    full = hotspots(client, keys["manager"], method="gi_star")
    counts = {f["id"]: f["properties"]["count"] for f in full["features"]}
    layer = client.get(
        "/v1/published", params={"kind": "needle_report", "period": QUARTER}, headers=keys[role]
    ).json()
    released = {f["id"]: f["properties"]["count"] for f in layer["features"]}
    assert released and all(n >= K for n in released.values())
    body = hotspots(client, keys[role], method=method, period=QUARTER)
    assert body["features"]
    if method == "gi_star":
        assert {f["id"]: f["properties"]["count"] for f in body["features"]} == released
        for f in body["features"]:
            assert set(f["properties"]) == {"count", "cell_m", "gi_class", "confidence"}
        assert body["summary"]["counts"]["events_shown"] == sum(released.values())
    elif method == "density":
        for f in body["features"]:
            assert set(f["properties"]) == {"level"}
        lone = {fid for fid, n in counts.items() if 0 < n < K}
        assert lone - {f["id"] for f in body["features"]}, "lone reports leave no heat"
    else:
        base = [
            (shape(f["geometry"]).centroid, f["properties"]["count"])
            for f in layer["features"]
            if f["properties"]["cell_m"] == 125
        ]
        for cluster in body["features"]:
            polygon = shape(cluster["geometry"])
            inside = sum(n for point, n in base if polygon.contains(point))
            assert cluster["properties"]["count"] == inside  # nothing hidden is counted
    assert "cells_analysed" not in body["summary"]["counts"]
    assert "events" not in body["summary"]["counts"]
    assert "moran_z_by_distance" not in body["summary"]["parameters"]
    assert str(K) in body["summary"]["audience"]


@pytest.mark.usefixtures("town")
@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("", "period="),
        ("&datetime=2025-05-01T00:00:00Z/..", "period="),
        (f"&period={QUARTER}&cell_m=300", "must be one of 125, 250, 500"),
        (f"&period={QUARTER}&cell_m={125 << 20}", "up to one square over the whole area"),
        ("&period=2099-Q1", "not published yet"),
    ],
)
def test_peers_must_ask_for_a_finished_period_of_released_cells(
    client: TestClient, keys: Keys, query: str, needle: str
) -> None:
    response = client.get(f"/v1/hotspots?kind=needle_report{query}", headers=keys["peer"])
    assert needle in problem(response, 400)["detail"]


def test_a_raised_threshold_applies(tmp_path: Any) -> None:
    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path, publish_min_count=12))
    with TestClient(app) as client:
        store = app.state.store
        manager = bearer(create_key(store, program="t", role=Role.MANAGER)[1])
        peer = bearer(create_key(store, program="t", role=Role.PEER)[1])
        steward = bearer(create_key(store, program="t", role=Role.STEWARD)[1])
        rows = town_events()
        post_events(client, rows[::2], manager)
        post_events(client, rows[1::2], steward)
        body = hotspots(client, peer, period=QUARTER)
        assert body["features"] and all(f["properties"]["count"] >= 12 for f in body["features"])


def test_the_threshold_cannot_be_set_below_five(tmp_path: Any) -> None:
    from pydantic import ValidationError

    from tests.conftest import make_settings

    with pytest.raises(ValidationError):
        make_settings(tmp_path, publish_min_count=4)


# -- caching -------------------------------------------------------------------------------


@pytest.mark.usefixtures("town")
def test_managers_answers_are_cached_until_new_events_arrive(
    client: TestClient, keys: Keys
) -> None:
    url = "/v1/hotspots?kind=needle_report"
    first = client.get(url, headers=keys["manager"])
    again = client.get(url, headers=keys["manager"])
    assert first.headers["x-analysis-cache"] == "miss"
    assert again.headers["x-analysis-cache"] == "hit"
    assert first.content == again.content
    post_events(client, [feature(*HOT)], keys["steward"])
    after = client.get(url, headers=keys["manager"])
    assert after.headers["x-analysis-cache"] == "miss"
    assert (
        after.json()["summary"]["counts"]["events"]
        == first.json()["summary"]["counts"]["events"] + 1
    )


@pytest.mark.usefixtures("town")
def test_a_peers_answer_is_frozen_and_tells_nothing_of_arrivals(
    client: TestClient, keys: Keys
) -> None:
    url = f"/v1/hotspots?kind=needle_report&period={QUARTER}"
    first = client.get(url, headers=keys["peer"])
    assert "x-analysis-cache" not in first.headers
    post_events(client, [feature(*HOT)] * 6, keys["steward"])  # history, after the release
    after = client.get(url, headers=keys["peer"])
    assert "x-analysis-cache" not in after.headers
    assert after.content == first.content


@pytest.mark.usefixtures("town")
def test_programs_do_not_see_each_other(client: TestClient, keys: Keys) -> None:
    body = hotspots(client, keys["other_manager"])
    assert body["features"] == []
    assert body["summary"]["counts"]["events"] == 0
    assert any("no needle_report events" in w for w in body["summary"]["warnings"])


def test_results_do_not_depend_on_the_order_events_arrived(client: TestClient, keys: Keys) -> None:
    rows = town_events(seed=3)
    post_events(client, rows, keys["manager"])
    order = np.random.default_rng(9).permutation(len(rows))
    post_events(client, [rows[i] for i in order], keys["other_manager"])
    for method in ("gi_star", "dbscan", "hdbscan", "density"):
        extra = {"permutations": 99} if method == "gi_star" else {}
        mine = hotspots(client, keys["manager"], method=method, **extra)
        theirs = hotspots(client, keys["other_manager"], method=method, **extra)
        assert mine == theirs, method


# -- windows and warnings ------------------------------------------------------------------


@pytest.mark.usefixtures("town")
def test_a_window_with_no_data_is_empty_with_a_warning(client: TestClient, keys: Keys) -> None:
    body = hotspots(client, keys["manager"], datetime="2020-01-01T00:00:00Z/2020-02-01T00:00:00Z")
    assert body["features"] == []
    assert body["summary"]["warnings"]


@pytest.mark.usefixtures("town")
def test_the_window_selects_events(client: TestClient, keys: Keys) -> None:
    body = hotspots(client, keys["manager"], datetime="2025-06-01T00:00:00Z/..")
    assert body["summary"]["counts"]["events"] == 33  # the scattered singles and the 3
    assert body["summary"]["datetime"] == ["2025-06-01T00:00:00Z", None]


def test_few_cells_with_data_are_warned_about(client: TestClient, keys: Keys) -> None:
    post_events(client, [feature(*HOT)] * 6 + [feature(*TOWN)] * 2, keys["manager"])
    body = hotspots(client, keys["manager"])
    assert any("fewer than 30" in w for w in body["summary"]["warnings"])


# -- bad parameters ------------------------------------------------------------------------


@pytest.mark.usefixtures("town")
@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ("kind=needle_report&distance_m=-500", 422, ""),
        ("kind=needle_report&distance_m=nan", 422, ""),
        ("kind=needle_report&method=kriging", 422, ""),
        ("kind=bananas", 422, ""),
        ("method=gi_star", 422, ""),
        ("kind=needle_report&permutations=100000", 422, ""),
        ("kind=needle_report&distanse_m=4321", 422, "distanse_m is not recognised"),
        ("kind=needle_report&method=gi_star&eps_m=300", 400, "method=dbscan"),
        ("kind=needle_report&method=density&distance_m=300", 400, "method=gi_star"),
        ("kind=needle_report&cell_m=300", 400, "power of two"),
        ("kind=overdose&cell_m=125", 400, "at least 250"),
        ("kind=needle_report&datetime=yesterday", 400, "RFC 3339"),
        ("kind=needle_report&method=dbscan&min_events=0", 422, ""),
        ("kind=needle_report&method=hdbscan&min_cluster_size=1", 422, ""),
    ],
)
def test_bad_parameters_get_a_clear_error_that_does_not_echo_them(
    client: TestClient, keys: Keys, query: str, status: int, needle: str
) -> None:
    response = client.get(f"/v1/hotspots?{query}", headers=keys["manager"])
    body = problem(response, status)
    assert needle in body["detail"]
    for value in ("bananas", "kriging", "4321", "yesterday", "100000", "300 m"):
        assert value not in response.text


def test_a_key_is_required(client: TestClient) -> None:
    problem(client.get("/v1/hotspots?kind=needle_report"), 401)


def test_responses_hold_no_submitted_coordinates(client: TestClient, keys: Keys) -> None:
    lon, lat = -101.8812345, 54.7712345
    post_events(client, [feature(lon, lat)] * 7, keys["manager"])
    for role, window in (("manager", ""), ("peer", f"&period={QUARTER}")):
        for method in ("gi_star", "dbscan", "hdbscan", "density"):
            text = client.get(
                f"/v1/hotspots?kind=needle_report&method={method}{window}", headers=keys[role]
            ).text
            assert "8812345" not in text and "7712345" not in text
            assert "881234" not in text and "771234" not in text


@pytest.mark.parametrize("method", ["gi_star", "dbscan", "hdbscan", "density"])
def test_a_peer_cannot_tell_a_few_hidden_events_from_none(
    client: TestClient, keys: Keys, method: str
) -> None:
    # Program "town" gets three reports in 2025-Q1 (below k); program "other" gets none.
    post_events(client, [feature(*HOT, observed_at="2025-02-01T10:00:00Z")] * 3, keys["manager"])
    peer_other = bearer(create_key(client.app.state.store, program="other", role=Role.PEER)[1])  # type: ignore[attr-defined]
    url = f"/v1/hotspots?kind=needle_report&method={method}&period=2025-Q1"
    some = client.get(url, headers=keys["peer"])
    none = client.get(url, headers=peer_other)
    assert some.status_code == none.status_code == 200
    assert some.json() == none.json()
