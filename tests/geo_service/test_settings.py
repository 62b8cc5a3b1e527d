"""Settings, deployment defaults, and the grid frozen into the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from geo_service.deployment import Deployment
from geo_service.errors import ConfigurationError
from geo_service.settings import Settings
from geo_service.storage.sql import open_store
from tests.conftest import make_settings


def test_defaults_follow_the_design() -> None:
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///var/")
    assert (settings.cell_m_needle_report, settings.cell_m_overdose) == (125, 250)
    assert Deployment(settings).crs == "EPSG:32614"  # UTM 14N for Flin Flon


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO_SERVICE_SERVICE_AREA_BBOX", "-71.2,42.2,-70.9,42.45")
    monkeypatch.setenv("GEO_SERVICE_CELL_M_OVERDOSE", "500")
    settings = Settings()
    assert settings.service_area_bbox == (-71.2, 42.2, -70.9, 42.45)
    assert settings.cell_m_overdose == 500
    assert Deployment(settings).crs == "EPSG:32619"


@pytest.mark.parametrize(
    "overrides",
    [
        {"cell_m_overdose": 300},
        {"cell_m_needle_report": 100},
        {"bucket_hours_overdose": 5},
        {"service_area_bbox": (10.0, 0.0, 5.0, 1.0)},
        {"timezone": "Mars/Olympus"},
        {"grid_base_cell_m": 0},
    ],
)
def test_inconsistent_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)  # type: ignore[arg-type]


def test_a_database_refuses_other_grid_settings(tmp_path: Path) -> None:
    first = make_settings(tmp_path)
    open_store(first.database_url, grid_record=Deployment(first).grid_record()).close()
    again = make_settings(tmp_path)
    open_store(again.database_url, grid_record=Deployment(again).grid_record()).close()
    changed = make_settings(tmp_path, cell_m_overdose=500, grid_origin_x_m=10.0)
    with pytest.raises(ConfigurationError) as info:
        open_store(changed.database_url, grid_record=Deployment(changed).grid_record())
    message = str(info.value)
    assert "cell_m" in message and "grid_origin_x_m" in message
    assert "GEO_SERVICE_DATABASE_URL" in message


def test_service_area_from_a_polygon_file(tmp_path: Path) -> None:
    area = tmp_path / "area.geojson"
    area.write_text(
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": [
                    [[-101.9, 54.75], [-101.85, 54.75], [-101.85, 54.79], [-101.9, 54.75]]
                ],
            }
        )
    )
    deployment = Deployment(make_settings(tmp_path, service_area_file=area))
    inside = deployment.contains([-101.86, -101.89], [54.755, 54.785])
    assert inside.tolist() == [True, False]


def test_a_bad_polygon_file_says_how_to_fix_it(tmp_path: Path) -> None:
    area = tmp_path / "area.geojson"
    area.write_text('{"type": "Point", "coordinates": [0, 0]}')
    with pytest.raises(ConfigurationError, match="GEO_SERVICE_SERVICE_AREA_FILE"):
        _ = Deployment(make_settings(tmp_path, service_area_file=area)).service_area


def test_projected_crs_must_be_in_metres(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="metres"):
        _ = Deployment(make_settings(tmp_path, projected_crs="EPSG:4326")).crs
