"""Projection between WGS 84 longitude/latitude and the deployment's projected metres."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

FloatArray = npt.NDArray[np.float64]


class CrsError(ValueError):
    """The CRS is unknown, or not projected in metres."""


def utm_crs_for(lon: float, lat: float) -> str:
    """Return the WGS 84 / UTM zone CRS (as ``EPSG:n``) that contains a point.

    Examples
    --------
    >>> utm_crs_for(-101.88, 54.77)  # Flin Flon, Manitoba
    'EPSG:32614'
    """
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not infos:
        raise CrsError("no UTM zone covers this point")
    return f"{infos[0].auth_name}:{infos[0].code}"


def check_projected_crs(crs: str) -> str:
    """Return ``crs`` unchanged if it is a known projected CRS in metres, else raise."""
    try:
        parsed = CRS.from_user_input(crs)
    except Exception:  # pyproj raises CRSError, a plain Exception subclass
        raise CrsError("the projected CRS is not a known coordinate reference system") from None
    unit = parsed.axis_info[0].unit_name if parsed.axis_info else ""
    if not parsed.is_projected or unit not in ("metre", "meter"):
        raise CrsError("the projected CRS must be a projected CRS in metres, such as a UTM zone")
    return crs


@lru_cache(maxsize=16)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def to_metres(lon: npt.ArrayLike, lat: npt.ArrayLike, *, crs: str) -> tuple[FloatArray, FloatArray]:
    """Project WGS 84 longitudes/latitudes into ``crs`` (vectorized)."""
    x, y = _transformer("EPSG:4326", crs).transform(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def to_lonlat(x_m: npt.ArrayLike, y_m: npt.ArrayLike, *, crs: str) -> tuple[FloatArray, FloatArray]:
    """Project ``crs`` metres back to WGS 84 longitudes/latitudes (vectorized)."""
    lon, lat = _transformer(crs, "EPSG:4326").transform(
        np.asarray(x_m, dtype=np.float64), np.asarray(y_m, dtype=np.float64)
    )
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
