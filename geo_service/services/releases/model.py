"""What a release is: its rule, its cells, and the public coarsening of it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from analysis.publication import Feature, coarsen
from geo_service.deployment import Deployment
from geo_service.errors import InvalidParameter
from geo_service.geojson import Feature as GeoFeature
from geo_service.geojson import polygon
from geo_service.periods import Period
from geo_service.settings import EventKind

DEFAULT_GRACE_DAYS = 7
MIN_GRACE_DAYS = 1
DEFAULT_DROP_TOP_KEYS = 1
PUBLIC_LEVELS = 1  # the public sees released cells summed into cells twice as wide


@dataclass(frozen=True)
class ReleaseRule:
    k: int  # reports that must remain once the largest reporters are removed
    drop_top_keys: int
    grace_days: int
    cell_m: int  # the level-0 (stored) cell size

    def describe(self) -> str:
        keys = (
            "reporting key" if self.drop_top_keys == 1 else f"{self.drop_top_keys} reporting keys"
        )
        return (
            f"a cell is shown when at least {self.k} reports remain after removing the "
            f"{keys} that sent the most there; fewer (including none) looks empty; reports "
            "of cells that fail are shown in the smallest coarser cell where they pass, "
            "without its shown children"
        )


@dataclass(frozen=True)
class ReleasedCell:
    level: int  # 0: the stored cell; L: 2**L times as wide
    ix: int
    iy: int
    count: int  # reports
    needles: int | None  # shown only where the rule holds for needles too


@dataclass(frozen=True)
class Release:
    """A period's published cells. Everything peers, planners and the public are shown is a
    function of one of these and the request."""

    kind: EventKind
    period: Period
    rule: ReleaseRule
    made_on: str
    content_hash: str
    features: tuple[ReleasedCell, ...]
    by_hour: tuple[float, ...]  # released reports by local hour of the week (Monday 0h first)
    hidden: int | None  # reports shown nowhere, only when that number passes the rule too
    events: int  # every report of the period when it was made: managers' summaries only
    read_to: int | None = None  # the largest event row id it read (None: not recorded)
    day_only: int = 0  # released reports with a date only: left out of by_hour

    @property
    def cell_m(self) -> int:
        return self.rule.cell_m

    @property
    def k(self) -> int:
        return self.rule.k

    @property
    def total(self) -> int:
        return sum(f.count for f in self.features)

    def base_cells(self) -> dict[tuple[int, int], int]:
        """Released stored-size cells and their report counts."""
        return {(f.ix, f.iy): f.count for f in self.features if f.level == 0}

    def in_larger_cells(self, levels: int) -> Release:
        """The release seen in cells ``2**levels`` times as wide: released cells summed into
        their parent there (with the rolled-up cell already there), coarser rolled-up cells
        kept. Every number is a sum of released numbers, each already past the rule, so the
        view shows nothing the release does not; the reports are never suppressed again."""
        if levels == 0:
            return self
        parts = [
            Feature(f.level, f.ix, f.iy, f.count, 2, np.zeros(0, np.int64), f.needles)
            for f in self.features
        ]
        summed = tuple(
            ReleasedCell(f.level - levels, f.ix, f.iy, f.count, f.needles)
            for f in coarsen(parts, levels=levels, k=0)
        )
        rule = dataclasses.replace(self.rule, cell_m=self.cell_m << levels)
        return dataclasses.replace(self, rule=rule, features=summed)

    def coarsened(self, *, k: int) -> Release:
        """The public layer: sums of released cells, twice as wide, kept where they reach k."""
        parts = [
            Feature(f.level, f.ix, f.iy, f.count, 2, np.zeros(0, np.int64), f.needles)
            for f in self.features
        ]
        public = tuple(
            ReleasedCell(f.level, f.ix, f.iy, f.count, f.needles)
            for f in coarsen(parts, levels=PUBLIC_LEVELS, k=k)
        )
        return Release(
            self.kind,
            self.period,
            ReleaseRule(k, self.rule.drop_top_keys, self.rule.grace_days, self.cell_m),
            self.made_on,
            self.content_hash,
            public,
            self.by_hour,
            None,
            self.events,
            self.read_to,
        )


def top_level(deployment: Deployment, cell_m: int) -> int:
    """Roll-ups go up to the level where one cell spans the whole service area."""
    xmin, ymin, xmax, ymax = deployment.service_area_m.bounds
    span = max(xmax - xmin, ymax - ymin)
    return max(0, math.ceil(math.log2(max(span / cell_m, 1.0)))) + 1


def larger_cell_sizes(deployment: Deployment, kind: EventKind) -> list[int]:
    """The cell sizes a release may be viewed at: the stored size times 1, 2, 4, ... up to
    the level where one cell spans the whole service area."""
    stored = deployment.cell_m(kind)
    return [stored << j for j in range(top_level(deployment, stored) + 1)]


def levels_above_stored(deployment: Deployment, kind: EventKind, cell_m: int | None) -> int:
    """How many doublings above the stored size ``cell_m`` is; 4xx naming the sizes allowed."""
    sizes = larger_cell_sizes(deployment, kind)
    if cell_m is None:
        return 0
    if cell_m not in sizes:
        listed = ", ".join(str(size) for size in sizes)
        raise InvalidParameter(
            f"cell_m for {kind.value} must be one of {listed} m: the stored size times a "
            "power of two, up to one square over the whole area"
        )
    return sizes.index(cell_m)


def release_features(release: Release, deployment: Deployment) -> list[GeoFeature]:
    """Released cells as GeoJSON polygons: nothing but where, how big, and how many."""
    if not release.features:
        return []
    ix = np.array([f.ix for f in release.features], dtype=np.int64)
    iy = np.array([f.iy for f in release.features], dtype=np.int64)
    size = np.array([release.cell_m << f.level for f in release.features], dtype=np.float64)
    rings = deployment.cell_rings(ix, iy, size)
    out: list[GeoFeature] = []
    for f, ring, m in zip(release.features, rings, size, strict=True):
        properties: dict[str, object] = {"count": f.count, "cell_m": int(m)}
        if f.needles is not None and release.kind is EventKind.NEEDLE_REPORT:
            properties["needles"] = f.needles
        out.append(
            {
                "type": "Feature",
                "id": f"{int(m)}:{f.ix}:{f.iy}",
                "geometry": polygon(ring),
                "properties": properties,
            }
        )
    return out
