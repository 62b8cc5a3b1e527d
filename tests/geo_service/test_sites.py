"""POST/GET /v1/sites, opening hours, and the real Philadelphia sites file."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.main import create_app
from tests.conftest import SHARED_DATA, TOWN, collection, make_settings, problem

Keys = dict[str, dict[str, str]]


def site(**props: object) -> dict[str, object]:
    base = {
        "name": "Main St pharmacy",
        "site_type": "pharmacy",
        "services": ["naloxone"],
        "opening_hours": "Mo-Fr 09:00-17:00; Sa 10:00-14:00",
    }
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": list(TOWN)},
        "properties": {**base, **props},
    }


def test_sites_are_stored_exactly_and_listed_for_every_role(client: TestClient, keys: Keys) -> None:
    response = client.post(
        "/v1/sites",
        json=collection(
            site(), site(opening_hours="24/7", site_type="disposal_box", services=["disposal"])
        ),
        headers=keys["manager"],
    )
    assert response.status_code == 201 and response.json()["accepted"] == 2
    for role in ("peer", "planner", "manager", "steward"):
        listed = client.get("/v1/sites", headers=keys[role]).json()
        assert listed["numberReturned"] == 2
        assert listed["features"][0]["geometry"]["coordinates"] == list(TOWN)
        assert listed["features"][1]["properties"]["opening_hours"] == "24/7"
    assert client.get("/v1/sites", headers=keys["other_manager"]).json()["numberReturned"] == 0


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"opening_hours": "Lun-Ven 9h-17h"}, "invalid_value"),
        ({"site_type": "bar"}, "invalid_value"),
        ({"services": []}, "invalid_value"),
        ({"services": ["hugs"]}, "invalid_value"),
        ({"phone": "204-555-0100"}, "unknown_field"),
        ({"name": "=HYPERLINK(1)"}, "invalid_value"),
        ({"name": None}, "invalid_value"),
    ],
)
def test_bad_sites_are_named(
    client: TestClient, keys: Keys, props: dict[str, object], code: str
) -> None:
    response = client.post("/v1/sites", json=collection(site(**props)), headers=keys["manager"])
    body = problem(response, 422)
    assert body["rejected"][0]["code"] == code
    assert client.get("/v1/sites", headers=keys["manager"]).json()["numberReturned"] == 0


def test_only_managers_and_stewards_add_sites(client: TestClient, keys: Keys) -> None:
    for role in ("peer", "planner"):
        problem(client.post("/v1/sites", json=collection(site()), headers=keys[role]), 403)
    assert (
        client.post("/v1/sites", json=collection(site()), headers=keys["steward"]).status_code
        == 201
    )


def _philadelphia_as_site_csv() -> tuple[str, list[int]]:
    """Map the real file's columns onto ours; return the CSV and the rows lacking coordinates."""
    with (SHARED_DATA / "philadelphia_syringe_exchange_sites.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "site_type", "services", "latitude", "longitude"])
    missing = []
    for i, row in enumerate(rows):
        site_type = "outreach_stop" if row["site_name"] == "Mobile" else "hr_supply"
        writer.writerow(
            [
                f"{row['site_name']} - {row['site_location']}",
                site_type,
                "needles;naloxone;disposal",
                row["lat"],
                row["lng"],
            ]
        )
        if not row["lat"] or not row["lng"]:
            missing.append(i)
    return out.getvalue(), missing


def test_real_philadelphia_sites_rows_without_coordinates_are_named(tmp_path: Path) -> None:
    text, missing = _philadelphia_as_site_csv()
    assert len(missing) == 9
    app = create_app(make_settings(tmp_path, service_area_bbox=(-75.30, 39.86, -74.95, 40.14)))
    with TestClient(app) as client:
        _, key = create_key(app.state.store, program="phl", role=Role.MANAGER)
        headers = {"Authorization": f"Bearer {key}"}
        response = client.post(
            "/v1/sites", content=text, headers={**headers, "Content-Type": "text/csv"}
        )
        assert response.status_code == 201
        body = response.json()
        assert [r["index"] for r in body["rejected"]] == missing
        assert {r["code"] for r in body["rejected"]} == {"missing_coordinates"}
        assert body["accepted"] == 26 - 9
        assert client.get("/v1/sites", headers=headers).json()["numberReturned"] == 17
