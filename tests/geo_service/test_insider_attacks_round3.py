"""Insider attacks on what issue 17 added, round 3: differencing and polling (DESIGN §4.4-4.5).

The attacker holds a peer and a planner key in one program and sends reports too. Issue 17
put new numbers in front of them: the share an answer rests on (``basis``, its words and
warnings), half-years and years nested on quarters, larger squares summed from a release,
month totals on the trends slider and "N reported in ..." on clean-up stops. Each is a sum of
released numbers by design; these tests hold every route to that, by building two towns that
differ only in one victim's report (or in one report sent by the attacker) and asking both
everything a peer or planner may ask.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from tests.conftest import bearer, collection, feature, make_settings, service_site
from tests.geo_service.test_publication_api import HOT, LONELY, Program, background

K = 5
PERIODS = ("2025", "2025-H1", "2025-H2", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2025-08")
SIZES = (None, 250, 500, 1000)  # the stored 125 m squares, and three larger views
Ask = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]


@dataclass
class Towns:
    client: TestClient
    quiet: Program  # the insider's town without the victim's report
    victim: Program  # the same town with it


def _town(client: TestClient, store: Any, name: str, *, victim: bool) -> Program:
    """Q2 background around HOT; a lonely square shown in Q1; in August the insider
    (reporter 0) sends two reports beside the victim's one (a manager key: history)."""
    program = Program(store, name)
    background(client, program)
    for reporter in range(3):
        program.post(client, [feature(*LONELY, observed_at="2025-02-10T12:00:00Z")] * 3, reporter)
    row = feature(*LONELY, observed_at="2025-08-10T12:00:00Z")
    if victim:
        key = bearer(create_key(store, program=name, role=Role.MANAGER)[1])
        assert client.post("/v1/events", json=collection(row), headers=key).status_code == 201
    program.post(client, [row, row], 0)
    site = service_site("Drop-in", ["needles", "naloxone"], "Mo-Fr 09:00-17:00", *HOT)
    sent = client.post("/v1/sites", json=collection(site), headers=program.manager)
    assert sent.status_code == 201, sent.text
    return program


@pytest.fixture(scope="module")
def towns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Towns]:
    from geo_service.main import create_app

    tmp: Path = tmp_path_factory.mktemp("round3")
    app = create_app(make_settings(tmp, rate_limit_per_key=0, rate_limit_per_address=0))
    with TestClient(app) as client:
        store = app.state.store
        # Same-length names: a page that names its program differs only there.
        yield Towns(
            client,
            _town(client, store, "towna", victim=False),
            _town(client, store, "townb", victim=True),
        )


def asks(period: str) -> list[Ask]:
    """Everything a peer or planner may ask of one period: API answers at every square size
    the view allows, the routes, and every map page showing a number."""
    out: list[Ask] = []
    for size in SIZES:
        q: dict[str, Any] = {"kind": "needle_report", "period": period}
        if size:
            q["cell_m"] = size
        out += [("GET", "/v1/published", q, None), ("GET", "/v1/hotspots", q, None)]
        out.append(("GET", "/v1/coverage", {**q, "service": "needles"}, None))
    route = {"budget_minutes": 120, "start": {"lon": HOT[0], "lat": HOT[1]}, "period": period}
    needles = {"kind": "needle_report", "period": period}
    out += [
        (
            "POST",
            "/v1/siting/lockers",
            None,
            {"p": 1, "period": period, "kinds": ["needle_report"]},
        ),
        ("POST", "/v1/routes/cleanup", None, route),
        ("GET", "/v1/hotspots", {**needles, "distance_m": 300}, None),
        ("GET", "/maps/hotspots", needles, None),
        ("GET", "/maps/hotspots.geojson", needles, None),
        ("GET", "/maps/coverage", {"service": "needles", **needles}, None),
        ("GET", "/maps/siting", {"p": 1, "period": period}, None),
        ("GET", "/maps/cleanup", {"budget": 60, "period": period}, None),
    ]
    return out


def same_bytes(text: str) -> str:
    """An answer with what may differ between two programs for reasons other than their
    events taken out: the program's name, its site's row id, form tokens, the solver's clock."""
    text = re.sub(r"town[ab]", "town", text)
    text = re.sub(r'name="token" value="[^"]*"', "", text)
    text = re.sub(r'"(id|site_id|solve_seconds|seconds)":\s*[0-9.]+', "", text)
    text = re.sub(r'<option value="\d+"( selected)?>Drop-in', "", text)
    text = re.sub(r'name="start_site" value="\d+"', "", text)
    return re.sub(r"start_site=\d+", "", text)


CACHING = ("etag", "cache-control", "last-modified", "expires", "age")


def answer(client: TestClient, ask: Ask, headers: dict[str, str]) -> tuple[int, str, Any]:
    method, path, params, body = ask
    response = client.request(method, path, params=params, json=body, headers=headers)
    kept = {k: v for k, v in response.headers.items() if k.lower() in CACHING}
    return response.status_code, same_bytes(response.text), kept


def shown_total(client: TestClient, program: Program, period: str) -> int:
    response = client.get(
        "/v1/published", params={"kind": "needle_report", "period": period}, headers=program.peer
    )
    assert response.status_code == 200, response.text
    return sum(f["properties"]["count"] for f in response.json()["features"])


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("role", ["peer", "planner"])
def test_every_number_a_peer_or_planner_reads_is_a_function_of_the_release(
    towns: Towns, role: str, period: str
) -> None:
    """Attack: difference a year against its half-years, quarters and months, one square
    size against another, across every answer that shows a number (published layers, hot
    spots, coverage gaps, siting, clean-up stops and their "N reported in", basis numbers,
    warnings' percentages, the pages). Where the two towns' released layers of a period are
    the same, every answer must be byte for byte the same, caching headers too: nothing
    reads the store past the release. Where they differ (the year: its residual is shown in
    a square of at least k reports besides the insider's own, the victim's among them), the
    basis differs by exactly what the layer shows, never by a hidden count."""
    client, quiet, victim = towns.client, towns.quiet, towns.victim
    layers = [answer(client, ("GET", "/v1/published", {"kind": "needle_report",
              "period": period}, None), getattr(p, role)) for p in (quiet, victim)]  # fmt: skip
    if layers[0] == layers[1]:
        answered = 0
        for ask in asks(period):
            a, b = (answer(client, ask, getattr(p, role)) for p in (quiet, victim))
            assert a == b, ask
            answered += a[0] == 200
        assert answered >= 12, "the attack asked questions that were answered"
        return
    assert period == "2025", "only the year shows the August residual"
    shown = [shown_total(client, p, period) for p in (quiet, victim)]
    coverage = [
        client.get(
            "/v1/coverage",
            params={"kind": "needle_report", "period": period, "service": "needles"},
            headers=getattr(p, role),
        ).json()
        for p in (quiet, victim)
    ]
    released = [c["results"][0]["basis"]["reports_released"] for c in coverage]
    assert released == shown, "the basis counts what the layer shows, nothing hidden"
    counts = [
        {f["id"]: f["properties"]["count"] for f in client.get(
            "/v1/published", params={"kind": "needle_report", "period": period},
            headers=p.peer).json()["features"]}
        for p in (quiet, victim)
    ]  # fmt: skip
    (moved,) = [i for i in counts[1] if counts[1][i] != counts[0].get(i)]
    assert counts[1][moved] - counts[0][moved] == 1
    cell = counts[1][moved]
    assert cell - 2 >= K, "the victim shows only among k reports besides the insider's two"


def test_the_trends_slider_totals_are_the_releases_in_both_towns(towns: Towns) -> None:
    """Attack: the slider's "August 2025 — N reports" and the basis under it, in a town with
    the victim's report and one without: both are sums of the months' releases, the same."""
    client = towns.client
    for role in ("peer", "planner"):
        pages = [
            client.get("/maps/trends", params={"year": 2025}, headers=getattr(p, role))
            for p in (towns.quiet, towns.victim)
        ]
        assert [p.status_code for p in pages] == [200, 200]
        assert same_bytes(pages[0].text) == same_bytes(pages[1].text), role


def test_a_report_sent_before_a_release_changes_nothing_a_peer_can_poll(
    tmp_path: Path,
) -> None:
    """Attack: poll every answer, send one report from the grace window (open period), poll
    again. Before its period is released no peer- or planner-visible number, basis, warning,
    ETag, Cache-Control or page may change; else a peer learns when (and whether) data
    arrive, and by a second key, what one report moved."""
    from geo_service.main import create_app

    app = create_app(make_settings(tmp_path, rate_limit_per_key=0, rate_limit_per_address=0))
    with TestClient(app) as client:
        program = _town(client, app.state.store, "polled", victim=False)
        every = [a for period in ("2025", "2025-Q2", "2025-08") for a in asks(period)]
        every.append(("GET", "/maps/trends", {"year": 2025}, None))

        def poll() -> list[tuple[int, str, Any]]:
            out = []
            for role in ("peer", "planner"):
                out += [answer(client, ask, getattr(program, role)) for ask in every]
            return out

        poll()  # the first asks make the releases
        before = poll()
        recent = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(microsecond=0)
        rows = [feature(*HOT, observed_at=recent.isoformat()), feature(*LONELY,
                observed_at=recent.isoformat())]  # fmt: skip
        sent = client.post("/v1/events", json=collection(*rows), headers=program.peer)
        assert sent.status_code == 201, sent.text
        after = poll()
        for ask, was, now in zip(every + every, before, after, strict=True):
            assert was == now, ask
