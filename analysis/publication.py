"""Publication: which counts may leave the service for a role (DESIGN.md §4.4).

Events are released in groups, and ``k`` counts reports (rows), not needles. A base cell is
released when at least ``k`` reports remain after removing the ``drop_top_keys`` reporting
keys that contributed most to it: an insider who subtracts their own reports from a released
number still learns only a count of at least ``k`` (with ``drop_top_keys=2``, two colluding
keys do). The reports of cells that fail roll up into the parent cell (twice the size), which
is released if *its residual* (the reports not already shown by its released children)
passes the same rule, and so on up to a top level; what is left there is suppressed. Every
report is thus shown in at most one released number, and no number mixes shown and hidden
reports, so no difference of published numbers can isolate a hidden count. A released
cell's needle total is shown only where the same rule holds for needles.

Months show only the cells that pass on their own; the rest of a month's reports wait for
the quarter. A quarter's layer is its months' cells plus a release, with roll-up, of every
report no month showed, so a quarter never re-counts what a month hid. The public layer is a
coarsening of a release (sums of released cells, then the public ``k`` on top), never a
second suppression of the events.

:func:`find_differencing_leak` checks a set of published numbers for exactly the property
the construction promises, by integer programming over the atoms they are sums of.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from analysis.grid import IntArray, roll_up


class PublicationError(ValueError):
    """Thresholds or inputs that cannot be published safely."""


@dataclass(frozen=True)
class Atoms:
    """Reports summed per (base cell, period, reporter): the units release decisions move.

    ``count`` is the number of reports (what ``k`` is checked on); ``needles`` the needles
    they name (equal to ``count`` when not given).
    """

    ix: IntArray
    iy: IntArray
    period: IntArray
    reporter: IntArray
    count: IntArray
    needles: IntArray

    def __len__(self) -> int:
        return len(self.ix)

    @classmethod
    def of(
        cls,
        ix: npt.ArrayLike,
        iy: npt.ArrayLike,
        period: npt.ArrayLike,
        reporter: npt.ArrayLike,
        count: npt.ArrayLike,
        needles: npt.ArrayLike | None = None,
    ) -> Atoms:
        columns = (ix, iy, period, reporter, count, count if needles is None else needles)
        arrays = [np.asarray(a, dtype=np.int64) for a in columns]
        if len({len(a) for a in arrays}) != 1:
            raise PublicationError("atom arrays must have the same length")
        if np.any(arrays[4] < 0) or np.any(arrays[5] < 0):
            raise PublicationError("counts must not be negative")
        return cls(*arrays)


@dataclass(frozen=True, eq=False)
class Feature:
    """One released number: ``count`` events in cell ``(ix, iy)`` at ``level``."""

    level: int  # 0: the base cell; L: base × 2**L
    ix: int
    iy: int
    count: int  # reports
    reporters: int
    members: IntArray  # indices of the atoms (in the input) it sums
    needles: int | None = None  # shown only where the rule holds for needles too

    @property
    def member_set(self) -> frozenset[int]:
        return frozenset(self.members.tolist())


@dataclass(frozen=True)
class Layer:
    features: list[Feature]
    suppressed: int  # events released nowhere in this layer
    unreleased: IntArray  # indices of the atoms left at the top

    @property
    def released(self) -> int:
        return sum(f.count for f in self.features)


def group_rows(*columns: IntArray) -> tuple[IntArray, IntArray]:
    """Group rows by equal values in every column: (first row of each group, group of each row).

    One int64 key per row (the columns' ranks in mixed radix) and a 1-D unique, which is many
    times faster than ``np.unique(axis=0)`` on a million rows.

    Examples
    --------
    >>> first, group = group_rows(np.array([5, 1, 5, 1]), np.array([2, 2, 2, 3]))
    >>> first.tolist(), group.tolist()
    ([1, 3, 0], [2, 0, 2, 1])
    """
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        values, rank = np.unique(column, return_inverse=True)
        # Re-rank after each column so the key stays below rows × values: no overflow.
        key = np.unique(key * len(values) + rank.ravel(), return_inverse=True)[1].ravel()
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    return first, group.ravel()


def remove_top_keys(
    group: IntArray, reporter: IntArray, weight: IntArray, groups: int, drop: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Per group: the total, the total without its ``drop`` largest reporters, and the number
    of distinct reporters."""
    pair_first, pair = group_rows(group, reporter)
    pair_sum = np.bincount(pair, weights=weight).astype(np.int64)
    pair_group = group[pair_first]
    order = np.lexsort((-pair_sum, pair_group))  # by group, largest reporter first
    sorted_group = pair_group[order]
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_group) != 0])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    top = rank < drop
    removed = np.bincount(sorted_group[top], weights=pair_sum[order][top], minlength=groups)
    total = np.bincount(group, weights=weight, minlength=groups).astype(np.int64)
    reporters = np.bincount(pair_group, minlength=groups)
    return total, total - removed.astype(np.int64), reporters


def release(
    atoms: Atoms,
    *,
    k: int,
    drop_top_keys: int = 1,
    top_level: int = 12,
    among: IntArray | None = None,
) -> Layer:
    """Release cells bottom-up: a group passes when ``k`` reports remain without its
    ``drop_top_keys`` largest reporters.

    ``among`` limits the release to some atoms (indices); the rest are ignored.

    Examples
    --------
    Three reports in one cell stay hidden; with two more nearby from other keys the parent
    cell releases all five (four remain without the largest reporter).

    >>> atoms = Atoms.of([0, 1, 1], [0, 0, 0], [0, 0, 0], [7, 8, 9], [1, 2, 2])
    >>> layer = release(atoms, k=3)
    >>> [(f.level, f.ix, f.iy, f.count) for f in layer.features], layer.suppressed
    ([(1, 0, 0, 5)], 0)
    """
    if k < 1 or drop_top_keys < 1:
        raise PublicationError("k and drop_top_keys must be at least 1")
    remaining = np.arange(len(atoms)) if among is None else np.asarray(among, dtype=np.int64)
    remaining = remaining[atoms.count[remaining] > 0]
    features: list[Feature] = []
    for level in range(top_level + 1):
        if len(remaining) == 0:
            break
        px, py = roll_up(atoms.ix[remaining], atoms.iy[remaining], levels=level)
        first, group = group_rows(px, py)
        cells = np.column_stack([px[first], py[first]])
        reporter = atoms.reporter[remaining]
        totals, kept, reporters = remove_top_keys(
            group, reporter, atoms.count[remaining], len(cells), drop_top_keys
        )
        needles, needles_kept, _ = remove_top_keys(
            group, reporter, atoms.needles[remaining], len(cells), drop_top_keys
        )
        passing = kept >= k
        order = np.argsort(group, kind="stable")
        members = np.split(remaining[order], np.cumsum(np.bincount(group))[:-1])
        for g in np.flatnonzero(passing):
            features.append(
                Feature(
                    level=level,
                    ix=int(cells[g, 0]),
                    iy=int(cells[g, 1]),
                    count=int(totals[g]),
                    reporters=int(reporters[g]),
                    members=members[g],
                    needles=int(needles[g]) if needles_kept[g] >= k else None,
                )
            )
        remaining = remaining[~passing[group]]
    return Layer(features, int(atoms.count[remaining].sum()), remaining)


def release_month(atoms: Atoms, month: int, *, k: int, drop_top_keys: int = 1) -> Layer:
    """A month's layer: only the cells that pass on their own (no roll-up; see the module)."""
    among = np.flatnonzero(atoms.period == month)
    return release(atoms, k=k, drop_top_keys=drop_top_keys, top_level=0, among=among)


def release_quarter(
    atoms: Atoms, months: list[int], *, k: int, drop_top_keys: int = 1, top_level: int = 12
) -> tuple[dict[int, Layer], Layer]:
    """Each month's layer (cells that pass alone), and the quarter's residual layer."""
    layers = {}
    leftover = []
    for month in months:
        layer = release_month(atoms, month, k=k, drop_top_keys=drop_top_keys)
        layers[month] = layer
        leftover.append(layer.unreleased)
    residual = release(
        atoms,
        k=k,
        drop_top_keys=drop_top_keys,
        top_level=top_level,
        among=np.concatenate(leftover) if leftover else np.zeros(0, np.int64),
    )
    return layers, residual


def quarter_view(month_layers: list[Layer], residual: Layer) -> list[Feature]:
    """The quarter as one map: released numbers summed per (level, cell) over its parts."""
    merged: dict[tuple[int, int, int], list[Feature]] = {}
    for layer in [*month_layers, residual]:
        for f in layer.features:
            merged.setdefault((f.level, f.ix, f.iy), []).append(f)
    return [
        Feature(
            level=level,
            ix=ix,
            iy=iy,
            count=sum(p.count for p in parts),
            reporters=max(p.reporters for p in parts),  # at least this many
            members=np.concatenate([p.members for p in parts]),
            needles=_sum_shown([p.needles for p in parts]),
        )
        for (level, ix, iy), parts in sorted(merged.items())
    ]


def _sum_shown(values: list[int | None]) -> int | None:
    # A sum is shown only when every part is: a shown part minus the sum gives a hidden one.
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def coarsen(features: list[Feature], *, levels: int, k: int) -> list[Feature]:
    """Released cells summed into cells ``levels`` steps coarser, kept where the sum reaches
    ``k``; cells already that coarse stay as they are. Every number is a sum of released
    numbers, so comparing it with them reveals nothing they do not.

    Examples
    --------
    >>> parts = [Feature(0, 2, 2, 6, 2, np.array([0])), Feature(0, 3, 2, 5, 2, np.array([1]))]
    >>> [(f.level, f.ix, f.iy, f.count) for f in coarsen(parts, levels=1, k=10)]
    [(1, 1, 1, 11)]
    """
    merged: dict[tuple[int, int, int], list[Feature]] = {}
    for f in features:
        up = max(0, levels - f.level)
        key = (f.level + up, f.ix >> up, f.iy >> up)
        merged.setdefault(key, []).append(f)
    out = []
    for (level, ix, iy), parts in sorted(merged.items()):
        count = sum(p.count for p in parts)
        if count >= k:
            out.append(
                Feature(
                    level=level,
                    ix=ix,
                    iy=iy,
                    count=count,
                    reporters=max(p.reporters for p in parts),
                    members=np.concatenate([p.members for p in parts]),
                    needles=_sum_shown([p.needles for p in parts]),
                )
            )
    return out


def find_differencing_leak(
    published: Sequence[Collection[int] | IntArray], counts: npt.ArrayLike, *, k: int
) -> frozenset[int] | None:
    """A set of atoms whose total (1 to k-1) follows from the published sums, or None.

    Anyone holding the published numbers knows ``c·x`` for every ``c`` in the row space of
    the feature-by-atom incidence matrix. Such a ``c`` is constant on atoms that lie in
    exactly the same features, so the search runs over those classes: find a 0/1 choice of
    classes, equal to some combination of features, holding between 1 and k-1 events. The
    mixed-integer program is infeasible exactly when no hidden count can be solved for.
    ``published`` holds each number's atoms (indices into ``counts``).

    Examples
    --------
    A quarter cell of 7 and a month cell of 5 in it give away the other months' 2:

    >>> find_differencing_leak([frozenset({0, 1, 2}), frozenset({0})], [5, 1, 1], k=5)
    frozenset({1, 2})
    >>> find_differencing_leak([frozenset({0, 1, 2}), frozenset({3})], [5, 1, 1, 6], k=5)
    """
    x = np.asarray(counts, dtype=np.int64)
    if not any(len(m) for m in published):  # nothing published: nothing to solve for
        return None
    atoms, klass, patterns = _atom_classes(published)
    totals = np.bincount(klass, weights=x[atoms]).astype(np.float64)
    n_classes, n_features = patterns.shape
    # Variables: y (one weight per feature, free), then u (one 0/1 per class). Sparse: a
    # city's year has ~10^4 numbers over ~10^5 atoms, far too many for a dense matrix.
    equality = sparse.hstack([patterns, -sparse.eye_array(n_classes)], format="csr")
    small = np.concatenate([np.zeros(n_features), totals])
    nonempty = np.concatenate([np.zeros(n_features), np.ones(n_classes)])
    result = milp(
        c=np.zeros(n_features + n_classes),
        constraints=[
            LinearConstraint(equality, 0.0, 0.0),
            LinearConstraint(small, 1.0, k - 1.0),
            LinearConstraint(nonempty, 1.0, np.inf),
        ],
        integrality=np.concatenate([np.zeros(n_features), np.ones(n_classes)]),
        bounds=Bounds(
            np.concatenate([np.full(n_features, -np.inf), np.zeros(n_classes)]),
            np.concatenate([np.full(n_features, np.inf), np.ones(n_classes)]),
        ),
    )
    if result.status == 2:  # infeasible: nothing hidden can be solved for
        return None
    if result.status != 0 or result.x is None:
        raise PublicationError(f"the differencing check could not decide ({result.message})")
    chosen = np.flatnonzero(np.round(result.x[n_features:]) == 1)
    return frozenset(atoms[np.isin(klass, chosen)].tolist())


def _atom_classes(
    published: Sequence[Collection[int] | IntArray],
) -> tuple[IntArray, IntArray, sparse.csr_array]:
    """The atoms in any published number (sorted), the class of each (atoms in exactly the
    same numbers), and each class's numbers as a 0/1 class-by-number matrix.

    Classes are numbered in the lexicographic order of their 0/1 rows (as ``np.unique`` of
    the dense atom-by-number matrix would number them) but built from (number, atom) pairs:
    an atom lies in few numbers, so each row is a short sorted list of number ids."""
    members = [np.fromiter(m, np.int64) if not isinstance(m, np.ndarray) else m for m in published]
    n_features = len(members)
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    pairs = np.sort(
        np.concatenate([np.asarray(m, dtype=np.int64) for m in members]) * n_features
        + np.repeat(np.arange(n_features, dtype=np.int64), sizes)
    )  # by atom, then number (a sort: faster here than np.unique's hash table)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]  # an atom listed twice counts once
    atom_of_pair, feature = np.divmod(pairs, n_features)
    first = np.flatnonzero(np.r_[True, atom_of_pair[1:] != atom_of_pair[:-1]])
    atoms = atom_of_pair[first]
    depth = np.diff(np.r_[first, len(pairs)])
    # Row r of ``ids``: atom r's numbers, ascending, padded with n_features. One 0/1 row
    # sorts before another where, at the first id they differ, it holds the larger id.
    ids = np.full((len(atoms), int(depth.max())), n_features, dtype=np.int64)
    row_of_pair = np.repeat(np.arange(len(atoms)), depth)
    ids[row_of_pair, np.arange(len(pairs)) - first[row_of_pair]] = feature
    order = np.lexsort((-ids).T[::-1])
    ranked = ids[order]
    new_class = np.r_[True, np.any(ranked[1:] != ranked[:-1], axis=1)]
    klass = np.empty(len(atoms), dtype=np.int64)
    klass[order] = np.cumsum(new_class) - 1
    head = order[new_class]  # one atom of each class, in class order
    rows = np.repeat(np.arange(len(head)), depth[head])
    at = (
        np.repeat(first[head], depth[head])
        + np.arange(len(rows))
        - np.repeat(np.cumsum(depth[head]) - depth[head], depth[head])
    )
    columns = feature[at]
    patterns = sparse.csr_array(
        (np.ones(len(rows)), (rows, columns)), shape=(len(head), n_features)
    )
    return atoms, klass, patterns
