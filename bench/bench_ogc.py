"""``ogr2ogr`` of a 10,000-cell released layer through /ogc (GDAL's OAPIF driver, following
next links) against the same layer read by GDAL straight from /v1/published (one GeoJSON
answer). Prints both and the ratio (target: /ogc at most 1.5× /v1/published).

    .venv/bin/python bench/bench_ogc.py [--cells 10000] [--page-sizes 100,1000,10000] [--repeat 3]

A synthetic program over a 38 × 39 km area: a block of cells, each with six reports from
six keyless rows (city open data: each its own reporter), so every cell passes k = 5 with
the largest reporter removed and the release holds exactly one feature per cell. The
release is made (and its differencing check run) once before anything is timed.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

AREA = "-102.2,54.6,-101.6,54.95"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(app: object, cells: int, month: str) -> None:
    """``cells`` stored cells of one month, six keyless reports each."""
    from geo_service.periods import parse_period
    from geo_service.storage import BatchRecord, EventRows

    store, deployment = app.state.store, app.state.deployment  # type: ignore[attr-defined]
    program_id = store.get_or_create_program("city")
    ix, iy = deployment.study_cells(125)
    # The cells nearest the area's middle: a round block, all inside.
    far = (ix - np.median(ix)) ** 2 + (iy - np.median(iy)) ** 2
    chosen = np.argsort(far, kind="stable")[:cells]
    assert len(chosen) == cells, "the area holds fewer cells than asked"
    start = parse_period(month, deployment).start
    n = cells * 6
    rng = np.random.default_rng(1)
    rows = EventRows(
        kind=["needle_report"] * n,
        cell_m=np.full(n, 125, dtype=np.int64),
        cell_ix=np.repeat(ix[chosen], 6),
        cell_iy=np.repeat(iy[chosen], 6),
        bucket_start=start + rng.integers(0, 24 * 27, n) * 3600,
        bucket_hours=np.ones(n, dtype=np.int64),
        count=np.ones(n, dtype=np.int64),
        source=["city"] * n, fatal=[None] * n, naloxone_doses=[None] * n, place_type=[None] * n,
    )  # fmt: skip
    store.store_events(BatchRecord("bench", program_id, None, "events", None, "x", "now"), rows)


def timed(args: list[str], env: dict[str, str]) -> float:
    begun = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - begun


def rows_in(path: Path, layer: str) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute(f'SELECT COUNT(*) FROM "{layer}"').fetchone()
    conn.close()
    return int(count)


def main() -> None:
    import uvicorn

    from geo_service.auth import Role, create_key
    from geo_service.main import create_app
    from geo_service.periods import latest_published
    from geo_service.settings import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument(
        "--page-sizes", default="100,1000,10000", help="GDAL's PAGE_SIZE, one timing for each"
    )
    parser.add_argument("--repeat", type=int, default=3)
    ask = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/ogc.sqlite3",
            service_area_bbox=AREA,  # type: ignore[arg-type]  # parsed by its validator
            rate_limit_per_key=0,
            rate_limit_per_address=0,
            map_tiles="none",
        )
        app = create_app(settings)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        threading.Thread(target=server.run, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        month = latest_published("month", now=time.time(), grace_days=7, tz=app.state.deployment.tz)
        fill(app, ask.cells, month)
        key = create_key(app.state.store, program="city", role=Role.PEER)[1]
        env = {**os.environ, "GDAL_HTTP_HEADERS": f"Authorization: Bearer {key}"}
        published = f"{base}/v1/published?kind=needle_report&period={month}"
        request = urllib.request.Request(published, headers={"Authorization": f"Bearer {key}"})
        begun = time.perf_counter()
        urllib.request.urlopen(request, timeout=3600).read()
        print(f"release of {ask.cells:,} cells made in {time.perf_counter() - begun:.1f} s")
        layer = f"needle_report-cells-{month}"
        theirs = []
        for run in range(ask.repeat):
            ref = Path(tmp) / f"v1-{run}.gpkg"
            theirs.append(
                timed(
                    ["ogr2ogr", "-f", "GPKG", str(ref), f"GeoJSON:{published}", "-nln", layer], env
                )
            )
            assert rows_in(ref, layer) == ask.cells
        v1_s = float(np.median(theirs))
        print(f"/v1/published (GeoJSON, one answer) {v1_s:.2f} s (median of {ask.repeat})")
        for size in (int(s) for s in ask.page_sizes.split(",")):
            ours = []
            for run in range(ask.repeat):
                out = Path(tmp) / f"ogc-{size}-{run}.gpkg"
                oapif = [f"OAPIF:{base}/ogc", layer, "-oo", f"PAGE_SIZE={size}"]
                ours.append(timed(["ogr2ogr", "-f", "GPKG", str(out), *oapif], env))
                assert rows_in(out, layer) == ask.cells
            ogc_s = float(np.median(ours))
            print(
                f"ogr2ogr of {ask.cells:,} released cells through /ogc (OAPIF, PAGE_SIZE={size}) "
                f"{ogc_s:.2f} s vs /v1/published {v1_s:.2f} s: {ogc_s / v1_s:.2f}× "
                f"(median of {ask.repeat}; target <= 1.5×)"
            )
        server.should_exit = True


if __name__ == "__main__":
    main()
