from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.publication import (
    Atoms,
    PublicationError,
    coarsen,
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
    # cell (0,0): 10 reports from 2 keys, 5 left without the larger -> released at level 0.
    # cells (1,0) and (0,1): 5 + 6 reports, each from one key -> their parent (0,0) at level 1
    # releases 11 (5 left without key 3).
    atoms = Atoms.of([0, 0, 1, 0], [0, 0, 0, 1], [0] * 4, [1, 2, 1, 3], [5, 5, 5, 6])
    layer = release(atoms, k=K, top_level=4)
    got = [(f.level, f.ix, f.iy, f.count, f.reporters) for f in layer.features]
    assert got == [(0, 0, 0, 10, 2), (1, 0, 0, 11, 2)]
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
    # month 1: 10 reports in cell c (2 keys), month 2: 2 in c. A plain quarter release shows
    # c = 12; month 1 shows c = 10; 12 - 10 = the 2 hidden in month 2.
    atoms = Atoms.of([3, 3, 3], [3, 3, 3], [1, 1, 2], [1, 2, 1], [5, 5, 2])
    month_1 = release(atoms, k=K, top_level=0, among=np.array([0, 1]))
    plain_quarter = release(atoms, k=K, top_level=0)
    published = members(month_1.features) + members(plain_quarter.features)
    assert find_differencing_leak(published, atoms.count, k=K) == frozenset({2})
    # Releasing the quarter as months plus residual shows nothing the months hid.
    months, residual = release_quarter(atoms, [1, 2], k=K, top_level=0)
    ours = [f.member_set for m in months.values() for f in m.features]
    ours += members(quarter_view(list(months.values()), residual))
    assert find_differencing_leak(ours, atoms.count, k=K) is None


def test_padding_a_victims_cell_reveals_nothing_about_the_victim() -> None:
    # The victim (key 1) sent 2 reports into a cell; the attacker (key 9) pads it with 4 rows,
    # or 40. Counted per key removed, the cell never passes on the attacker's reports: a
    # released number minus the attacker's own would otherwise be the victim's exact count.
    for padding in (4, 40):
        atoms = Atoms.of([5, 5], [5, 5], [0, 0], [1, 9], [2, padding])
        assert release(atoms, k=K, top_level=0).features == []


def test_a_needle_count_from_one_row_does_not_pass_k() -> None:
    # One report of 40 needles is one report: k counts rows, not needles.
    atoms = Atoms.of([5, 5], [5, 5], [0, 0], [1, 2], [1, 4], needles=[40, 4])
    assert release(atoms, k=K, top_level=0).features == []


def test_needles_are_shown_only_where_the_rule_holds_for_needles() -> None:
    # 6 reports from three keys pass (4 remain without the largest at k=4), but 30 of the 33
    # needles come from one key: the needle total would give away the other keys' 3.
    atoms = Atoms.of([0, 0, 0], [0, 0, 0], [0] * 3, [1, 2, 3], [2, 2, 2], needles=[30, 2, 1])
    (feature,) = release(atoms, k=4, top_level=0).features
    assert feature.count == 6 and feature.needles is None
    spread = Atoms.of([0, 0, 0], [0, 0, 0], [0] * 3, [1, 2, 3], [2, 2, 2], needles=[5, 5, 5])
    assert release(spread, k=4, top_level=0).features[0].needles == 15


def test_two_colluding_keys_learn_nothing_when_the_steward_drops_two() -> None:
    # Victim 2 reports; attackers 8 and 9 pad with 3 each: without the top key 5 remain
    # (passes k=5), without the top two only the victim's 2.
    atoms = Atoms.of([1, 1, 1], [1, 1, 1], [0] * 3, [1, 8, 9], [2, 3, 3])
    assert len(release(atoms, k=K, top_level=0).features) == 1
    assert release(atoms, k=K, top_level=0, drop_top_keys=2).features == []


def test_the_public_layer_is_a_sum_of_released_cells() -> None:
    atoms = Atoms.of([2, 2, 3, 3, 0], [2, 2, 2, 2, 0], [0] * 5, [1, 2, 1, 3, 4], [4, 4, 3, 3, 2])
    peer = release(atoms, k=3, top_level=0)
    public = coarsen(peer.features, levels=1, k=10)
    assert [(f.level, f.ix, f.iy, f.count) for f in public] == [(1, 1, 1, 14)]
    published = members(peer.features) + members(public)
    assert find_differencing_leak(published, atoms.count, k=3) is None
    assert coarsen(peer.features, levels=1, k=15) == []


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(PublicationError):
        release(Atoms.of([0], [0], [0], [0], [1]), k=0)


# -- invariants ----------------------------------------------------------------------------


def random_atoms(data: st.DataObject, months: int = 1) -> Atoms:
    n = data.draw(st.integers(0, 40))

    def draw(lo: int, hi: int) -> npt.NDArray[np.int64]:
        return np.array(
            data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)), dtype=np.int64
        )

    return Atoms.of(
        draw(0, 7), draw(0, 7), draw(1, months), draw(1, 4), draw(1, 6), needles=draw(0, 30)
    )


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(2, 8))
def test_no_released_number_is_small_and_every_event_is_counted_once(
    data: st.DataObject, k: int
) -> None:
    atoms = random_atoms(data)
    layer = release(atoms, k=k, top_level=3)
    assert all(f.count >= k and f.reporters >= 2 for f in layer.features)
    for f in layer.features:  # any one key's reports removed, at least k remain
        for key in np.unique(atoms.reporter[f.members]):
            own = atoms.count[f.members][atoms.reporter[f.members] == key].sum()
            assert f.count - own >= k
            if f.needles is not None:
                own_needles = atoms.needles[f.members][atoms.reporter[f.members] == key].sum()
                assert f.needles - own_needles >= k
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
    layers = [m.features for m in months.values()] + [quarter]
    # Every audience at once: peers' months and quarter, and the public coarsening of each.
    published = [f.member_set for layer in layers for f in layer]
    published += [f.member_set for layer in layers for f in coarsen(layer, levels=1, k=2 * K)]
    assert find_differencing_leak(published, atoms.count, k=K) is None
    released = sum(m.released for m in months.values()) + residual.released
    assert released + residual.suppressed == int(atoms.count.sum())
    assert all(f.count >= K for f in quarter)


# -- the differencing check on (number, atom) pairs, against the dense matrix it replaced -----


def dense_leak(published: list[frozenset[int]], counts: npt.ArrayLike, *, k: int) -> object:
    """The check as first written (a dense number-by-atom matrix and ``np.unique`` of its
    columns): the oracle. It took 16 GB on a city's quarter."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    x = np.asarray(counts, dtype=np.int64)
    atoms = sorted(set().union(*published))
    column = {a: i for i, a in enumerate(atoms)}
    incidence = np.zeros((len(published), len(atoms)), dtype=np.int8)
    for row, numbers in enumerate(published):
        incidence[row, [column[a] for a in numbers]] = 1
    patterns, klass = np.unique(incidence.T, axis=0, return_inverse=True)
    klass = klass.ravel()
    totals = np.bincount(klass, weights=x[atoms]).astype(np.float64)
    n_features, n_classes = len(published), len(patterns)
    result = milp(
        c=np.zeros(n_features + n_classes),
        constraints=[
            LinearConstraint(np.hstack([patterns.astype(float), -np.eye(n_classes)]), 0.0, 0.0),
            LinearConstraint(np.concatenate([np.zeros(n_features), totals]), 1.0, k - 1.0),
            LinearConstraint(
                np.concatenate([np.zeros(n_features), np.ones(n_classes)]), 1.0, np.inf
            ),
        ],
        integrality=np.concatenate([np.zeros(n_features), np.ones(n_classes)]),
        bounds=Bounds(
            np.concatenate([np.full(n_features, -np.inf), np.zeros(n_classes)]),
            np.concatenate([np.full(n_features, np.inf), np.ones(n_classes)]),
        ),
    )
    if result.status == 2:
        return None
    chosen = np.flatnonzero(np.round(result.x[n_features:]) == 1)
    return frozenset(atoms[i] for i in np.flatnonzero(np.isin(klass, chosen)))


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(1, 40), st.integers(1, 14), st.integers(2, 8))
def test_the_sparse_check_answers_as_the_dense_one(
    data: st.DataObject, n_atoms: int, n_numbers: int, k: int
) -> None:
    """Same leak (or none) on random sets of published numbers, nested or overlapping, and
    the same atom classes in the same order (so the solver gets the same program)."""
    from analysis.publication import _atom_classes

    atom = st.integers(0, n_atoms - 1)
    published = data.draw(st.lists(st.frozensets(atom, min_size=1), min_size=1, max_size=n_numbers))
    counts = data.draw(st.lists(st.integers(0, 9), min_size=n_atoms, max_size=n_atoms))
    assert find_differencing_leak(published, counts, k=k) == dense_leak(published, counts, k=k)
    as_arrays = [np.array(sorted(m)) for m in published]
    assert find_differencing_leak(as_arrays, counts, k=k) == dense_leak(published, counts, k=k)
    atoms, klass, patterns = _atom_classes(published)
    dense = np.zeros((len(published), len(atoms)), dtype=np.int8)
    for row, numbers in enumerate(published):
        dense[row, np.searchsorted(atoms, sorted(numbers))] = 1
    expected, expected_class = np.unique(dense.T, axis=0, return_inverse=True)
    assert klass.tolist() == expected_class.ravel().tolist()
    assert (patterns.toarray() == expected).all()


def test_the_check_is_none_when_nothing_is_published() -> None:
    assert find_differencing_leak([frozenset()], [3], k=5) is None
    assert find_differencing_leak([], [3], k=5) is None
