"""Clean-up stops: needle-report cells a crew may be sent to, and what each is worth.

Peers and planners get only the released cells of a finished period (the publication step);
managers and stewards get every cell of the last 90 days. A stop's value is the needles
expected there now: the reported rate times the days since the cell was last cleaned
(capped), raised near schools, daycares and playgrounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from analysis.grid import cell_centres
from geo_service.deployment import Deployment
from geo_service.ingest.layers import exclusion_zones
from geo_service.periods import Period, latest_published, parse_period
from geo_service.services.basis import Basis, base_basis, full_basis
from geo_service.services.cleanup.cleaned import DAY_S, last_cleaned
from geo_service.services.releases import check_period, get_release, grace_days
from geo_service.settings import EventKind
from geo_service.storage import Store
from maps.words import period_words

if TYPE_CHECKING:
    from geo_service.services.program import ProgramContext

MANAGER_WINDOW_DAYS = 90
PILE_UP_CAP_DAYS = 90  # needles are also picked up by others; expectation stops growing
SENSITIVE_PLACES = frozenset({"school", "daycare", "playground"})
NEAR_PLACE_BOOST = 1.5


@dataclass(frozen=True)
class Candidate:
    cell_m: int
    ix: int
    iy: int
    x: float
    y: float
    reported: int  # needles reported in the window (released count for peers)
    window_days: float
    days_since_cleaned: float | None  # None: not cleaned in the past year
    near: str | None  # the school, daycare or playground it lies near

    @property
    def id(self) -> str:
        return f"{self.cell_m}:{self.ix}:{self.iy}"

    @property
    def expected(self) -> float:
        rate = self.reported / max(self.window_days, 1.0)
        days = PILE_UP_CAP_DAYS if self.days_since_cleaned is None else self.days_since_cleaned
        return rate * min(days, PILE_UP_CAP_DAYS)

    @property
    def value(self) -> float:
        return self.expected * (NEAR_PLACE_BOOST if self.near else 1.0)

    def reason(self, window: str) -> str:
        return "; ".join([f"{self.reported} needles reported in {window}", self.notes()])

    def notes(self) -> str:
        """What besides the reports the stop's worth rests on: cleaning, a place nearby."""
        parts = []
        if self.days_since_cleaned is None:
            parts.append("not cleaned in the past year")
        else:
            parts.append(f"last cleaned {self.days_since_cleaned:.0f} days ago")
        if self.near:
            parts.append(f"near {self.near} (counts {NEAR_PLACE_BOOST:g}×)")
        return "; ".join(parts)


def candidates(ctx: ProgramContext, period_text: str | None) -> tuple[list[Candidate], str, Basis]:
    """Needle-report cells a crew may be sent to, a label for the window they come from, and
    what share of the window's reports they hold."""
    store, deployment, program_id, now = ctx.store, ctx.deployment, ctx.program_id, ctx.now
    kind = EventKind.NEEDLE_REPORT
    base_m = deployment.cell_m(kind)
    cells: dict[tuple[int, int], int] = {}
    if ctx.full_view and period_text is None:
        start = int(now) - MANAGER_WINDOW_DAYS * DAY_S
        cells = _all_cells(store, deployment, program_id, start, int(now))
        window, days = f"the last {MANAGER_WINDOW_DAYS} days", float(MANAGER_WINDOW_DAYS)
        basis = full_basis(sum(cells.values()), sum(cells.values()), window)
    else:
        choice = store.publication(program_id)
        label = period_text or latest_published(
            choice.bucket, now=now, grace_days=grace_days(choice), tz=deployment.tz
        )
        period: Period = parse_period(label, deployment)
        check_period(period, choice, now=now, full_view=ctx.full_view)
        days = (period.end - period.start) / DAY_S
        window = period.label
        if ctx.full_view:
            cells = _all_cells(store, deployment, program_id, period.start, period.end)
            basis = full_basis(sum(cells.values()), sum(cells.values()), period_words(label))
        else:
            release = get_release(
                store,
                deployment,
                ctx.settings,
                program_id=program_id,
                kind=kind,
                period=period,
                now=now,
            )
            # Only base cells: a rolled-up square a kilometre wide is not a place to walk to.
            cells = release.base_cells()
            basis = base_basis(release, period_words(period.label))
    if not cells:
        return [], window, basis
    ix = np.array([c[0] for c in cells], dtype=np.int64)
    iy = np.array([c[1] for c in cells], dtype=np.int64)
    cx, cy = cell_centres(ix, iy, grid=deployment.grid, cell_m=base_m)
    cleaned = last_cleaned(ctx, ix, iy, base_m)
    near = _near_sensitive_places(store, deployment, program_id, cx, cy)
    out = [
        Candidate(base_m, int(ix[i]), int(iy[i]), float(cx[i]), float(cy[i]),
                  cells[(int(ix[i]), int(iy[i]))], days, cleaned[i], near[i])
        for i in range(len(ix))
    ]  # fmt: skip
    return out, window, basis


def _all_cells(
    store: Store, deployment: Deployment, program_id: int, start: int, end: int
) -> dict[tuple[int, int], int]:
    """Needles reported per stop cell in a window, every cell (managers and stewards)."""
    base_m = deployment.cell_m(EventKind.NEEDLE_REPORT)
    cells: dict[tuple[int, int], int] = {}
    for group in store.event_cells(program_id, EventKind.NEEDLE_REPORT.value, start=start, end=end):
        levels = deployment.grid.levels_between(group.cell_m, base_m)
        gx, gy = (group.ix >> levels).tolist(), (group.iy >> levels).tolist()
        for x, y, n in zip(gx, gy, group.count.tolist(), strict=True):
            cells[(x, y)] = cells.get((x, y), 0) + n
    return cells


def _near_sensitive_places(
    store: Store, deployment: Deployment, program_id: int, x: np.ndarray, y: np.ndarray
) -> list[str | None]:
    """The sensitive place whose buffered zone (point or polygon) holds each stop, if any."""
    near: list[str | None] = [None] * len(x)
    for feature, zone in exclusion_zones(store, deployment, program_id):
        if feature.feature_type not in SENSITIVE_PLACES:
            continue
        for i in np.flatnonzero(shapely.contains_xy(zone, x, y)).tolist():
            near[i] = near[i] or feature.name
    return near
