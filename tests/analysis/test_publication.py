from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.publication import (
    Atoms,
    PublicationError,
    find_differencing_leak,
    quarter_view,
    release,
    release_quarter,
)

K = 5


def members(features: list) -> list[frozenset[int]]:  # type: ignore[type-arg]
    return [f.member_set for f in features]


# -- known answers -------------------------------------------------------------------------


def test_three_events_in_a_cell_are_not_released() -> None:
    atoms = Atoms.of([4, 4], [2, 2], [0, 0], [1, 2], [2, 1])
    layer = release(atoms, k=K, top_level=3)
    assert layer.features == [] and layer.suppressed == 3


def test_one_reporter_is_never_enough_however_many_reports() -> None:
    atoms = Atoms.of([4], [2], [0], [9], [12])
    layer = release(atoms, k=K, top_level=6)
    assert layer.features == [] and layer.suppressed == 12


def test_a_parent_shows_only_what_its_released_children_do_not() -> None:
    # cell (0,0): 6 events from 2 keys -> released at level 0.
    # cells (1,0) and (0,1): 2 + 3 events -> their parent (0,0) at level 1 releases 5.
    atoms = Atoms.of([0, 0, 1, 0], [0, 0, 0, 1], [0] * 4, [1, 2, 1, 3], [3, 3, 2, 3])
    layer = release(atoms, k=K, top_level=4)
    got = [(f.level, f.ix, f.iy, f.count, f.reporters) for f in layer.features]
    assert got == [(0, 0, 0, 6, 2), (1, 0, 0, 5, 2)]
    assert layer.suppressed == 0
    assert find_differencing_leak(members(layer.features), atoms.count, k=K) is None


def test_the_checker_catches_a_parent_published_with_its_total() -> None:
    # The naive way: children of 6 and 5 shown, and their parent with its total of 13:
    # 13 - 6 - 5 gives away the 2 in the hidden third child.
    counts = [6, 2, 5]
    naive = [frozenset({0}), frozenset({0, 1, 2}), frozenset({2})]
    leak = find_differencing_leak(naive, counts, k=K)
    assert leak == frozenset({1})


def test_the_checker_catches_a_quarter_minus_its_month() -> None:
    # month 1: 5 events in cell c (2 keys), month 2: 2 events in c. A plain quarter release
    # shows c = 7; month 1 shows c = 5; 7 - 5 = the 2 hidden in month 2.
    atoms = Atoms.of([3, 3, 3], [3, 3, 3], [1, 1, 2], [1, 2, 1], [3, 2, 2])
    month_1 = release(atoms, k=K, top_level=0, among=np.array([0, 1]))
    plain_quarter = release(atoms, k=K, top_level=0)
    published = members(month_1.features) + members(plain_quarter.features)
    assert find_differencing_leak(published, atoms.count, k=K) == frozenset({2})
    # Releasing the quarter as months plus residual shows nothing the months hid.
    months, residual = release_quarter(atoms, [1, 2], k=K, top_level=0)
    ours = [f.member_set for m in months.values() for f in m.features]
    ours += members(quarter_view(list(months.values()), residual))
    assert find_differencing_leak(ours, atoms.count, k=K) is None


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(PublicationError):
        release(Atoms.of([0], [0], [0], [0], [1]), k=0)


# -- invariants ----------------------------------------------------------------------------


def random_atoms(data: st.DataObject, months: int = 1) -> Atoms:
    n = data.draw(st.integers(0, 40))
    draw = lambda lo, hi: np.array(  # noqa: E731
        data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), dtype=np.int64
    )
    return Atoms.of(draw(0, 7), draw(0, 7), draw(1, months), draw(1, 4), draw(1, 6))


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(2, 8))
def test_no_released_number_is_small_and_every_event_is_counted_once(
    data: st.DataObject, k: int
) -> None:
    atoms = random_atoms(data)
    layer = release(atoms, k=k, top_level=3)
    assert all(f.count >= k and f.reporters >= 2 for f in layer.features)
    assert layer.released + layer.suppressed == int(atoms.count.sum())
    seen: set[int] = set()
    for f in layer.features:
        assert not (f.member_set & seen)  # disjoint: each event in at most one number
        seen |= f.member_set
        assert f.count == int(atoms.count[list(f.members)].sum())
    assert find_differencing_leak(members(layer.features), atoms.count, k=k) is None


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_months_and_their_quarter_together_reveal_no_hidden_count(data: st.DataObject) -> None:
    atoms = random_atoms(data, months=3)
    months, residual = release_quarter(atoms, [1, 2, 3], k=K, top_level=3)
    quarter = quarter_view(list(months.values()), residual)
    published = [f.member_set for m in months.values() for f in m.features] + members(quarter)
    assert find_differencing_leak(published, atoms.count, k=K) is None
    released = sum(m.released for m in months.values()) + residual.released
    assert released + residual.suppressed == int(atoms.count.sum())
    assert all(f.count >= K for f in quarter)
