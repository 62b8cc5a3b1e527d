"""The publication step through the API, and the adversarial tests of DESIGN §4.4."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.settings import EventKind
from geo_service.storage.sql import SqlStore
from tests.conftest import bearer, collection, feature, problem

LONELY = (-101.9200, 54.7450)  # far from everything else
HOT = (-101.8700, 54.7700)


class Program:
    """A program with three reporting manager keys, a peer, a planner and a steward."""

    def __init__(self, store: SqlStore, name: str) -> None:
        self.name = name
        self.reporters = [
            bearer(create_key(store, program=name, role=Role.MANAGER)[1]) for _ in range(3)
        ]
        self.peer = bearer(create_key(store, program=name, role=Role.PEER)[1])
        self.planner = bearer(create_key(store, program=name, role=Role.PLANNER)[1])
        self.steward = bearer(create_key(store, program=name, role=Role.STEWARD)[1])
        self.manager = self.reporters[0]

    def post(self, client: TestClient, rows: list[dict[str, Any]], reporter: int) -> None:
        response = client.post(
            "/v1/events", json=collection(*rows), headers=self.reporters[reporter]
        )
        assert response.status_code == 201, response.text


def near(
    centre: tuple[float, float], rng: np.random.Generator, spread: float = 0.003
) -> tuple[float, float]:
    return (
        round(centre[0] + rng.uniform(-spread, spread), 6),
        round(centre[1] + rng.uniform(-spread / 2, spread / 2), 6),
    )


def background(client: TestClient, program: Program, seed: int = 0) -> None:
    """Q2 2025: needle reports and overdoses around HOT from all three reporters."""
    rng = np.random.default_rng(seed)
    for month in ("04", "05", "06"):
        for reporter in range(3):
            rows = [
                feature(*near(HOT, rng), observed_at=f"2025-{month}-{day:02d}T12:00:00Z")
                for day in range(1, 15)
            ]
            rows += [
                feature(
                    *near(HOT, rng, 0.001),
                    kind="overdose",
                    observed_at=f"2025-{month}-{day:02d}T03:00:00Z",
                )
                for day in range(1, 5)
            ]
            program.post(client, rows, reporter)


def published(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/v1/published", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def town(app: FastAPI, client: TestClient) -> Program:
    program = Program(app.state.store, "town")
    background(client, program)
    return program


# -- the adversarial cases -----------------------------------------------------------------


def test_three_overdoses_change_nothing_a_peer_sees_unless_rolled_up(
    app: FastAPI, client: TestClient
) -> None:
    store = app.state.store
    with_them, without = Program(store, "with"), Program(store, "without")
    background(client, with_them, seed=1)
    background(client, without, seed=1)
    for reporter in range(3):  # three overdoses, three different keys, one cell
        with_them.post(
            client,
            [feature(*LONELY, kind="overdose", observed_at="2025-05-20T02:00:00Z")],
            reporter,
        )
    cell_of_lonely = None
    for period in ("2025-05", "2025-Q2"):
        for role in ("peer", "planner"):
            a = published(client, getattr(with_them, role), kind="overdose", period=period)
            b = published(client, getattr(without, role), kind="overdose", period=period)
            differ = [f for f in a["features"] if f not in b["features"]]
            differ += [f for f in b["features"] if f not in a["features"]]
            for f in differ:
                # only a coarser cell holding the lonely cell may differ (the roll-up)
                assert f["properties"]["cell_m"] > 250
                ring = np.array(f["geometry"]["coordinates"][0])
                assert ring[:, 0].min() <= LONELY[0] <= ring[:, 0].max()
                assert ring[:, 1].min() <= LONELY[1] <= ring[:, 1].max()
                cell_of_lonely = f
            assert (
                a["summary"]["counts"]["features"] == b["summary"]["counts"]["features"] or differ
            )
    assert cell_of_lonely is None or cell_of_lonely["properties"]["count"] >= 5


def test_one_key_filing_twelve_reports_in_a_cell_is_not_released(
    app: FastAPI, client: TestClient
) -> None:
    program = Program(app.state.store, "solo")
    program.post(
        client,
        [feature(*HOT, observed_at="2025-05-03T10:00:00Z", count=1) for _ in range(12)],
        0,
    )
    for headers in (program.peer, program.planner):
        body = published(client, headers, kind="needle_report", period="2025-05")
        assert body["features"] == []
    preview = published(client, program.steward, kind="needle_report", period="2025-05")
    assert preview["summary"]["counts"]["events"] == 12
    assert preview["summary"]["counts"]["events_shown"] == 0


@pytest.mark.parametrize("kind", [EventKind.NEEDLE_REPORT, EventKind.OVERDOSE])
def test_a_quarter_and_its_months_pass_the_differencing_check_and_a_naive_quarter_would_not(
    app: FastAPI, client: TestClient, town: Program, kind: EventKind, monkeypatch: Any
) -> None:
    rng = np.random.default_rng(5)
    for reporter in range(3):  # sparse extras so that some cells fail and roll up
        town.post(
            client,
            [
                feature(
                    round(rng.uniform(-101.925, -101.835), 5),
                    round(rng.uniform(54.745, 54.795), 5),
                    kind=kind.value,
                    observed_at=f"2025-0{rng.integers(4, 7)}-{rng.integers(1, 28):02d}T05:00:00Z",
                )
                for _ in range(25)
            ],
            reporter,
        )
    bodies = [
        published(client, town.peer, kind=kind.value, period=p)
        for p in ("2025-04", "2025-05", "2025-06", "2025-Q2")
    ]
    assert all(f["properties"]["count"] >= 5 for b in bodies for f in b["features"])
    assert any(f["properties"]["cell_m"] > 250 for f in bodies[3]["features"])
    # The check is live: the same data, released as one plain quarter (its months ignored),
    # lets a month be subtracted from the quarter, and is withheld instead.
    other = Program(app.state.store, "naive")
    background(client, other)
    for reporter in range(3):  # May shows the lonely cell (9 reports); June hides its 2
        may = [feature(*LONELY, kind=kind.value, observed_at="2025-05-20T02:00:00Z")] * 3
        june = [feature(*LONELY, kind=kind.value, observed_at="2025-06-20T02:00:00Z")]
        other.post(client, may + (june if reporter < 2 else []), reporter)
    published(client, other.peer, kind=kind.value, period="2025-05")
    from analysis import publication as core
    from geo_service.services.releases import making

    def plain_quarter(_deployment: Any, atoms: Any, _period: Any, rule: Any, parts: Any) -> Any:
        family = [layer for _, layers in parts for layer in layers]
        plain = core.release(atoms, k=rule.k, top_level=0).features
        return plain, [*family, plain]

    monkeypatch.setattr(making, "_nested", plain_quarter)
    response = client.get(
        "/v1/published", params={"kind": kind.value, "period": "2025-Q2"}, headers=other.peer
    )
    assert problem(response, 503)["code"] == "release_withheld"
    actions = [row.action for row in app.state.store.audit_rows()]
    assert "release.withheld" in actions


def test_released_and_suppressed_add_up_to_the_truth(client: TestClient, town: Program) -> None:
    for period in ("2025-04", "2025-Q2"):
        body = published(client, town.steward, kind="needle_report", period=period)
        counts = body["summary"]["counts"]
        assert counts["events_shown"] == sum(f["properties"]["count"] for f in body["features"])
        assert counts["events_shown"] <= counts["events"]
        assert all(f["properties"]["count"] >= 5 for f in body["features"])


# -- periods and settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "needle"),
    [
        ("2025-13", "calendar month"),
        ("May 2025", "calendar month"),
        ("2099-01", "not published yet"),
    ],
)
def test_bad_or_unfinished_periods_are_refused(
    client: TestClient, town: Program, period: str, needle: str
) -> None:
    response = client.get(f"/v1/published?kind=needle_report&period={period}", headers=town.peer)
    assert needle in problem(response, 400)["detail"]
    assert "May 2025" not in response.text


def test_the_current_month_is_not_released(client: TestClient, town: Program) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    response = client.get(f"/v1/published?kind=needle_report&period={now:%Y-%m}", headers=town.peer)
    assert "not published yet" in problem(response, 400)["detail"]


def test_a_steward_raises_thresholds_and_everyone_else_is_refused(
    app: FastAPI, client: TestClient, town: Program
) -> None:

    def put(headers: dict[str, str], body: dict[str, Any]) -> Any:
        return client.put("/v1/program/publication", json=body, headers=headers)

    assert put(town.peer, {"k_peer": 8}).status_code == 403
    assert put(town.planner, {"k_peer": 8}).status_code == 403
    assert put(town.manager, {"k_peer": 8}).status_code == 403
    low = put(town.steward, {"k_peer": 3})
    assert "never set below" in problem(low, 400)["detail"]
    assert put(town.steward, {"k_peer": 8, "colour": "red"}).status_code == 422
    for longer in ("half", "year"):  # always released on top, never the smallest period
        assert "month or quarter" in problem(put(town.steward, {"bucket": longer}), 400)["detail"]
    raised = put(town.steward, {"k_peer": 8, "bucket": "quarter"})
    assert raised.status_code == 200 and raised.json()["k"]["peer"] == 8
    body = published(client, town.peer, kind="needle_report", period="2025-Q2")
    assert body["summary"]["k"] == 8 and all(
        f["properties"]["count"] >= 8 for f in body["features"]
    )
    month = client.get("/v1/published?kind=needle_report&period=2025-05", headers=town.peer)
    assert "by quarter" in problem(month, 400)["detail"]
    store = app.state.store
    changes = [r for r in store.audit_rows() if r.action == "publication.change"]
    assert len(changes) == 1 and '"peer":8' in changes[0].detail


def test_the_public_layer_is_off_until_the_steward_turns_it_on(
    client: TestClient, town: Program
) -> None:
    url = "/v1/public/published?program=town&kind=needle_report&period=2025-Q2"
    assert problem(client.get(url), 404)["code"] == "not_found"
    missing = client.get(url.replace("program=town", "program=nowhere"))
    assert missing.json()["detail"] == client.get(url).json()["detail"]  # indistinguishable
    client.put("/v1/program/publication", json={"public_enabled": True}, headers=town.steward)
    body = client.get(url).json()
    assert body["summary"]["k"] == 10 and body["summary"]["audience"] == "public"
    assert all(f["properties"]["count"] >= 10 for f in body["features"])
    assert "events" not in body["summary"]["counts"]


def test_peers_see_only_their_own_audience(client: TestClient, town: Program) -> None:
    response = client.get(
        "/v1/published?kind=needle_report&period=2025-05&audience=planner", headers=town.peer
    )
    problem(response, 403)
    preview = published(
        client, town.steward, kind="needle_report", period="2025-05", audience="public"
    )
    assert preview["summary"]["k"] == 10


# -- access control ------------------------------------------------------------------------


def test_roles_programs_and_keys_are_enforced(
    app: FastAPI, client: TestClient, town: Program
) -> None:
    store = app.state.store
    other = Program(store, "other")
    site = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(HOT)},
                "properties": {
                    "name": "Hub",
                    "site_type": "hr_supply",
                    "services": ["needles"],
                },
            }
        ],
    }
    assert client.post("/v1/sites", json=site, headers=town.manager).status_code == 201
    site_id = client.get("/v1/sites", headers=town.peer).json()["features"][0]["id"]
    # peer on manager routes, planner on steward routes
    problem(client.get("/v1/events", headers=town.peer), 403)
    problem(client.post("/v1/sites", json=site, headers=town.peer), 403)
    problem(client.get("/v1/audit", headers=town.planner), 403)
    problem(client.put("/v1/program/publication", json={}, headers=town.planner), 403)
    # program A's key reading program B's site: 404, as if it did not exist
    assert client.get(f"/v1/sites/{site_id}", headers=town.peer).status_code == 200
    problem(client.get(f"/v1/sites/{site_id}", headers=other.peer), 404)
    # forged and revoked keys
    problem(client.get("/v1/sites", headers=bearer("gs_" + "x" * 43)), 401)
    key_id, key = create_key(store, program="town", role=Role.PEER)
    from geo_service.auth import revoke_key

    revoke_key(store, key_id)
    problem(client.get("/v1/sites", headers=bearer(key)), 401)


def test_sliding_a_bbox_returns_whole_cells_only(
    app: FastAPI, client: TestClient, town: Program
) -> None:
    deployment = app.state.deployment
    seen: dict[frozenset[str], str] = {}
    for step in range(100):
        west = -101.885 + step * 10 / 64_000  # about 10 m of longitude at this latitude
        bbox = f"{west:.6f},54.765,{west + 0.02:.6f},54.775"
        body = client.get(f"/v1/events?bbox={bbox}&limit=5000", headers=town.manager).json()
        for f in body["features"]:
            size, ix, iy = (int(p) for p in f["properties"]["cell"].split(":"))
            [canonical] = deployment.cell_rings(np.array([ix]), np.array([iy]), size)
            assert f["geometry"]["coordinates"][0] == canonical  # never clipped
        cells = frozenset(f["properties"]["cell"] for f in body["features"])
        text = repr(
            sorted((f["properties"]["cell"], f["properties"]["count"]) for f in body["features"])
        )
        assert seen.setdefault(cells, text) == text
