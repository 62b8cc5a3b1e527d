"""One table answers every analysis error, and HTML pages refuse with the status they mean."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import Response

import analysis
from analysis.clusters import ClusterError
from analysis.coverage import CoverageError
from analysis.density import DensityError
from analysis.ears import EarsError
from analysis.emerging import EmergingError
from analysis.grid import Grid, GridError
from analysis.hotspots import HotspotError
from analysis.network import NetworkError
from analysis.projection import CrsError
from analysis.publication import PublicationError
from analysis.routing import RoutingError
from analysis.siting import SitingError
from analysis.stscan import ScanError
from geo_service.errors import analysis_problems, register_error_handlers
from geo_service.settings import Settings
from geo_service.web.pages import serve_map
from tests.conftest import problem

MARK = "zq-mark-7"  # stands for request input that must never come back
MESSAGE = "a message we wrote"
EXPECTED = {  # (status, code, whether its own message is shown)
    ClusterError: (400, "invalid_parameter", True),
    CoverageError: (400, "invalid_parameter", True),
    DensityError: (400, "invalid_parameter", True),
    GridError: (400, "invalid_parameter", False),
    HotspotError: (400, "invalid_parameter", True),
    RoutingError: (400, "invalid_parameter", True),
    SitingError: (400, "invalid_parameter", True),
    EarsError: (400, "invalid_parameter", True),
    EmergingError: (400, "invalid_parameter", True),
    ScanError: (400, "invalid_parameter", True),
    NetworkError: (422, "network_unusable", True),
    CrsError: (422, "crs_unusable", True),
    PublicationError: (422, "publication_failed", False),
}


def raising_app(error: Exception) -> TestClient:
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/v1/thing")
    def thing() -> None:
        raise error

    @app.get("/maps/thing")
    async def page(request: Request) -> Response:
        def build() -> str:
            raise error

        return await serve_map(request, build, Settings(), "")

    return TestClient(app, raise_server_exceptions=False)


def test_every_analysis_error_type_is_in_the_table() -> None:
    found = set()
    for info in pkgutil.walk_packages(analysis.__path__, prefix="analysis."):
        module = importlib.import_module(info.name)
        found |= {
            obj
            for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, ValueError) and obj.__module__ == module.__name__
        }
    assert found == set(analysis_problems()) == set(EXPECTED)


@pytest.mark.parametrize("error_type", list(EXPECTED), ids=lambda t: t.__name__)
def test_an_analysis_error_escaping_a_route_is_its_problem(error_type: type[ValueError]) -> None:
    status, code, shown = EXPECTED[error_type]
    client = raising_app(error_type(MESSAGE))
    body = problem(client.get("/v1/thing"), status)
    assert body["code"] == code
    assert (body["detail"] == MESSAGE) is shown
    page = client.get("/maps/thing")
    assert page.status_code == status and page.headers["content-type"].startswith("text/html")
    assert "This map cannot be shown" in page.text and (MESSAGE in page.text) is shown


def test_input_in_a_message_never_comes_back() -> None:
    # Why GridError has a fixed detail: check_cell_size names the size it was given.
    with pytest.raises(GridError) as raised:
        Grid(0.0, 0.0, 125).check_cell_size(987654)
    client = raising_app(raised.value)
    for path in ("/v1/thing", "/maps/thing"):
        answer = client.get(path)
        assert answer.status_code == 400 and "987654" not in answer.text
    # Any other ValueError is not ours to explain: still a 500 that says nothing of it.
    client = raising_app(ValueError(MARK))
    for path in ("/v1/thing", "/maps/thing"):
        answer = client.get(path)
        assert answer.status_code == 500 and MARK not in answer.text


# -- real pages --------------------------------------------------------------------------------


def test_a_peer_asking_for_the_siting_map_gets_403_and_a_readable_page(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    refused = client.get("/maps/siting?p=2&period=2025-Q2", headers=keys["peer"])
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "This map cannot be shown" in refused.text and "planners and managers" in refused.text
    # Without a session the answer is still the way to sign in, not a refusal.
    sent = client.get("/maps/siting?p=2", follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith("/signin?next=")


@pytest.mark.parametrize("path", ["/maps/hotspots", "/maps/coverage", "/maps/siting"])
def test_a_bad_period_on_a_map_page_is_400_and_not_echoed(
    client: TestClient, keys: dict[str, dict[str, str]], path: str
) -> None:
    refused = client.get(f"{path}?period={MARK}", headers=keys["manager"])
    assert refused.status_code == 400, refused.text
    assert "This map cannot be shown" in refused.text and "period" in refused.text
    assert MARK not in refused.text


def test_a_refused_cleanup_log_keeps_its_status(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    form = {"stop": "125:0:0", "needles": "3"}
    planner = client.post("/maps/cleanup/log", data=form, headers=keys["planner"])
    assert planner.status_code == 403 and "may not log" in planner.text
    bad = client.post("/maps/cleanup/log", data={**form, "needles": MARK}, headers=keys["peer"])
    assert bad.status_code == 400 and "whole numbers" in bad.text and MARK not in bad.text
    short = client.post("/maps/cleanup/log", data={"stop": "125:0:0"}, headers=keys["peer"])
    assert short.status_code == 400 and "incomplete" in short.text
