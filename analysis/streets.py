"""A walking network as streets to draw: edges merged into polylines, then simplified.

The network is stored as node-to-node segments (what routing needs); a map needs lines.
Segments are chained through nodes where exactly two meet, so one street between two
crossings becomes one polyline, and each polyline is simplified by Douglas-Peucker (GEOS,
vectorised through shapely). Every point kept is one of the network's own nodes: the
drawing can only show the imported geometry, never a point that is not in it.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import shapely

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def street_chains(u: IntArray, v: IntArray, nodes: int) -> list[IntArray]:
    """The undirected edges ``u``-``v`` as chains of node positions: each chain runs between
    nodes where other than two edges meet (crossings, dead ends), or round a closed loop.
    Every distinct edge is in exactly one chain; self-loops and repeated edges are dropped."""
    a, b = np.minimum(u, v), np.maximum(u, v)
    proper = a != b
    pairs = np.unique(np.column_stack([a[proper], b[proper]]).reshape(-1, 2), axis=0)
    m = len(pairs)
    ends = np.concatenate([pairs[:, 0], pairs[:, 1]])
    order = np.argsort(ends, kind="stable")
    indptr = np.searchsorted(ends[order], np.arange(nodes + 1)).tolist()
    neighbour = np.concatenate([pairs[:, 1], pairs[:, 0]])[order].tolist()
    edge = np.concatenate([np.arange(m), np.arange(m)])[order].tolist()
    degree = np.diff(indptr)
    used = [False] * m

    def walk(start: int, k: int) -> IntArray:
        chain = [start]
        while True:
            used[edge[k]] = True
            node = neighbour[k]
            chain.append(node)
            if degree[node] != 2 or node == start:
                return np.array(chain, dtype=np.int64)
            first = indptr[node]
            k = first if edge[first] != edge[k] else first + 1
            if used[edge[k]]:
                return np.array(chain, dtype=np.int64)

    chains = []
    for start in np.flatnonzero(degree != 2).tolist():
        for k in range(indptr[start], indptr[start + 1]):
            if not used[edge[k]]:
                chains.append(walk(start, k))
    for e in range(m):  # what is left are loops of nodes that each join two edges
        if not used[e]:
            start = int(pairs[e, 0])
            k = next(k for k in range(indptr[start], indptr[start + 1]) if edge[k] == e)
            chains.append(walk(start, k))
    return chains


def street_lines(
    x: FloatArray, y: FloatArray, u: IntArray, v: IntArray, tolerance_m: float
) -> list[IntArray]:
    """The network's streets as chains of node positions, each simplified by Douglas-Peucker
    (GEOS, through shapely) so that no dropped node lies more than ``tolerance_m`` from its
    line. Ends are kept, and every point kept is one of the network's nodes (``x``, ``y`` in
    metres)."""
    chains = street_chains(u, v, len(x))
    if not chains:
        return []
    flat = np.concatenate(chains)
    part = np.repeat(np.arange(len(chains)), [len(c) for c in chains])
    lines = shapely.linestrings(x[flat], y[flat], indices=part)
    simple = shapely.simplify(lines, tolerance_m, preserve_topology=False)
    kept, line_of = shapely.get_coordinates(simple, return_index=True)
    # Douglas-Peucker keeps input points unchanged: find each one's node by its exact place.
    place = x + 1j * y
    order = np.argsort(place)
    at = np.minimum(np.searchsorted(place[order], kept[:, 0] + 1j * kept[:, 1]), len(x) - 1)
    node = order[at]
    if not (np.array_equal(x[node], kept[:, 0]) and np.array_equal(y[node], kept[:, 1])):
        raise ValueError("simplification moved a point off the network")  # GEOS changed
    bounds = np.searchsorted(line_of, np.arange(len(chains) + 1))
    return [node[a:b] for a, b in itertools.pairwise(bounds.tolist()) if b - a >= 2]
