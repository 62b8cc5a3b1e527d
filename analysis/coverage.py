"""Coverage: which events lie within walking reach of a site that offers a service *and is
open* when the event happens.

Time is the hour of the week (0 = Monday 00:00-01:00 local time, 167 = Sunday 23:00). An
event's count is spread evenly over the hours its time bucket spans (an overdose stored in a
6-hour bucket is a sixth in each hour), and a site's opening hours are the share of each hour
it is open (a site closing at 16:30 is open 0.5 of the 16:00 hour). A cell-hour is covered
by the best-open site that reaches the cell; "anytime" coverage ignores hours.

Walking reach is on the walking network when one is loaded (shortest paths, with a straight
step from each point to its nearest node) and straight line times a detour factor otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from analysis.network import DETOUR_FACTOR, WALKING_KMH, WalkingNetwork

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOURS_OF_WEEK = 7 * 24
MAX_SNAP_M = 300.0  # a point further than this from any walkable way is reached by nothing
SOURCES_PER_PASS = 64  # Dijkstra rows held at once: bounds memory on a city network


class CoverageError(ValueError):
    """Coverage cannot be computed as asked."""


def walk_limit_m(minutes: float, walking_kmh: float = WALKING_KMH) -> float:
    if not (math.isfinite(minutes) and 0 < minutes <= 120):
        raise CoverageError("minutes must be more than 0 and at most 120")
    if not (math.isfinite(walking_kmh) and 1 <= walking_kmh <= 10):
        raise CoverageError("walking_kmh must be between 1 and 10 km/h")
    return minutes * walking_kmh * 1000 / 60


@dataclass(frozen=True)
class Reach:
    """Walking metres from sources to targets, kept only where within the limit."""

    metres: csr_matrix  # (sources, targets); a stored entry means "within reach"
    mode: str  # "network" or "straight"

    @property
    def reaches(self) -> csr_matrix:
        """Boolean reach (stored entries, including zero distances)."""
        out = self.metres.copy()
        out.data = np.ones_like(out.data, dtype=bool)
        return out


def _sparse(
    rows: IntArray, cols: IntArray, metres: FloatArray, shape: tuple[int, int]
) -> csr_matrix:
    # Zero distances (a site on a cell centre) must stay stored entries: they mean "reached".
    m = coo_matrix((metres + 0.0, (rows, cols)), shape=shape).tocsr()
    m.sum_duplicates()
    return m


def straight_reach(
    sx: FloatArray,
    sy: FloatArray,
    tx: FloatArray,
    ty: FloatArray,
    limit_m: float,
    *,
    detour_factor: float = DETOUR_FACTOR,
) -> Reach:
    """Straight-line distance times a detour factor, for programs with no network loaded."""
    if not (math.isfinite(detour_factor) and 1.0 <= detour_factor <= 3.0):
        raise CoverageError("detour_factor must be between 1 and 3")
    shape = (len(sx), len(tx))
    if not len(sx) or not len(tx):
        return Reach(csr_matrix(shape), "straight")
    pairs = cKDTree(np.column_stack([sx, sy])).sparse_distance_matrix(
        cKDTree(np.column_stack([tx, ty])), limit_m / detour_factor, output_type="ndarray"
    )
    rows = pairs["i"].astype(np.int64)
    cols = pairs["j"].astype(np.int64)
    return Reach(_sparse(rows, cols, pairs["v"] * detour_factor, shape), "straight")


def network_reach(
    network: WalkingNetwork,
    sx: FloatArray,
    sy: FloatArray,
    tx: FloatArray,
    ty: FloatArray,
    limit_m: float,
    *,
    max_snap_m: float = MAX_SNAP_M,
) -> Reach:
    """Shortest walks on the network from each source to each target within ``limit_m``.
    Dijkstra stops at the limit and runs a bounded number of sources at a time, so a city
    network with a thousand candidate sites stays within memory."""
    shape = (len(sx), len(tx))
    if not len(sx) or not len(tx):
        return Reach(csr_matrix(shape), "network")
    s_node, s_snap = network.nearest(sx, sy)
    t_node, t_snap = network.nearest(tx, ty)
    usable_t = np.flatnonzero(t_snap <= max_snap_m)
    rows, cols, metres = [], [], []
    usable_s = np.flatnonzero(s_snap <= max_snap_m)
    for begin in range(0, len(usable_s), SOURCES_PER_PASS):
        chunk = usable_s[begin : begin + SOURCES_PER_PASS]
        nodes, row_of = np.unique(s_node[chunk], return_inverse=True)
        limit = max(0.0, limit_m - float(s_snap[chunk].min()))
        dist = np.atleast_2d(dijkstra(network.graph, directed=False, indices=nodes, limit=limit))
        walk = dist[row_of][:, t_node[usable_t]] + s_snap[chunk][:, None] + t_snap[usable_t]
        r, c = np.nonzero(walk <= limit_m)
        rows.append(chunk[r])
        cols.append(usable_t[c])
        metres.append(walk[r, c])
    if not rows:
        return Reach(csr_matrix(shape), "network")
    return Reach(
        _sparse(np.concatenate(rows), np.concatenate(cols), np.concatenate(metres), shape),
        "network",
    )


def spread_over_week(
    cell: IntArray, hour_of_week: IntArray, bucket_hours: IntArray, count: FloatArray, cells: int
) -> FloatArray:
    """Events per cell and hour of week (cells, 168); a bucket's count is shared evenly by
    the hours it spans, wrapping from Sunday night to Monday."""
    out = np.zeros((cells, HOURS_OF_WEEK))
    for span in np.unique(bucket_hours).tolist():
        pick = bucket_hours == span
        share = count[pick] / span
        for k in range(int(span)):
            np.add.at(out, (cell[pick], (hour_of_week[pick] + k) % HOURS_OF_WEEK), share)
    return out


@dataclass(frozen=True)
class Coverage:
    """Events covered per cell and hour, with hours and ignoring them."""

    demand: FloatArray  # (cells, 168) events
    share_open: FloatArray  # (cells, 168) share of each cell-hour covered by an open site
    reached: npt.NDArray[np.bool_]  # (cells,) within reach of any site, open or not

    @property
    def total(self) -> float:
        return float(self.demand.sum())

    @property
    def covered(self) -> float:
        return float((self.demand * self.share_open).sum())

    @property
    def covered_anytime(self) -> float:
        return float(self.demand[self.reached].sum())

    def by_hour(self) -> tuple[FloatArray, FloatArray]:
        """(events, events covered) per hour of week."""
        covered: FloatArray = (self.demand * self.share_open).sum(axis=0)
        return self.demand.sum(axis=0), covered

    def uncovered(self) -> FloatArray:
        """Events per cell not covered by an open site."""
        left: FloatArray = (self.demand * (1.0 - self.share_open)).sum(axis=1)
        return left

    def uncovered_anytime(self) -> FloatArray:
        return np.where(self.reached, 0.0, self.demand.sum(axis=1))


def coverage(reach: csr_matrix, open_share: FloatArray, demand: FloatArray) -> Coverage:
    """Coverage of ``demand`` (cells, 168) by sites that reach cells (``reach``: sites x
    cells) and are open the given share of each hour (``open_share``: sites x 168)."""
    sites, cells = reach.shape
    if open_share.shape != (sites, HOURS_OF_WEEK) or demand.shape != (cells, HOURS_OF_WEEK):
        raise CoverageError("reach, opening hours and demand do not line up")
    if np.any((open_share < 0) | (open_share > 1)) or np.any(demand < 0):
        raise CoverageError("opening shares must lie in [0, 1] and demand must not be negative")
    share = np.zeros((cells, HOURS_OF_WEEK))
    reach = reach.tocsr()
    for s in range(sites):
        hit = reach.indices[reach.indptr[s] : reach.indptr[s + 1]]
        if len(hit):
            share[hit] = np.maximum(share[hit], open_share[s])
    reached = np.zeros(cells, dtype=bool)
    reached[reach.indices] = True
    return Coverage(demand, share, reached)


def gain_weights(current: Coverage, new_open: FloatArray) -> FloatArray:
    """Events per cell a new site open ``new_open`` (168,) of each hour would add, if it
    reached the cell: what is not already covered at the hours it is open."""
    adds: FloatArray = (
        current.demand * np.clip(new_open[None, :] - current.share_open, 0, None)
    ).sum(axis=1)
    return adds


__all__ = [
    "DETOUR_FACTOR",
    "HOURS_OF_WEEK",
    "Coverage",
    "CoverageError",
    "Reach",
    "coverage",
    "gain_weights",
    "network_reach",
    "spread_over_week",
    "straight_reach",
    "walk_limit_m",
]
