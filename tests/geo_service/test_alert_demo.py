"""The demo town's planted spike: its alerts fire on the right local day in the named
neighbourhood and its coarse cell, not a week earlier; the two years of demo events (and the
rail yard's emerging hot spot in them) are stored exactly as before."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from geo_service.demo import demo_events, load_demo
from geo_service.demo_alerts import DEMO_RULES, SPIKE_AREA, SPIKE_OVERDOSES
from geo_service.services.alerts.areas import areas_for
from geo_service.services.alerts.evaluate import evaluate_rules
from geo_service.services.alerts.views import area_in
from tests.geo_service.alert_fixtures import Town, alert_town

# 12:00 in Winnipeg (CDT), and 01:00: the spike must land on the local day in both.
NOON = pd.Timestamp("2026-06-15 17:00", tz="UTC")
AFTER_MIDNIGHT = pd.Timestamp("2026-06-15 06:00", tz="UTC")


@pytest.fixture(scope="module", params=[NOON, AFTER_MIDNIGHT], ids=["noon", "after-midnight"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Town, pd.Timestamp, tuple[str, ...]]]:
    end: pd.Timestamp = request.param
    with alert_town(tmp_path_factory.mktemp("demo")) as town:
        demo = load_demo(town.store, town.deployment, town.program_id, step=lambda: None, end=end)
        yield town, end, demo.alerts


def _spike_keys(town: Town) -> tuple[str, set[str]]:
    """The named area's key, and the coarse cells of the spike's overdoses."""
    areas = areas_for(town.store, town.deployment, town.program_id)
    (named,) = areas.named
    assert named.name == SPIKE_AREA
    spike = _spike_batch(town)
    recent = [e for e in town.store.all_events(town.program_id) if e.batch_id == spike]
    assert len(recent) == SPIKE_OVERDOSES
    size, ix, iy = areas.coarse_cells(
        [e.cell_m for e in recent], [e.cell_ix for e in recent], [e.cell_iy for e in recent]
    )
    cells = {
        f"cell:{s}:{x}:{y}" for s, x, y in zip(size.tolist(), ix.tolist(), iy.tolist(), strict=True)
    }
    return named.key, cells


def _spike_batch(town: Town) -> str:
    """The spike's batch: stored after the two years, so it holds the newest rows."""
    return max(town.store.all_events(town.program_id), key=lambda e: e.id).batch_id


def test_the_spike_drafts_alerts_in_its_neighbourhood_today(
    loaded: tuple[Town, pd.Timestamp, tuple[str, ...]],
) -> None:
    town, end, words = loaded
    named, cells = _spike_keys(town)
    rules = {r.id: r for r in town.store.alert_rules(town.program_id)}
    assert [r.name for r in rules.values()] == [r.name for r in DEMO_RULES]
    alerts = town.store.list_alerts(town.program_id)
    today = end.tz_convert("America/Winnipeg").date().isoformat()
    in_named = {rules[a.rule_id].method: a for a in alerts if a.area == named}
    assert set(in_named) == {"count", "ears_c2", "ewma"}
    for alert in in_named.values():
        assert alert.day == today
        assert alert.status == "drafted"  # no demo rule sends without review
        assert alert.observed >= SPIKE_OVERDOSES
        assert area_in(alert, "en") == area_in(alert, "fr") == SPIKE_AREA
        assert alert.window_end == int(end.timestamp())
    assert in_named["count"].window_start == int(end.timestamp()) - 24 * 3600
    assert in_named["ewma"].level == 2
    # The square kilometre holding most of the spike is named too, in words.
    assert any(a.area in cells for a in alerts)
    assert any(f"{SPIKE_AREA} (drafted)" in line for line in words)


def test_a_week_earlier_the_neighbourhood_is_quiet(
    loaded: tuple[Town, pd.Timestamp, tuple[str, ...]],
) -> None:
    town, end, _ = loaded
    named, cells = _spike_keys(town)
    earlier = int((end - pd.Timedelta(days=7)).timestamp())
    found = evaluate_rules(
        town.store, town.deployment, town.program_id, now=earlier, settings=town.settings
    )
    assert [a for a in found if a.area == named or a.area in cells] == []


def test_the_two_years_of_demo_events_are_stored_unchanged(
    loaded: tuple[Town, pd.Timestamp, tuple[str, ...]],
) -> None:
    town, end, _ = loaded
    spike = _spike_batch(town)
    stored = [e for e in town.store.all_events(town.program_id) if e.batch_id != spike]
    rows = demo_events(town.deployment, end=end).rows
    assert sorted(
        (e.kind, e.cell_m, e.cell_ix, e.cell_iy, e.bucket_start, e.count) for e in stored
    ) == sorted(
        zip(
            rows.kind,
            rows.cell_m.tolist(),
            rows.cell_ix.tolist(),
            rows.cell_iy.tolist(),
            rows.bucket_start.tolist(),
            rows.count.tolist(),
            strict=True,
        )
    )
