"""The offline base map: the program's own streets, drawn when map tiles are off or fail.

Streets are not in the page. The page carries a small data island naming its map, its tile
layer and the address of the program's streets (a separate, cacheable resource that holds
public OpenStreetMap geometry and nothing derived from events); ``/static/streets.js``
fetches and draws them under the squares only when tiles are off, fail, or never arrive,
and then shows the service sites' names as labels, so a peer can find their way without
tiles. A page's coordinates stay what they were: grid corners and public points.

The resource is compact JSON: ``{"format": "streets-1", "scale": 100000, "lines": [...]}``,
each line a flat list of integer pairs ``lon, lat`` in 1e-5 degrees (about a metre), each
pair the step from the point before, across lines too (the very first from 0, 0): a few
digits a point rather than twenty. Served gzipped, the demo town's streets are about 13 kB.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import orjson

FORMAT = "streets-1"
SCALE = 100_000  # 1e-5 degrees: about a metre, finer than a street line is drawn

FloatArray = npt.NDArray[np.float64]


def encode_streets(lines: Sequence[tuple[FloatArray, FloatArray]]) -> bytes:
    """``(lon, lat)`` polylines as the resource's bytes: rounded to 1e-5 degrees, repeated
    points (two nodes within a metre) dropped, lines left with one point dropped."""
    if not lines:
        return orjson.dumps({"format": FORMAT, "scale": SCALE, "lines": []})
    sizes = np.array([len(lon) for lon, _ in lines])
    line = np.repeat(np.arange(len(lines)), sizes)
    lon = np.concatenate([lon for lon, _ in lines])
    lat = np.concatenate([lat for _, lat in lines])
    q = np.column_stack([np.round(lon * SCALE), np.round(lat * SCALE)]).astype(np.int64)
    # A point a metre from the one before it on its line adds nothing; nor does a line
    # left with one point.
    fresh = np.r_[True, np.any(q[1:] != q[:-1], axis=1) | (line[1:] != line[:-1])]
    q, line = q[fresh], line[fresh]
    points = np.bincount(line, minlength=len(lines))
    drawn = np.repeat(points >= 2, points)
    q, points = q[drawn], points[points >= 2]
    steps = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel().tolist()
    ends = np.cumsum(2 * points).tolist()
    out = [steps[a:b] for a, b in itertools.pairwise([0, *ends])]
    return orjson.dumps({"format": FORMAT, "scale": SCALE, "lines": out})


def decode_streets(body: bytes) -> list[list[tuple[float, float]]]:
    """The ``(lon, lat)`` polylines of :func:`encode_streets`' bytes (what the script draws)."""
    data = orjson.loads(body)
    if data.get("format") != FORMAT:
        raise ValueError("not a streets-1 resource")
    scale = data["scale"]
    lines = []
    last = np.zeros(2, dtype=np.int64)
    for flat in data["lines"]:
        q = last + np.cumsum(np.asarray(flat, dtype=np.int64).reshape(-1, 2), axis=0)
        lines.append([(int(a) / scale, int(b) / scale) for a, b in q])
        last = q[-1]
    return lines
