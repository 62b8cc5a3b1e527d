"""GeoPackage files from GeoJSON features: what stewards export, and released layers.

Written with geopandas' pyogrio engine to a temporary file (SQLite needs a file) and read
back as bytes; nothing stays on disk. Every layer is in WGS 84 (EPSG:4326), like GeoJSON.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

GPKG_MEDIA = "application/geopackage+sqlite3"


def _flat(value: Any) -> Any:
    """A property as a GeoPackage column holds it: lists as text separated by '; '."""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    return value


def _frame(features: Sequence[Mapping[str, Any]]) -> Any:
    import geopandas  # a second to import: only GeoPackage exports pay for it

    rows = []
    for feature in features:
        props = {k: _flat(v) for k, v in (feature.get("properties") or {}).items()}
        if "id" in feature:
            props.setdefault("feature_id", str(feature["id"]))
        rows.append({"type": "Feature", "geometry": feature["geometry"], "properties": props})
    return geopandas.GeoDataFrame.from_features(rows, crs="EPSG:4326")


def geopackage(
    layers: Mapping[str, Sequence[Mapping[str, Any]]],
    tables: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """A GeoPackage with one layer per non-empty feature list and one single-row attribute
    table per entry of ``tables``; a file with nothing in it still holds the first layer,
    empty, so it opens."""
    import pandas as pd
    import pyogrio

    with tempfile.TemporaryDirectory(prefix="geo-service-gpkg-") as folder:
        path = Path(folder) / "export.gpkg"
        wrote = False
        for name, features in layers.items():
            if features:
                pyogrio.write_dataframe(_frame(features), path, layer=name, driver="GPKG")
                wrote = True
        if not wrote:
            import geopandas

            first = next(iter(layers), "layer")
            empty = geopandas.GeoDataFrame({"geometry": np.array([], dtype=object)}, crs=4326)
            pyogrio.write_dataframe(
                empty, path, layer=first, driver="GPKG", geometry_type="Polygon"
            )
        for name, row in (tables or {}).items():
            frame = pd.DataFrame([{k: _flat(v) for k, v in row.items()}])
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG")
        return path.read_bytes()
