"""Kulldorff's (2005) prospective space-time permutation scan on grid cells and days.

A cylinder is a circle of cells (all cells whose centres lie within some distance of a cell's
centre, up to ``max_cells`` cells and/or ``max_radius_m``) times a window of the last ``w``
days (1 <= w <= ``max_days``) ending at ``last_day``. With ``c[z, d]`` events in cell z on day
d and N events in all, the expected count of a cylinder A = Z × D comes from the margins,
``mu_A = n_Z · n_D / N`` (events in its cells on any day, times events on its days in any
cell, over N); its Poisson generalised log-likelihood ratio is

    LLR = c log(c / mu) + (N - c) log((N - c) / (N - mu))   when c > mu, else 0,

and the most likely cluster is the cylinder of largest LLR. Its p-value compares that LLR
with the largest LLR of each of ``permutations`` data sets in which the days are shuffled
among the events (each cell's total and each day's total kept, so every mu stays the same);
secondary clusters are the next best cylinders that share no cell with a better one, each
compared with the same maxima (SaTScan's conservative rule).

The recurrence interval is 1 / p analyses: when the scan runs once a day (the prospective use
it is made for), a cluster with p = 0.01 is as strong as chance alone gives once in 100 days.

Because mu depends only on the cylinder, a shuffle changes only the counts, and a count
changes only where the shuffled days put events in the last ``max_days``: each shuffle visits
the circles that hold such an event, not every cylinder. Among circles around one centre
with the same count, the smallest has the smallest mu and so the largest LLR (for c > mu,
LLR falls as mu grows), so the maximum is found by visiting circles only where a recent event
joins them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from analysis.grid import FloatArray, IntArray

SHUFFLES_AT_ONCE = 64  # shuffles scanned together: fewer numpy calls, bounded memory
MAX_CIRCLE_TABLE = 5_000_000  # cells × cells per circle: about 40 MB per table of them


class ScanError(ValueError):
    """The events cannot be scanned as asked (bad limits, days after the end, no events)."""


@dataclass(frozen=True)
class Cluster:
    """A cylinder: the cells of one circle (indices into ``SpaceTimeScan.cell_ix``) × days."""

    centre: int
    cells: IntArray
    radius_m: float
    days: int  # the window is the last ``days`` days up to and including the scan's last day
    observed: int
    expected: float
    llr: float
    p: float
    recurrence_interval: float  # 1 / p, in analyses (days when the scan runs daily)


@dataclass(frozen=True)
class SpaceTimeScan:
    cell_ix: IntArray  # the cells holding events, in the order clusters refer to them
    cell_iy: IntArray
    clusters: list[Cluster]  # the most likely first, then secondary ones, by LLR
    null_max_llr: FloatArray  # the largest LLR of each shuffle
    events: int
    last_day: int


@dataclass(frozen=True)
class _Circles:
    """Every circle, as prefixes of each centre's cells ordered by distance.

    ``members`` lists (centre, cell, end) for each cell of a centre's largest circle, where
    ``end`` is the position in the centre's order that closes the smallest circle holding the
    cell (cells at equal distance join together). Sorted by cell, so ``first[k]`` opens cell
    k's rows.
    """

    order: IntArray  # centres × positions, -1 past the largest circle
    squared_cells: IntArray  # squared distance in cell widths, for each order position
    member_centre: IntArray
    member_end: IntArray
    first: IntArray
    area_total: FloatArray  # centres × positions: events in the circle closing there


def _circles(
    ix: IntArray,
    iy: IntArray,
    cell_total: FloatArray,
    *,
    cell_m: int,
    max_cells: int | None,
    max_radius_m: float | None,
) -> _Circles:
    n = len(ix)
    reach = np.inf if max_radius_m is None else max_radius_m / cell_m
    cap = n if max_cells is None else min(max_cells, n)
    if np.isfinite(reach):  # no disk of this radius holds more cells than its square
        cap = min(cap, (2 * int(reach) + 1) ** 2)
    if n * cap > MAX_CIRCLE_TABLE:
        raise ScanError("the circles are too large for this many cells: lower the limits")
    look = min(cap + 1, n)  # one more, to see whether the last cell ties with the next
    tree = cKDTree(np.column_stack([ix, iy]).astype(np.float64))
    _, found = tree.query(tree.data, k=look, distance_upper_bound=reach * (1 + 1e-9))
    found = np.asarray(found, dtype=np.int64).reshape(n, look)
    inside = found < n
    order = np.where(inside, found, 0)
    squared = (ix[order] - ix[:, None]) ** 2 + (iy[order] - iy[:, None]) ** 2
    squared = np.where(inside, squared, np.iinfo(np.int64).max)
    # The KD tree's order breaks distance ties arbitrarily; order by exact squared distance.
    resort = np.lexsort((order, squared), axis=1)
    order = np.take_along_axis(order, resort, axis=1)
    squared = np.take_along_axis(squared, resort, axis=1)
    inside = np.take_along_axis(inside, resort, axis=1)
    positions = np.arange(look)
    closes = inside & (positions < cap)
    closes[:, :-1] &= squared[:, 1:] > squared[:, :-1]
    if look == n:  # every cell was found: the last one closes the largest circle
        closes[:, -1] = inside[:, -1] & (n <= cap)
    # The end of each position's tie group: the first closing position at or after it.
    ends = np.where(closes, positions, look)
    ends = np.minimum.accumulate(ends[:, ::-1], axis=1)[:, ::-1]
    usable = inside & (ends < look)
    order = np.where(usable, order, -1)[:, :cap]
    squared, ends, usable = squared[:, :cap], ends[:, :cap], usable[:, :cap]
    centre, position = np.nonzero(usable)
    cell = order[centre, position]
    by_cell = np.argsort(cell, kind="stable")
    first = np.searchsorted(cell[by_cell], np.arange(n + 1))
    area_total = np.cumsum(np.where(usable, cell_total[np.maximum(order, 0)], 0.0), axis=1)
    return _Circles(
        order=order,
        squared_cells=squared,
        member_centre=centre[by_cell],
        member_end=ends[centre, position][by_cell],
        first=first,
        area_total=area_total,
    )


def _cylinders(
    circles: _Circles,
    cell: IntArray,
    age: IntArray,
    day_total: FloatArray,
    batch: IntArray,
    events: int,
) -> tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    """Each circle holding a recent event: its batch, centre, end, count and mu per window.

    ``cell``, ``age`` and ``batch`` describe the events in the last ``max_days`` (age 0 is the
    last day) of several data sets at once (shuffles), told apart by ``batch``;
    ``day_total[w]`` is the events in the last ``w + 1`` days (the same in every shuffle).
    """
    max_days = len(day_total)
    cells, width = circles.order.shape
    recent, row = np.unique(batch * cells + cell, return_inverse=True)
    in_window = np.bincount(row * max_days + age, minlength=len(recent) * max_days)
    in_window = np.cumsum(in_window.reshape(len(recent), max_days), axis=1)
    starts, stops = circles.first[recent % cells], circles.first[recent % cells + 1]
    lengths = stops - starts
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    member = np.repeat(starts - offsets, lengths) + np.arange(total)
    source = np.repeat(np.arange(len(recent)), lengths)
    # One key per (batch, circle); visiting a centre's circles from small to large, a running
    # sum of the recent cells met so far is each circle's count.
    centre = np.repeat(recent // cells, lengths) * cells + circles.member_centre[member]
    key = centre * width + circles.member_end[member]
    visit = np.argsort(key, kind="stable")
    key, source = key[visit], source[visit]
    running = np.cumsum(in_window[source], axis=0)
    centre = key // width
    opens = np.r_[True, centre[1:] != centre[:-1]]
    first_row = np.maximum.accumulate(np.where(opens, np.arange(total), 0))
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])  # a circle's full count
    before = first_row[last] - 1
    count = (running[last] - np.where(before[:, None] >= 0, running[before], 0)).astype(float)
    centre, end = centre[last], key[last] % width
    batch_of, centre = centre // cells, centre % cells
    expected = circles.area_total[centre, end][:, None] * day_total[None, :] / events
    return batch_of, centre, end, count, expected


def log_likelihood_ratio(count: npt.ArrayLike, expected: npt.ArrayLike, events: int) -> FloatArray:
    """Kulldorff's Poisson LLR of cylinders, 0 where the count is not above its expectation.

    4 events where 1 was expected, out of 10: 4·log 4 + 6·log(6/9).

    >>> float(log_likelihood_ratio(4, 1.0, 10).round(6))
    3.112387
    """
    c, mu = np.broadcast_arrays(np.asarray(count, np.float64), np.asarray(expected, np.float64))
    excess = c > mu
    llr = np.zeros(c.shape)
    c, mu = c[excess], mu[excess]
    rest = events - c  # 0 when every event is inside, and then so is its term
    llr[excess] = c * np.log(c / mu) + rest * np.log(np.where(rest > 0, rest, 1.0) / (events - mu))
    return llr


def _null_maxima(
    circles: _Circles, cell: IntArray, shuffled: IntArray, last_day: int, day_total: FloatArray
) -> FloatArray:
    """The largest LLR of each row of ``shuffled`` (one day per event), in one pass."""
    batch, event = np.nonzero(shuffled > last_day - len(day_total))
    largest = np.zeros(len(shuffled))
    if len(event) == 0:
        return largest
    age = last_day - shuffled[batch, event]
    batch_of, _, _, count, expected = _cylinders(
        circles, cell[event], age, day_total, batch, len(cell)
    )
    # Counts are whole numbers and, for a given count above mu, the LLR falls as mu grows:
    # each shuffle's largest LLR is that of some count with the smallest mu seen with it.
    counts = int(count.max()) + 1
    key = batch_of[:, None] * counts + count.astype(np.int64)
    flat = np.full(len(shuffled) * counts, np.inf)
    np.minimum.at(flat, key.ravel(), expected.ravel())
    smallest = flat.reshape(len(shuffled), counts)
    seen = np.isfinite(smallest)
    llr = log_likelihood_ratio(
        np.broadcast_to(np.arange(counts), smallest.shape)[seen], smallest[seen], len(cell)
    )
    np.maximum.at(largest, np.nonzero(seen)[0], llr)
    return largest


@dataclass(frozen=True)
class ScanLimits:
    """The largest cylinder: days in its window, and cells and/or metres in its circle.

    Seven days suits a bad batch that shows within a week; a circle of 500 m is a few blocks.
    """

    max_days: int = 7
    max_cells: int | None = None
    max_radius_m: float | None = 500.0


def space_time_scan(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    day: npt.ArrayLike,
    *,
    cell_m: int,
    limits: ScanLimits = ScanLimits(),
    last_day: int | None = None,
    permutations: int = 999,
    seed: int | None = None,
) -> SpaceTimeScan:
    """Prospective space-time permutation scan of events (one row each: cell and day number).

    ``last_day`` (default: the latest event's day) ends every window; the study period is
    every day from the first event's. At least one of ``limits.max_cells`` and
    ``limits.max_radius_m`` bounds the circles. Clusters are listed with LLR > 0, best
    first, none sharing a cell.

    Examples
    --------
    Eight events in one cell on the last day, against a quiet background, are the cluster.

    >>> ix = np.r_[np.zeros(8), np.arange(20) % 5]
    >>> iy = np.r_[np.zeros(8), np.arange(20) // 5 + 2]
    >>> day = np.r_[np.full(8, 29), np.arange(20)]
    >>> limits = ScanLimits(max_cells=3, max_radius_m=None)
    >>> found = space_time_scan(ix, iy, day, cell_m=100, limits=limits, permutations=99, seed=1)
    >>> best = found.clusters[0]
    >>> best.cells.tolist(), best.days, best.observed, best.p
    ([0], 1, 8, 0.01)
    """
    cells, cell, days, last = _check(ix, iy, day, last_day, limits)
    max_days = limits.max_days
    if permutations < 0:
        raise ScanError("permutations must be zero or more")
    events = len(cell)
    cell_total = np.bincount(cell, minlength=len(cells)).astype(np.float64)
    circles = _circles(
        cells[:, 0],
        cells[:, 1],
        cell_total,
        cell_m=cell_m,
        max_cells=limits.max_cells,
        max_radius_m=limits.max_radius_m,
    )
    age = last - days
    day_total = np.cumsum(np.bincount(age[age < max_days], minlength=max_days)).astype(float)
    rng = np.random.default_rng(seed)
    null = np.zeros(0)
    for done in range(0, permutations, SHUFFLES_AT_ONCE):
        size = min(SHUFFLES_AT_ONCE, permutations - done)
        shuffled = np.stack([rng.permutation(days) for _ in range(size)])
        null = np.r_[null, _null_maxima(circles, cell, shuffled, last, day_total)]
    clusters = _clusters(circles, cell, age, day_total, null, cell_m=cell_m)
    return SpaceTimeScan(cells[:, 0], cells[:, 1], clusters, null, events, last)


def _check(
    ix: npt.ArrayLike,
    iy: npt.ArrayLike,
    day: npt.ArrayLike,
    last_day: int | None,
    limits: ScanLimits,
) -> tuple[IntArray, IntArray, IntArray, int]:
    try:
        arrays = [np.asarray(a, dtype=np.float64) for a in (ix, iy, day)]
    except (TypeError, ValueError):
        raise ScanError("cells and days must be numbers") from None
    if any(a.ndim != 1 for a in arrays) or len({len(a) for a in arrays}) != 1:
        raise ScanError("ix, iy and day must be one-dimensional and of the same length")
    if len(arrays[0]) < 2:
        raise ScanError("the scan needs at least two events")
    if any(not np.all(np.isfinite(a)) for a in arrays):
        raise ScanError("cells and days must be finite")
    if any(not np.array_equal(a, np.round(a)) for a in arrays):
        raise ScanError("cells and days must be whole numbers")
    ix_, iy_, days = (a.astype(np.int64) for a in arrays)
    last = int(days.max()) if last_day is None else int(last_day)
    if days.max() > last:
        raise ScanError("an event falls after the scan's last day")
    max_cells, max_radius_m = limits.max_cells, limits.max_radius_m
    if limits.max_days < 1:
        raise ScanError("the longest window must be at least one day")
    if max_cells is None and max_radius_m is None:
        raise ScanError("bound the circles by a number of cells or a radius")
    if max_cells is not None and max_cells < 1:
        raise ScanError("a circle must be allowed at least one cell")
    if max_radius_m is not None and not (np.isfinite(max_radius_m) and max_radius_m >= 0):
        raise ScanError("the largest radius must be zero or more metres")
    cells, cell = np.unique(np.column_stack([ix_, iy_]), axis=0, return_inverse=True)
    return cells, cell.ravel(), days, last


def _clusters(
    circles: _Circles,
    cell: IntArray,
    age: IntArray,
    day_total: FloatArray,
    null: FloatArray,
    *,
    cell_m: int,
) -> list[Cluster]:
    recent = age < len(day_total)
    if not recent.any():
        return []
    events = len(cell)
    _, centre, end, count, expected = _cylinders(
        circles, cell[recent], age[recent], day_total, np.zeros(recent.sum(), np.int64), events
    )
    llr = log_likelihood_ratio(count, expected, events)
    row, window = np.nonzero(llr > 0)
    ranked = np.argsort(-llr[row, window], kind="stable")
    taken = np.zeros(len(circles.order), dtype=bool)
    found: list[Cluster] = []
    for k in ranked:
        i, w = int(row[k]), int(window[k])
        members = circles.order[centre[i], : end[i] + 1]
        if taken[members].any():
            continue
        taken[members] = True
        value = float(llr[i, w])
        p = (1.0 + float(np.sum(null >= value))) / (len(null) + 1.0)
        found.append(
            Cluster(
                centre=int(centre[i]),
                cells=np.sort(members),
                radius_m=float(np.sqrt(circles.squared_cells[centre[i], end[i]]) * cell_m),
                days=w + 1,
                observed=int(count[i, w]),
                expected=float(expected[i, w]),
                llr=value,
                p=p,
                recurrence_interval=1.0 / p,
            )
        )
    return found
