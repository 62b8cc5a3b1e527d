"""A program's area from an OpenStreetMap extract: an administrative boundary, by name,
through pyrosm (``program create NAME --osm FILE.osm.pbf --boundary "Flin Flon"``).

Every way it can fail is an :class:`AreaError` naming the file, what is wrong and what to do;
a name the extract lacks lists names it has.
"""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from geo_service.ingest.areas import AreaError, checked_area, polygonal, read_area

NAMES_SHOWN = 8  # names listed when the boundary asked for is not in the extract


def read_any_area(path: Path, boundary: str | None) -> BaseGeometry:
    """The area file, or with ``boundary`` the administrative boundary of that name in the
    OpenStreetMap extract ``path``."""
    return read_area(path) if boundary is None else read_osm_boundary(path, boundary)


def _boundaries(path: Path) -> Any:
    """The extract's administrative boundaries as a GeoDataFrame (None: it has none)."""
    import pyrosm  # slow to import: only the commands that read extracts pay for it

    if not path.is_file():
        raise AreaError(f"{path}: no such file; give the path of an .osm.pbf extract")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyrosm warns when an extract has no boundary
            return pyrosm.OSM(str(path)).get_boundaries(boundary_type="administrative")
    except Exception as exc:  # pyrosm's reader raises whatever its parser meets
        raise AreaError(
            f"{path}: pyrosm cannot read this file as an OpenStreetMap extract "
            f"({type(exc).__name__}); download an .osm.pbf extract (e.g. from Geofabrik)"
        ) from None


def read_osm_boundary(path: Path, name: str) -> BaseGeometry:
    """The boundary named ``name`` (any case) in WGS 84; with several of that name, the most
    local (highest admin_level)."""
    frame = _boundaries(path)
    if frame is None or len(frame) == 0 or "name" not in frame.columns:
        raise AreaError(
            f"{path}: the extract holds no administrative boundary; use an extract that "
            "includes the community's boundary relation, or give the area with --area FILE"
        )
    names = frame["name"].fillna("").astype(str)
    picked = frame[names.str.casefold() == name.strip().casefold()]
    if len(picked) == 0:
        raise AreaError(
            f"{path}: no administrative boundary named '{name}'; the extract has "
            f"{_some_names(list(names), name)}"
        )
    level = picked["admin_level"].fillna("0").astype(str) if "admin_level" in picked else None
    if level is not None:
        local = level.str.extract(r"(\d+)")[0].fillna("0").astype(int)
        picked = picked[local == local.max()]
    if picked.crs is not None:
        picked = picked.to_crs(4326)
    shapes = [g for g in picked.geometry if g is not None and not g.is_empty]
    area = shapely.union_all([polygonal(g) for g in shapes]) if shapes else shapely.Polygon()
    return checked_area(path, area)


def _some_names(names: list[str], wanted: str) -> str:
    """A few of the extract's boundary names, the closest to ``wanted`` first."""
    known = sorted({n for n in names if n})
    if not known:
        return "boundaries without names only"
    close = difflib.get_close_matches(wanted, known, n=NAMES_SHOWN, cutoff=0.5)
    shown = close + [n for n in known if n not in close][: NAMES_SHOWN - len(close)]
    more = f" and {len(known) - len(shown)} more" if len(known) > len(shown) else ""
    return ", ".join(f"'{n}'" for n in shown) + more
