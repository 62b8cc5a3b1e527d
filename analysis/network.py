"""A walking network in projected metres: nearest nodes, shortest distances and paths.

Graphs come from an OpenStreetMap extract (read in ``geo_service``); here they are plain
arrays so the shortest paths run in scipy's compiled Dijkstra. networkx, which a user would
otherwise reach for, is the oracle in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Walking, for every analysis that turns minutes into metres or straight lines into walks.
WALKING_KMH = 4.5
DETOUR_FACTOR = 1.3  # typical ratio of street to straight-line distance in small towns


class NetworkError(ValueError):
    """The network cannot be built or used as asked."""


@dataclass(frozen=True)
class WalkingNetwork:
    """Undirected walkable edges between nodes; ``x``/``y`` in the deployment's metres."""

    x: FloatArray
    y: FloatArray
    u: IntArray  # edge ends, as node positions
    v: IntArray
    length_m: FloatArray

    def __post_init__(self) -> None:
        n = len(self.x)
        if len(self.y) != n or not (len(self.u) == len(self.v) == len(self.length_m)):
            raise NetworkError("node and edge columns must have matching lengths")
        if len(self.u) and (
            min(self.u.min(), self.v.min()) < 0 or max(self.u.max(), self.v.max()) >= n
        ):
            raise NetworkError("an edge refers to a node that does not exist")
        if not np.all(np.isfinite(self.length_m)) or np.any(self.length_m < 0):
            raise NetworkError("edge lengths must be finite and not negative")

    @property
    def nodes(self) -> int:
        return len(self.x)

    @property
    def edges(self) -> int:
        return len(self.u)

    @cached_property
    def graph(self) -> csr_matrix:
        """Symmetric adjacency; parallel edges keep the shortest length."""
        # A tiny floor keeps zero-length edges (duplicate nodes) as edges rather than gaps.
        w = np.maximum(self.length_m, 1e-6)
        a, b = np.minimum(self.u, self.v), np.maximum(self.u, self.v)
        order = np.lexsort((w, b, a))
        a, b, w = a[order], b[order], w[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        a, b, w = a[first], b[first], w[first]
        n = self.nodes
        return coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))),
            shape=(n, n),
        ).tocsr()

    @cached_property
    def _tree(self) -> cKDTree:
        return cKDTree(np.column_stack([self.x, self.y]))

    def nearest(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, FloatArray]:
        """The nearest node to each point and the straight distance to it."""
        if self.nodes == 0:
            raise NetworkError("the walking network has no nodes")
        distance, node = self._tree.query(np.column_stack([x, y]))
        return np.asarray(node, dtype=np.int64), np.asarray(distance, dtype=np.float64)

    def shortest(self, sources: IntArray) -> tuple[FloatArray, IntArray]:
        """Distances (inf where unreachable) and predecessors from each source to every node."""
        dist, pred = dijkstra(self.graph, directed=False, indices=sources, return_predecessors=True)
        return np.atleast_2d(dist), np.atleast_2d(pred).astype(np.int64)

    def largest_component(self) -> WalkingNetwork:
        """The network reduced to its largest connected part (stray fragments of an extract
        cannot be walked to, so they would only make stops look reachable that are not)."""
        if self.nodes == 0:
            return self
        _, labels = connected_components(self.graph, directed=False)
        biggest = np.argmax(np.bincount(labels))
        keep = labels == biggest
        new_index = np.cumsum(keep) - 1
        edge_keep = keep[self.u] & keep[self.v]
        return WalkingNetwork(
            self.x[keep],
            self.y[keep],
            new_index[self.u[edge_keep]].astype(np.int64),
            new_index[self.v[edge_keep]].astype(np.int64),
            self.length_m[edge_keep],
        )


def path_nodes(predecessors: IntArray, source_row: int, target: int, source: int) -> list[int]:
    """The node sequence from ``source`` to ``target`` read off one predecessor row."""
    path = [target]
    while path[-1] != source:
        step = int(predecessors[source_row, path[-1]])
        if step < 0:
            raise NetworkError("no path between these nodes")
        path.append(step)
    return path[::-1]
