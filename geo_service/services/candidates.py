"""Candidate sites and exclusion zones, as siting chooses among them: loaded candidates of
a type, or grid cells when none are loaded; never a place inside an exclusion zone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from analysis.projection import to_lonlat, to_metres
from geo_service.geojson import Geometry
from geo_service.ingest.layers import exclusion_zones
from geo_service.services.demand import Demand
from geo_service.services.program import ProgramContext
from geo_service.storage import ContextFeature

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Place:
    """A candidate as the answer names it."""

    lon: float
    lat: float
    feature: ContextFeature | None  # None: a grid cell (no candidates loaded)

    @property
    def name(self) -> str:
        f = self.feature
        return f"grid cell at {self.lat:.4f}, {self.lon:.4f}" if f is None else f.name

    @property
    def position(self) -> tuple[float, float]:
        """(lon, lat) as answers give it: a loaded candidate's own, else the cell's centre."""
        f = self.feature
        return (self.lon, self.lat) if f is None else (f.lon, f.lat)

    def to_json(self) -> dict[str, Any]:
        f = self.feature
        if f is None:
            return {"id": None, "name": self.name, "lon": self.lon, "lat": self.lat}
        return {
            "id": f.id,
            "name": f.name,
            "type": f.feature_type,
            "notes": f.notes,
            "lon": f.lon,
            "lat": f.lat,
        }


@dataclass(frozen=True)
class Excluded:
    place: Place
    reason: str  # the exclusion zone it lies in

    def to_json(self) -> dict[str, Any]:
        return {**self.place.to_json(), "reason": self.reason}


@dataclass(frozen=True)
class Candidates:
    places: list[Place]
    x: FloatArray
    y: FloatArray
    excluded: dict[int, str]  # position -> the exclusion zone it lies in
    from_grid: bool

    @property
    def eligible(self) -> list[int]:
        return [i for i in range(len(self.x)) if i not in self.excluded]

    def xy(self, positions: list[int]) -> tuple[FloatArray, FloatArray]:
        return self.x[positions], self.y[positions]

    def left_out(self) -> list[Excluded]:
        return [Excluded(self.places[i], why) for i, why in sorted(self.excluded.items())]

    def too_few(self, window: str, *, released: bool) -> str:
        """Why only these candidates are left: exclusion zones took some, or there were
        only so many to begin with (loaded ones, or squares with reports)."""
        left, total, out = len(self.eligible), len(self.x), len(self.excluded)
        what = "squares with reports" if self.from_grid else "loaded candidates"
        if out:
            return (
                f"{out} of the {total} {what} {'lies' if out == 1 else 'lie'} inside "
                f"exclusion zones, leaving {left}; "
                + ("load candidates" if self.from_grid else "load more candidates")
                + " with POST /v1/candidates"
                + (", or ask for fewer" if left else "")
            )
        if not self.from_grid:
            return (
                f"only {total} candidates are loaded (no exclusion zone removed any); load "
                "more with POST /v1/candidates, or ask for fewer"
            )
        shown = (
            f"shown at their stored size for {window} (reports shown only in larger "
            "squares cannot place a site)"
            if released
            else f"in {window}"
        )
        return (
            f"no candidates are loaded, so sites can go only in squares with reports, and "
            f"only {total} {'square has' if total == 1 else 'squares have'} reports {shown}; "
            "load candidates with "
            "POST /v1/candidates, or ask for fewer"
        )

    @property
    def source(self) -> str:
        return "grid cells (no candidates loaded)" if self.from_grid else "loaded candidates"


def read_candidates(ctx: ProgramContext, demand: list[Demand], use: str) -> Candidates:
    """Loaded candidates of a type, or the demand cells' centres when none are loaded."""
    deployment = ctx.deployment
    loaded = [
        f
        for f in ctx.store.list_context(ctx.program_id, "candidate")
        if f.feature_type in (use, "any")
    ]
    if loaded:
        lons, lats = [f.lon for f in loaded], [f.lat for f in loaded]
        x, y = (np.asarray(v, dtype=np.float64) for v in to_metres(lons, lats, crs=deployment.crs))
    else:
        xs = np.concatenate([d.x for d in demand]) if demand else np.zeros(0)
        ys = np.concatenate([d.y for d in demand]) if demand else np.zeros(0)
        xy = np.unique(np.round(np.column_stack([xs, ys]), 1), axis=0).astype(np.float64)
        x, y = xy[:, 0], xy[:, 1]
    lon, lat = to_lonlat(x, y, crs=deployment.crs)
    places = [
        Place(round(float(lon[i]), 6), round(float(lat[i]), 6), loaded[i] if loaded else None)
        for i in range(len(x))
    ]
    zones = exclusion_zones(ctx.store, deployment, ctx.program_id)
    return Candidates(places, x, y, excluded_by(zones, x, y), not loaded)


def excluded_by(
    zones: list[tuple[ContextFeature, shapely.Geometry]], x: FloatArray, y: FloatArray
) -> dict[int, str]:
    """Position -> the first zone (in stored order) each point lies in.

    Shapely's STRtree, not rtree: it ships with shapely (no libspatialindex) and answers
    every point in one vectorised ``query``, where testing each zone against every point was
    zones x points intersections (a city's hundreds of schools against thousands of grid
    cells). The tree's bounding boxes only pick pairs; ``intersects`` decides them exactly,
    so the answer is what the pairwise loop gave.
    """
    if not zones or len(x) == 0:
        return {}
    tree = shapely.STRtree([zone for _, zone in zones])
    point_ix, zone_ix = tree.query(shapely.points(x, y), predicate="intersects")
    first: dict[int, int] = {}
    for i, z in zip(point_ix.tolist(), zone_ix.tolist(), strict=True):
        first[i] = min(z, first.get(i, z))
    return {
        i: f"within {zones[z][0].buffer_m:g} m of {zones[z][0].name}"
        for i, z in sorted(first.items())
    }


def zone_shapes(ctx: ProgramContext) -> list[tuple[str, Geometry]]:
    """Each exclusion zone's buffer, named by what it keeps sites away from."""
    return [
        (f"{f.name}: {f.buffer_m:g} m", ctx.deployment.to_geojson_geometry(zone))
        for f, zone in exclusion_zones(ctx.store, ctx.deployment, ctx.program_id)
    ]
