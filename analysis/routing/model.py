"""The route problem's parts: settings, walk matrices, plans, and the checks every method
shares."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analysis.network import DETOUR_FACTOR, WALKING_KMH, WalkingNetwork, path_nodes

FloatArray = npt.NDArray[np.float64]
MINUTES_PER_STOP = 10.0
MAX_SNAP_M = 300.0  # a cell further than this from any walkable way is not reachable
MAX_BUDGET_MIN = 8 * 60  # one long shift; longer asks are almost surely a unit mistake
MAX_TEAMS = 20
EXACT_LIMIT = 14  # the subset search doubles its work with every stop


# Points in a walk matrix: the start, the end, then the candidate stops.
START, END = 0, 1
UNREACHABLE = "no walking path joins this cell to the start and the end"
TOO_FAR = "too far: walking there, stopping and walking on to the end takes longer than the budget"
NO_VALUE = "nothing expected here yet (cleaned recently or no recent reports)"
LEFT_OUT = "left out: the time is better spent on stops expected to hold more"


class RoutingError(ValueError):
    """The route cannot be planned as asked (bad settings)."""


@dataclass(frozen=True)
class RouteSettings:
    budget_min: float
    walking_kmh: float = WALKING_KMH
    minutes_per_stop: float = MINUTES_PER_STOP
    teams: int = 1
    search_seconds: float = 1.0

    def __post_init__(self) -> None:
        checks = (
            (math.isfinite(self.budget_min) and 0 < self.budget_min <= MAX_BUDGET_MIN,
             f"budget_min must be more than 0 and at most {MAX_BUDGET_MIN} minutes"),
            (math.isfinite(self.walking_kmh) and 1.0 <= self.walking_kmh <= 10.0,
             "walking_kmh must be between 1 and 10 km/h"),
            (math.isfinite(self.minutes_per_stop) and 0 <= self.minutes_per_stop <= 120,
             "minutes_per_stop must be between 0 and 120"),
            (1 <= self.teams <= MAX_TEAMS, f"teams must be between 1 and {MAX_TEAMS}"),
            (math.isfinite(self.search_seconds) and 0.01 <= self.search_seconds <= 30,
             "search_seconds must be between 0.01 and 30"),
        )  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise RoutingError(message)

    @property
    def budget_s(self) -> int:
        return math.floor(self.budget_min * 60)

    @property
    def stop_s(self) -> int:
        return round(self.minutes_per_stop * 60)

    def seconds(self, metres: FloatArray) -> npt.NDArray[np.int64]:
        """Walking seconds, rounded up; unreachable pairs become more than any budget."""
        speed = self.walking_kmh / 3.6
        out = np.full(metres.shape, self.budget_s + 1, dtype=np.int64)
        finite = np.isfinite(metres)
        out[finite] = np.ceil(metres[finite] / speed - 1e-9).astype(np.int64)
        return out


@dataclass(frozen=True)
class TeamRoute:
    stops: tuple[int, ...]  # candidate positions, in walking order
    arrival_min: tuple[float, ...]  # minutes after the start at which each stop is reached
    distance_m: float
    duration_min: float  # walking and stops, start to end
    value: float


@dataclass(frozen=True)
class Plan:
    routes: tuple[TeamRoute, ...]
    skipped: dict[int, str]  # candidate position -> why it is not on any route
    value: float
    solver: str
    solve_seconds: float

    @property
    def visited(self) -> list[int]:
        return [s for r in self.routes for s in r.stops]


@dataclass(frozen=True)
class Walks:
    """Walking distances between the start, the end and the stops, and the lines walked."""

    metres: FloatArray  # (2 + stops) square; inf where no walk exists
    mode: str  # "network" or "straight"
    detour_factor: float = 1.0
    reasons: dict[int, str] = field(default_factory=dict)  # point -> why it cannot be reached
    _network: WalkingNetwork | None = None
    _nodes: npt.NDArray[np.int64] | None = None
    _sources: npt.NDArray[np.int64] | None = None
    _pred: npt.NDArray[np.int64] | None = None
    _points: FloatArray | None = None

    def line(self, a: int, b: int) -> list[tuple[float, float]]:
        """The walked line from point ``a`` to point ``b``, in metres."""
        assert self._points is not None
        pa, pb = tuple(self._points[a]), tuple(self._points[b])
        if self.mode == "straight" or a == b:
            return [pa, pb] if a != b else [pa]
        assert self._network is not None and self._nodes is not None
        assert self._sources is not None and self._pred is not None
        row = int(np.searchsorted(self._sources, self._nodes[a]))
        nodes = path_nodes(self._pred, row, int(self._nodes[b]), int(self._nodes[a]))
        net = self._network
        inner = [(float(net.x[n]), float(net.y[n])) for n in nodes]
        return [pa, *inner, pb]


def straight_walks(x: FloatArray, y: FloatArray, *, detour_factor: float = DETOUR_FACTOR) -> Walks:
    """Straight-line distance times a detour factor, for programs with no network loaded."""
    if not (math.isfinite(detour_factor) and 1.0 <= detour_factor <= 3.0):
        raise RoutingError("detour_factor must be between 1 and 3")
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) * detour_factor
    return Walks(
        d,
        "straight",
        detour_factor,
        _points=np.column_stack([x, y]),
    )


def network_walks(
    network: WalkingNetwork, x: FloatArray, y: FloatArray, *, max_snap_m: float = MAX_SNAP_M
) -> Walks:
    """Shortest walks on the network between points, each joined to its nearest node by a
    straight step (a cell centre is rarely on a path). Points further than ``max_snap_m``
    from the network cannot be reached."""
    nodes, snap = network.nearest(x, y)
    sources = np.unique(nodes)
    dist, pred = network.shortest(sources)
    row = np.searchsorted(sources, nodes)
    d = dist[row][:, nodes] + snap[:, None] + snap[None, :]
    np.fill_diagonal(d, 0.0)
    reasons: dict[int, str] = {}
    far = np.flatnonzero(snap > max_snap_m)
    for p in far.tolist():
        reasons[p] = f"more than {max_snap_m:g} m from any walkable path"
    d[far, :] = np.inf
    d[:, far] = np.inf
    d[far, far] = 0.0
    return Walks(
        d,
        "network",
        1.0,
        reasons,
        network,
        nodes,
        sources,
        pred,
        np.column_stack([x, y]),
    )


def screen(
    walks: Walks, values: FloatArray, settings: RouteSettings
) -> tuple[list[int], dict[int, str]]:
    """Candidates worth giving the solver, and the reason each of the others is left out."""
    t = settings.seconds(walks.metres)
    skipped: dict[int, str] = {}
    keep = []
    for i, value in enumerate(values.tolist()):
        p = i + 2
        if p in walks.reasons:
            skipped[i] = walks.reasons[p]
        elif not (np.isfinite(walks.metres[START, p]) and np.isfinite(walks.metres[p, END])):
            skipped[i] = UNREACHABLE
        elif t[START, p] + settings.stop_s + t[p, END] > settings.budget_s:
            skipped[i] = TOO_FAR
        elif not value > 0:
            skipped[i] = NO_VALUE
        else:
            keep.append(i)
    return keep, skipped


def check_inputs(walks: Walks, values: FloatArray) -> None:
    if walks.metres.shape != (len(values) + 2, len(values) + 2):
        raise RoutingError("the walk matrix must cover the start, the end and every stop")
    if np.any(~np.isfinite(values)) or np.any(values < 0):
        raise RoutingError("stop values must be finite and not negative")


def timed_route(
    walks: Walks,
    values: FloatArray,
    local: npt.NDArray[np.int64],
    order: list[int],
    nodes: list[int],
    settings: RouteSettings,
) -> TeamRoute:
    clock, arrivals = 0, []
    for a, b in itertools.pairwise([START, *nodes]):
        clock += int(local[a, b])
        arrivals.append(clock / 60.0)
        clock += settings.stop_s
    clock += int(local[nodes[-1] if nodes else START, END])
    return team_route(walks, values, order, arrivals, clock / 60.0)


def team_route(
    walks: Walks, values: FloatArray, order: list[int], arrivals: list[float], finish_min: float
) -> TeamRoute:
    points = [START, *(s + 2 for s in order), END]
    distance = float(sum(walks.metres[a, b] for a, b in itertools.pairwise(points)))
    return TeamRoute(
        tuple(order),
        tuple(arrivals),
        distance,
        finish_min,
        float(values[order].sum()) if order else 0.0,
    )


def empty_routes(walks: Walks, settings: RouteSettings) -> tuple[TeamRoute, ...]:
    back = float(settings.seconds(walks.metres)[START, END]) / 60.0
    return tuple(
        team_route(walks, np.zeros(0), [], [], back if walks.metres[START, END] > 0 else 0.0)
        for _ in range(settings.teams)
    )


def route_seconds(walks: Walks, order: Sequence[int], settings: RouteSettings) -> int:
    """Whole seconds a team needs for ``order`` (walking plus stops), start to end."""
    t = settings.seconds(walks.metres)
    points = [START, *(s + 2 for s in order), END]
    walk = sum(int(t[a, b]) for a, b in itertools.pairwise(points))
    return walk + settings.stop_s * len(order)
