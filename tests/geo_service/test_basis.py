"""Every answer says what share of the window's reports it rests on (``basis``), warns below
half, and refuses with its real reason; peers and planners learn no hidden count from it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geo_service.auth import Role, create_key
from geo_service.periods import Bucket, Period, parse_period
from geo_service.services.basis import Basis, base_basis, release_basis
from geo_service.services.releases import Release, ReleasedCell, ReleaseRule, get_release
from geo_service.settings import EventKind
from maps.words import MONTH_LEAVES_OUT, MONTH_WARNING, percent_words
from tests.conftest import bearer, collection, feature, problem, service_site

HOT = (-101.8700, 54.7700)  # one square, three reporting keys: released at its own size
FAR = (-101.8400, 54.7900)  # where an insider files reports that stay hidden
LOW = (
    "This shows 23 % of reports; the rest were too few to show safely. Try a longer period "
    "or larger squares."
)
Q2_BASIS = {
    "reports_used": 9,
    "reports_in_window": None,
    "reports_released": 39,
    "share": 0.2308,
}


# -- the words and numbers, on their own ----------------------------------------------------


@pytest.mark.parametrize(
    ("share", "words"),
    [
        (0.0, "0 %"),
        (0.0004, "less than 0.1 %"),
        (0.002, "0.2 %"),
        (0.0225, "2 %"),
        (0.4999, "49 %"),
        (0.9999, "99 %"),
        (1.0, "100 %"),
    ],
)
def test_a_share_is_never_rounded_up_into_a_rounder_claim(share: float, words: str) -> None:
    assert percent_words(share) == words


def test_a_released_basis_states_its_share_and_warns_below_half() -> None:
    low = Basis(9, 39, True, "May 2025")
    assert low.share == 0.2308
    assert low.words == (
        "Rests on 9 of the 39 reports shown for May 2025 (23 %): the other 30 are shown only "
        "in larger squares; reports too few to show anywhere are not counted."
    )
    assert low.warnings == [
        LOW,
        "This rests on only 9 reports: one more or less could change it a lot.",
    ]
    assert Basis(19, 39, True, "May 2025").warnings[0].startswith("This shows 48 % of reports")
    at_half = Basis(40, 80, True, "May 2025")
    assert at_half.share == 0.5 and at_half.warnings == []
    assert Basis(0, 0, True, "May 2025").share is None


def test_a_managers_basis_counts_every_event_of_the_window() -> None:
    every = Basis(40, 40, False, "the last 365 days")
    assert every.to_json() == {
        "reports_used": 40,
        "reports_in_window": 40,
        "reports_released": None,
        "share": 1.0,
        "words": "Rests on all 40 events in the last 365 days.",
    }
    assert every.warnings == []


def _release(hidden: int | None, events: int) -> Release:
    rule = ReleaseRule(k=5, drop_top_keys=1, grace_days=7, cell_m=125)
    cells = (ReleasedCell(0, 1, 1, 9, None), ReleasedCell(3, 0, 0, 30, None))
    period = Period("2025-Q2", Bucket.QUARTER, (24303, 24304, 24305), 0, 1)
    by_hour = tuple([0.0] * 168)
    return Release(
        EventKind.OVERDOSE, period, rule, "2025-06-08", "h", cells, by_hour, hidden, events
    )


def test_a_release_basis_reads_neither_its_hidden_count_nor_its_events() -> None:
    # A release's hidden count passes the rule on its own, but a quarter and its months (or
    # two square sizes of a period) hold the same reports: total + hidden of one, less
    # another's total, would be the other's withheld hidden count.
    shown = [base_basis(_release(h, e), "May 2025").to_json() for h, e in [(None, 39), (7, 46)]]
    assert shown[0] == shown[1] == Q2_BASIS | {"words": shown[0]["words"]}
    assert release_basis(_release(None, 43), used=39, window="May 2025").share == 1.0


# -- a small program, through the API --------------------------------------------------------


class Program:
    """Three reporting manager keys, a peer (who may also send reports) and a planner."""

    def __init__(self, app: FastAPI, client: TestClient, name: str) -> None:
        store = app.state.store
        self.client = client
        self.reporters = [
            bearer(create_key(store, program=name, role=Role.MANAGER)[1]) for _ in range(3)
        ]
        self.manager = self.reporters[0]
        self.peer = bearer(create_key(store, program=name, role=Role.PEER)[1])
        self.planner = bearer(create_key(store, program=name, role=Role.PLANNER)[1])

    def post(self, headers: dict[str, str], rows: list[dict[str, Any]], path: str) -> Any:
        response = self.client.post(path, json=collection(*rows), headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    def may(self, *, hot: bool = True, month: str = "05") -> None:
        """9 reports in one square (3 keys × 3): released at its own size; 30 more, one per
        key in each of ten squares along a street: released only in larger squares."""
        for key in self.reporters:
            rows = [feature(*HOT, observed_at=f"2025-{month}-0{d}T12:00:00Z") for d in (1, 2, 3)]
            rows = rows if hot else []
            rows += [
                feature(
                    round(-101.92 + 0.006 * i, 4), 54.75, observed_at=f"2025-{month}-10T12:00:00Z"
                )
                for i in range(10)
            ]
            self.post(key, rows, "/v1/events")
        site = service_site("Depot", ["needles", "naloxone"], "Mo-Fr 09:00-17:00", *HOT)
        self.site = self.post(self.manager, [site], "/v1/sites")

    def get(self, path: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
        response = self.client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def lockers(self, headers: dict[str, str], **body: Any) -> Any:
        body = {"kinds": ["needle_report"], "period": "2025-Q2", "p": 1} | body
        return self.client.post("/v1/siting/lockers", json=body, headers=headers)

    def route(self, headers: dict[str, str], period: str = "2025-Q2") -> dict[str, Any]:
        site_id = self.client.get("/v1/sites", headers=self.manager).json()["features"][0]["id"]
        body = {"budget_minutes": 60, "start_site": site_id, "period": period}
        response = self.client.post("/v1/routes/cleanup", json=body, headers=headers)
        assert response.status_code == 200, response.text
        summary: dict[str, Any] = response.json()["summary"]
        return summary

    def answers(self, headers: dict[str, str], period: str) -> dict[str, tuple[Any, Any]]:
        """Each answer's basis and warnings, as this key is given them."""
        out: dict[str, tuple[Any, Any]] = {}
        for method in ("gi_star", "dbscan", "density"):
            hot = self.get(
                "/v1/hotspots", headers, kind="needle_report", method=method, period=period
            )
            out[method] = (hot["summary"]["basis"], hot["summary"]["warnings"])
        cov = self.get(
            "/v1/coverage", headers, service="needles", kind="needle_report", period=period
        )
        out["coverage"] = (cov["basis"], cov["warnings"])
        layer = self.get("/v1/published", headers, kind="needle_report", period=period)
        out["published"] = (layer["summary"]["basis"], layer["summary"]["warnings"])
        return out


def _without_words(basis: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in basis.items() if k != "words"}


def test_every_answer_states_its_share_of_the_reports_exactly(
    app: FastAPI, client: TestClient
) -> None:
    town = Program(app, client, "town")
    town.may()
    layer = town.get("/v1/published", town.peer, kind="needle_report", period="2025-Q2")
    sizes = [(f["properties"]["cell_m"], f["properties"]["count"]) for f in layer["features"]]
    assert (125, 9) in sizes and sum(n for _, n in sizes) == 39  # the program as designed
    for who in (town.peer, town.planner):
        for name, (basis, warnings) in town.answers(who, "2025-Q2").items():
            if name == "published":  # the layer itself shows every released report
                assert _without_words(basis) == Q2_BASIS | {"reports_used": 39, "share": 1.0}
                assert warnings == []
                continue
            assert _without_words(basis) == Q2_BASIS, name
            assert "9 of the 39 reports shown for April–June 2025 (23 %)" in basis["words"]
            assert LOW in warnings, name
    plan = town.lockers(town.planner).json()
    assert _without_words(plan["basis"]) == Q2_BASIS and LOW in plan["warnings"]
    assert plan["coverage_after"] == 1.0  # "100 % after one locker" comes with the warning
    ranking = town.get("/v1/siting/consumption-site", town.planner, period="2025-Q2")
    assert ranking["basis"]["reports_used"] == 9 and LOW in ranking["warnings"]
    route = town.route(town.peer)
    assert _without_words(route["basis"]) == Q2_BASIS and LOW in route["warnings"]
    # Managers: every event of the window, and no warning at all of them.
    for name, (basis, warnings) in town.answers(town.manager, "2025-Q2").items():
        if name != "published":
            assert basis["reports_in_window"] == 39 and basis["share"] == 1.0, name
            assert not any(w.startswith("This shows") for w in warnings), name
    preview = town.get("/v1/published", town.manager, kind="needle_report", period="2025-Q2")
    assert preview["summary"]["basis"]["reports_in_window"] == 39
    # A month rolls nothing up: it shows the 9 and cannot say how many it leaves out (that
    # is its hidden count), so it always says it may leave out most, whatever the data.
    for name, (basis, warnings) in town.answers(town.peer, "2025-05").items():
        assert basis["reports_released"] == 9 and basis["share"] == 1.0, name
        assert MONTH_WARNING in warnings and MONTH_LEAVES_OUT in basis["words"], name


def test_an_insider_cannot_read_a_withheld_hidden_count_off_any_share(
    app: FastAPI, client: TestClient
) -> None:
    plain, tried = Program(app, client, "plain"), Program(app, client, "tried")
    plain.may()
    tried.may()
    # The insider's reporting key files four reports in a square far from the others (a
    # peer key sends only the last 7 days, so an importing key stands in for it): one key,
    # so they pass nowhere and stay hidden. Then they read every share, as peer and as
    # planner, for the month and its quarter, looking for the four.
    insider = bearer(create_key(app.state.store, program="tried", role=Role.MANAGER)[1])
    tried.post(insider, [feature(*FAR, observed_at="2025-05-20T12:00:00Z")] * 4, "/v1/events")
    for period in ("2025-05", "2025-Q2"):
        for role in ("peer", "planner"):
            seen = tried.answers(getattr(tried, role), period)
            assert seen == plain.answers(getattr(plain, role), period), (period, role)
            # ... and each number there is a sum of the cells the layer already shows.
            layer = tried.get(
                "/v1/published", getattr(tried, role), kind="needle_report", period=period
            )
            cells = [f["properties"] for f in layer["features"]]
            for basis, _ in seen.values():
                assert basis["reports_released"] == sum(c["count"] for c in cells)
                assert basis["reports_in_window"] is None
        assert tried.route(tried.peer, period)["basis"] == plain.route(plain.peer, period)["basis"]
        plans = [p.lockers(p.planner, period=period).json() for p in (plain, tried)]
        assert plans[0]["basis"] == plans[1]["basis"]
        assert plans[0]["warnings"] == plans[1]["warnings"]
    # Why no share may read Release.hidden: May's hidden count passes the rule on its own
    # (34), the quarter's does not (the insider's 4, withheld), and May's total + hidden less
    # the quarter's total would be exactly those 4.
    may, q2 = (_stored(app, "tried", p) for p in ("2025-05", "2025-Q2"))
    assert (may.hidden, q2.hidden) == (34, None)
    assert may.total + 34 - q2.total == 4
    for period in ("2025-05", "2025-Q2"):
        shown = str(tried.answers(tried.planner, period))
        assert "43" not in shown and "34" not in shown
    # The four are real: a manager's share counts them, so the test could have seen them.
    counts = [
        p.get("/v1/hotspots", p.manager, kind="needle_report", period="2025-05")["summary"]
        for p in (plain, tried)
    ]
    assert [c["basis"]["reports_in_window"] for c in counts] == [39, 43]


def _stored(app: FastAPI, program: str, label: str) -> Release:
    services = app.state.services
    program_id = services.store.program_id(program)
    deployment = services.deployment_for(program_id)
    release: Release = get_release(
        services.store,
        deployment,
        services.settings,
        program_id=program_id,
        kind=EventKind.NEEDLE_REPORT,
        period=parse_period(label, deployment),
        now=time.time(),
    )
    return release


# -- refusals name their real reason -----------------------------------------------------------


def test_too_few_squares_is_not_blamed_on_exclusion_zones(app: FastAPI, client: TestClient) -> None:
    town = Program(app, client, "few")
    town.may()
    detail = problem(town.lockers(town.planner, p=3), 400)["detail"]
    assert "exclusion" not in detail
    assert "only 1 square has reports shown at their stored size for April–June 2025" in detail
    # The same p with loaded candidates and no zone: too few loaded.
    near = [
        feature(HOT[0] + dx, HOT[1], name=f"Wall {i}", candidate_type="locker")
        for i, dx in enumerate((0.0, 0.003))
    ]
    for f in near:
        del f["properties"]["kind"], f["properties"]["observed_at"]
    town.post(town.planner, near, "/v1/candidates")
    detail = problem(town.lockers(town.planner, p=3), 400)["detail"]
    assert "only 2 candidates are loaded (no exclusion zone removed any)" in detail


def test_exclusion_zones_are_named_when_they_took_the_candidates(
    app: FastAPI, client: TestClient
) -> None:
    town = Program(app, client, "zoned")
    town.may()
    school = feature(*HOT, name="School", exclusion_type="school", buffer_m=300)
    del school["properties"]["kind"], school["properties"]["observed_at"]
    town.post(town.manager, [school], "/v1/exclusions")
    plan = town.lockers(town.planner).json()
    assert plan["chosen"] == []
    assert plan["reason"] == (
        "1 of the 1 squares with reports lies inside exclusion zones, leaving 0; load "
        "candidates with POST /v1/candidates"
    )
    assert town.lockers(town.planner, p=2).json()["reason"] == plan["reason"]
    ranking = town.get("/v1/siting/consumption-site", town.planner, period="2025-Q2")
    assert ranking["ranking"] == [] and "inside exclusion zones" in ranking["reason"]


def test_reports_only_in_larger_squares_are_the_reason_not_no_reports(
    app: FastAPI, client: TestClient
) -> None:
    town = Program(app, client, "coarse")
    town.may(hot=False)  # only the 30 that are released in larger squares
    refusal = problem(town.lockers(town.planner), 422)
    assert "the 30 reports shown for April–June 2025 are all in larger squares" in refusal["detail"]
    route = town.route(town.peer)
    assert any("are all in larger squares" in w for w in route["warnings"])
    clusters = town.get(
        "/v1/hotspots", town.peer, kind="needle_report", method="dbscan", period="2025-Q2"
    )
    assert any("only in larger squares" in w for w in clusters["summary"]["warnings"])
    assert not any("passes the publication threshold" in w for w in clusters["summary"]["warnings"])
    empty = problem(town.lockers(town.planner, period="2025-05"), 422)["detail"]
    assert empty.startswith("no reports of these kinds are shown for May 2025")
