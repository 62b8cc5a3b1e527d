"""Half-years and years as releases of their own, nested on their quarters (issue 17).

A half-year keeps its quarters' frozen cells and adds a release of what no quarter showed;
a year does the same on its half-years. An insider who sends reports and compares a year (or
a half-year) with the periods inside it must still learn no count below k.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape

from geo_service.auth import Role, create_key
from geo_service.errors import InvalidParameter
from geo_service.periods import Bucket, parse_period, parts_of
from tests.conftest import bearer, collection, feature, problem
from tests.geo_service.test_publication_api import LONELY, Program, background, published

K = 5  # the deployment's default floor
HERE = SimpleNamespace(tz=__import__("zoneinfo").ZoneInfo("America/Winnipeg"))
QUARTERS_OF = {"2025-H1": ("2025-Q1", "2025-Q2"), "2025-H2": ("2025-Q3", "2025-Q4")}
MID_MONTH_OF_QUARTER = ("02", "05", "08", "11")
Key = tuple[int, int, int]  # (cell_m, ix, iy), as the feature id spells it


# -- spelling -------------------------------------------------------------------------------


def test_half_years_and_years_parse_to_their_months() -> None:
    h1, h2, year = (parse_period(t, HERE) for t in ("2025-H1", "2025-H2", "2025"))  # type: ignore[arg-type]
    assert (h1.bucket, h1.months) == (Bucket.HALF, tuple(range(2025 * 12, 2025 * 12 + 6)))
    assert h2.months[0] == 2025 * 12 + 6 and h2.end == year.end
    assert (year.bucket, len(year.months), year.start) == (Bucket.YEAR, 12, h1.start)
    assert [p.label for p in parts_of(year, HERE.tz)] == ["2025-H1", "2025-H2"]
    assert [p.label for p in parts_of(h2, HERE.tz)] == ["2025-Q3", "2025-Q4"]


@pytest.mark.parametrize(
    "text",
    ["2025-H3", "2025-H0", "2025-h1", "2025-", "25", "２０２５", "2025\n", "2025-H1 ", "1999"],
)
def test_other_spellings_of_a_half_year_or_year_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_period(text, HERE)  # type: ignore[arg-type]
    assert caught.value.detail.startswith("period must")


def test_a_report_backdated_into_a_released_year_is_late(
    app: FastAPI, client: TestClient, monkeypatch: Any
) -> None:
    program = Program(app.state.store, "backdated")
    released = {("needle_report", "2025")}  # as if only the year were stored
    monkeypatch.setattr(app.state.store, "released_periods", lambda _program_id: released)
    rows = [
        feature(*LONELY, observed_at="2025-07-10T12:00:00Z"),
        feature(*LONELY, observed_at="2026-01-10T12:00:00Z"),
        feature(*LONELY, kind="overdose", observed_at="2025-07-10T12:00:00Z"),
    ]
    response = client.post("/v1/events", json=collection(*rows), headers=program.reporters[0])
    assert response.status_code == 201, response.text
    late = [
        n["index"] for n in response.json()["held_back"] if n["code"] == "period_already_published"
    ]
    assert late == [0]


# -- nesting, through the API ---------------------------------------------------------------


def _counts(body: dict[str, Any]) -> dict[Key, int]:
    out: dict[Key, int] = {}
    for f in body["features"]:
        size, ix, iy = (int(part) for part in f["id"].split(":"))
        out[(size, ix, iy)] = f["properties"]["count"]
    return out


def _sum(bodies: list[dict[str, Any]]) -> Counter[Key]:
    total: Counter[Key] = Counter()
    for body in bodies:
        total.update(_counts(body))
    return total


def test_a_year_shows_what_no_quarter_or_half_year_could(app: FastAPI, client: TestClient) -> None:
    program = Program(app.state.store, "slow")
    for month in MID_MONTH_OF_QUARTER:  # one report per key per quarter: 3 a quarter
        for reporter in range(3):
            row = feature(*LONELY, observed_at=f"2025-{month}-10T12:00:00Z")
            program.post(client, [row], reporter)
    for period in ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2025-H1", "2025-H2"):
        assert (
            published(client, program.peer, kind="needle_report", period=period)["features"] == []
        )
    year = published(client, program.peer, kind="needle_report", period="2025")
    # 12 reports, 8 once the largest key is removed: one stored-size square.
    assert [(f["properties"]["cell_m"], f["properties"]["count"]) for f in year["features"]] == [
        (125, 12)
    ]
    assert shape(year["features"][0]["geometry"]).contains(Point(LONELY))


@pytest.fixture
def attacked(app: FastAPI, client: TestClient) -> tuple[Program, dict[str, str]]:
    """A town, and an insider (reporter 0) who sends reports around a victim's one report."""
    store = app.state.store
    program = Program(store, "attacked")
    background(client, program)
    victim = bearer(create_key(store, program="attacked", role=Role.MANAGER)[1])
    for reporter in range(3):  # Q1 shows the lonely square: 9 reports, 6 without a key
        program.post(client, [feature(*LONELY, observed_at="2025-02-10T12:00:00Z")] * 3, reporter)
    row = feature(*LONELY, observed_at="2025-08-10T12:00:00Z")
    response = client.post(
        "/v1/events", json={"type": "FeatureCollection", "features": [row]}, headers=victim
    )
    assert response.status_code == 201
    program.post(client, [row, row], 0)  # the insider's own two in Q3
    return program, victim


def test_a_reporting_insider_learns_nothing_from_a_year_against_its_quarters(
    client: TestClient, attacked: tuple[Program, dict[str, str]]
) -> None:
    program, _ = attacked
    get = {p: published(client, program.peer, kind="needle_report", period=p) for p in (
        "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2025-H1", "2025-H2", "2025")}  # fmt: skip
    own_in_residual = 2  # the insider's Q3 reports, the only ones of theirs no quarter shows
    lonely = Point(LONELY)
    comparisons = [(get["2025"], [get[q] for q in get if "-Q" in q])]
    comparisons += [(get[h], [get[q] for q in QUARTERS_OF[h]]) for h in QUARTERS_OF]
    comparisons += [(get["2025"], [get["2025-H1"], get["2025-H2"]])]
    for whole, parts in comparisons:
        inside = _sum(parts)
        assert set(inside) <= set(_counts(whole)), "a longer period keeps its parts' cells"
        geometry = {
            k: f["geometry"] for k, f in zip(_counts(whole), whole["features"], strict=True)
        }
        for key, count in _counts(whole).items():
            extra = count - inside.get(key, 0)
            assert extra >= 0
            own = own_in_residual if shape(geometry[key]).contains(lonely) else 0
            # What the longer period adds is nothing, or k reports besides the insider's.
            assert extra == 0 or extra - own >= K, (key, extra)
    year_lonely = [
        f["properties"]["count"]
        for f in get["2025"]["features"]
        if f["properties"]["cell_m"] == 125 and shape(f["geometry"]).contains(lonely)
    ]
    assert year_lonely == [9], "the victim's report shows in no number the insider can difference"


def test_a_naive_year_is_withheld_by_the_differencing_check(
    app: FastAPI, client: TestClient, attacked: tuple[Program, dict[str, str]], monkeypatch: Any
) -> None:
    """The check covers the whole family: a year released as one plain roll-up (its parts
    ignored) lets Q1's lonely square be subtracted from the year's, and is withheld."""
    program, _ = attacked
    for half in ("2025-H1", "2025-H2"):  # made the honest way first
        published(client, program.peer, kind="needle_report", period=half)
    from analysis import publication as core
    from geo_service.services.releases import making

    honest = making._nested

    def plain_year(deployment: Any, atoms: Any, period: Any, rule: Any, parts: Any) -> Any:
        if period.bucket is not Bucket.YEAR:
            return honest(deployment, atoms, period, rule, parts)
        family = [layer for _, layers in parts for layer in layers]
        plain = core.release(atoms, k=rule.k, top_level=0).features
        return plain, [*family, plain]

    monkeypatch.setattr(making, "_nested", plain_year)
    response = client.get(
        "/v1/published", params={"kind": "needle_report", "period": "2025"}, headers=program.peer
    )
    assert problem(response, 503)["code"] == "release_withheld"
    assert "release.withheld" in [row.action for row in app.state.store.audit_rows()]


def test_a_year_is_published_only_after_its_grace_window(client: TestClient, app: FastAPI) -> None:
    program = Program(app.state.store, "early")
    import datetime as dt

    this_year = dt.datetime.now(dt.UTC).year
    for period in (str(this_year), f"{this_year}-H2"):
        response = client.get(
            "/v1/published",
            params={"kind": "needle_report", "period": period},
            headers=program.peer,
        )
        assert "not published yet" in problem(response, 400)["detail"]
