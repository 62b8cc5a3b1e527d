"""The minute a built released layer is kept for a paging client (services.ogc.recent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from geo_service.deployment import Deployment
from geo_service.services.ogc.recent import BuiltLayer, RecentLayers
from tests.conftest import make_settings


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return Deployment(make_settings(tmp_path))


def counting(deployment: Deployment) -> tuple[list[int], Any]:
    builds: list[int] = []

    def build() -> BuiltLayer:
        builds.append(1)
        return BuiltLayer.of([], deployment)

    return builds, build


def test_a_layer_is_built_once_per_key_while_it_is_fresh(deployment: Deployment) -> None:
    recent = RecentLayers(entries=2, keep_s=60)
    builds, build = counting(deployment)
    first = recent.get(("key 1", "layer"), deployment, build)
    assert recent.get(("key 1", "layer"), deployment, build) is first
    assert len(builds) == 1
    recent.get(("key 2", "layer"), deployment, build)  # another key builds its own
    assert len(builds) == 2
    recent.get(("key 3", "layer"), deployment, build)  # the oldest of two is let go
    recent.get(("key 1", "layer"), deployment, build)
    assert len(builds) == 4


def test_an_old_entry_or_a_new_geography_is_built_again(deployment: Deployment) -> None:
    builds, build = counting(deployment)
    stale = RecentLayers(entries=2, keep_s=0)
    stale.get("layer", deployment, build)
    stale.get("layer", deployment, build)
    assert len(builds) == 2
    recent = RecentLayers()
    recent.get("layer", deployment, build)
    redrawn = Deployment(deployment.settings)  # the program's geography changed
    again = recent.get("layer", redrawn, lambda: BuiltLayer.of([], redrawn))
    assert again.deployment is redrawn


def test_a_kept_layer_is_not_served_after_the_programs_data_is_deleted(tmp_path: Path) -> None:
    from tests.geo_service.ogc_town import ogc_town

    with ogc_town(f"sqlite:///{tmp_path}/test.sqlite3", tmp_path) as town:
        client, keys = town["client"], town["keys"]
        path = f"/ogc/collections/needle_report-cells-{town['month']}/items"
        assert client.get(path, headers=keys["peer"]).json()["numberMatched"] >= 2
        deleted = client.delete(
            "/v1/program/data", params={"confirm": "town"}, headers=keys["steward"]
        )
        assert deleted.status_code == 200
        after = client.get(path, headers=keys["peer"]).json()
        assert (after["numberMatched"], after["features"]) == (0, [])


def test_new_reports_do_not_rebuild_a_kept_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How fast a page comes back must not say that reports arrived (DESIGN §4.5)."""
    import datetime as dt

    from tests.conftest import feature
    from tests.geo_service.ogc_town import HOT, ogc_town, post

    builds: list[int] = []
    original = BuiltLayer.of

    def counted(found: Any, deployment: Deployment) -> BuiltLayer:
        builds.append(1)
        return original(found, deployment)

    monkeypatch.setattr(BuiltLayer, "of", counted)
    with ogc_town(f"sqlite:///{tmp_path}/test.sqlite3", tmp_path) as town:
        client, keys = town["client"], town["keys"]
        path = f"/ogc/collections/needle_report-cells-{town['month']}/items"
        first = client.get(path, headers=keys["peer"]).json()
        now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
        post(client, keys["peer"], [feature(*HOT, observed_at=now.isoformat())])
        again = client.get(path, headers=keys["peer"]).json()
        assert again["features"] == first["features"]
        assert len(builds) == 1
