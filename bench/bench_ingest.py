"""Ingest benchmark: one 100,000-event POST, a 1,000,000-row CLI import, and the same rows
as a GeoPackage (in UTM, so reprojection is included) against the same rows as CSV.

Both are compared, in the same run, with the floor: a bare ``sqlite3`` ``executemany`` of the
same number of already-blurred rows into the same table. Prints events/s and ratios.

    .venv/bin/python bench/bench_ingest.py [--api-rows N] [--cli-rows N] [--gpkg-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from store_upkeep import KINDS, bench_store_only, database_url  # noqa: E402

from geo_service.auth import Role, create_key  # noqa: E402
from geo_service.main import create_app  # noqa: E402
from geo_service.settings import Settings  # noqa: E402


def synthetic(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    epoch = 1_735_689_600 + rng.integers(0, 300 * 86_400, n)  # 2025
    return {
        "lon": np.round(-101.8779 + rng.normal(0, 0.01, n).clip(-0.045, 0.045), 6),
        "lat": np.round(54.7682 + rng.normal(0, 0.005, n).clip(-0.025, 0.025), 6),
        "kind": rng.choice(KINDS, n, p=[0.8, 0.05, 0.15]),
        "time": np.array(epoch, dtype="datetime64[s]").astype(str),
    }


def floor_seconds(n: int, directory: Path) -> float:
    """Bare sqlite3 executemany of n event rows into the events table layout (WAL)."""
    path = directory / f"floor-{n}.sqlite3"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, program_id INTEGER, batch_id TEXT, "
        "kind TEXT, cell_m INTEGER, cell_ix INTEGER, cell_iy INTEGER, bucket_start INTEGER, "
        "bucket_hours INTEGER, count INTEGER, source TEXT, fatal INTEGER, naloxone_doses "
        "INTEGER, place_type TEXT)"
    )
    con.execute("CREATE INDEX ix ON events (program_id, kind, bucket_start)")
    rows = [
        (
            1,
            "b" * 32,
            "needle_report",
            125,
            i % 500,
            i % 300,
            1_735_689_600 + i,
            1,
            1,
            None,
            None,
            None,
            None,
        )
        for i in range(n)
    ]
    started = time.perf_counter()
    with con:
        con.executemany(
            "INSERT INTO events (program_id, batch_id, kind, cell_m, cell_ix, "
            "cell_iy, bucket_start, bucket_hours, count, source, fatal, "
            "naloxone_doses, place_type) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def bench_api(n: int, directory: Path) -> None:
    data = synthetic(n)
    body = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {"kind": kind, "observed_at": t + "Z"},
                }
                for lon, lat, kind, t in zip(
                    data["lon"].tolist(),
                    data["lat"].tolist(),
                    data["kind"].tolist(),
                    data["time"].tolist(),
                    strict=True,
                )
            ],
        }
    ).encode()
    settings = Settings(
        database_url=f"sqlite:///{directory}/api.sqlite3",
        max_body_bytes=256 * 1024 * 1024,
        max_batch_rows=n,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        _, key = create_key(app.state.store, program="bench", role=Role.MANAGER)
        started = time.perf_counter()
        response = client.post(
            "/v1/events",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/geo+json"},
        )
        elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text[:300]
    accepted = response.json()["accepted"]
    floor = floor_seconds(n, directory)
    print(
        f"API  POST /v1/events, {n:,} features ({len(body) / 1e6:.1f} MB): {elapsed:.2f} s, "
        f"{accepted / elapsed:,.0f} events/s (target >= 50,000)"
    )
    print(
        f"     sqlite3 executemany floor: {floor:.3f} s; ratio {elapsed / floor:.1f}x "
        "(target <= 10x)"
    )


def bench_cli(n: int, directory: Path) -> None:
    data = synthetic(n, seed=2)
    path = directory / "events.csv"
    with path.open("w") as handle:
        handle.write("kind,observed_at,latitude,longitude\n")
        for kind, t, lat, lon in zip(
            data["kind"].tolist(),
            data["time"].tolist(),
            data["lat"].tolist(),
            data["lon"].tolist(),
            strict=True,
        ):
            handle.write(f"{kind},{t}Z,{lat},{lon}\n")
    env = {**os.environ, "GEO_SERVICE_DATABASE_URL": f"sqlite:///{directory}/cli.sqlite3"}
    cli = Path(sys.executable).parent / "geo-service"
    started = time.perf_counter()
    result = subprocess.run(
        [str(cli), "ingest", "events", str(path), "--program", "bench"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert result.returncode == 0, result.stderr[-500:]
    floor = floor_seconds(n, directory)
    print(
        f"CLI  geo-service ingest events, {n:,} CSV rows ({path.stat().st_size / 1e6:.0f} MB): "
        f"{elapsed:.1f} s (target < 20 s), {n / elapsed:,.0f} rows/s, peak memory "
        f"{peak_mib:,.0f} MiB (target < 1024)"
    )
    print(f"     sqlite3 executemany floor: {floor:.2f} s; ratio {elapsed / floor:.1f}x")


def _write_csv(data: dict[str, np.ndarray], path: Path) -> None:
    with path.open("w") as handle:
        handle.write("kind,observed_at,latitude,longitude\n")
        for kind, t, lat, lon in zip(
            data["kind"].tolist(),
            data["time"].tolist(),
            data["lat"].tolist(),
            data["lon"].tolist(),
            strict=True,
        ):
            handle.write(f"{kind},{t}Z,{lat},{lon}\n")


def _ingest(path: Path, database: Path) -> float:
    """Seconds for ``geo-service ingest events PATH`` in a fresh process and database."""
    env = {**os.environ, "GEO_SERVICE_DATABASE_URL": f"sqlite:///{database}"}
    cli = Path(sys.executable).parent / "geo-service"
    started = time.perf_counter()
    result = subprocess.run(
        [str(cli), "ingest", "events", str(path), "--program", "bench"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-500:]
    assert "Stored" in result.stdout, result.stdout[-500:]
    return elapsed


def bench_gpkg(n: int, directory: Path) -> None:
    """The same n rows as CSV (WGS 84) and as a GeoPackage in UTM 14N, each through the CLI."""
    import geopandas
    import shapely

    data = synthetic(n, seed=3)
    csv_path = directory / "gpkg-peer.csv"
    _write_csv(data, csv_path)
    frame = geopandas.GeoDataFrame(
        {"kind": data["kind"], "observed_at": np.char.add(data["time"].astype(str), "Z")},
        geometry=shapely.points(data["lon"], data["lat"]),
        crs="EPSG:4326",
    ).to_crs("EPSG:32614")
    gpkg_path = directory / "events.gpkg"
    frame.to_file(gpkg_path, driver="GPKG", layer="events", engine="pyogrio")
    csv_s = _ingest(csv_path, directory / "peer-csv.sqlite3")
    gpkg_s = _ingest(gpkg_path, directory / "peer-gpkg.sqlite3")
    print(
        f"GPKG geo-service ingest events, {n:,} rows: GeoPackage in EPSG:32614 "
        f"({gpkg_path.stat().st_size / 1e6:.0f} MB) {gpkg_s:.1f} s, the same rows as CSV "
        f"({csv_path.stat().st_size / 1e6:.0f} MB) {csv_s:.1f} s; ratio {gpkg_s / csv_s:.2f}x "
        "(target <= 2x)"
    )


# A CLI in a fresh process on this checkout, with the aggregates kept ("on") or not ("off").
_CLI_RUNNER = """
import sys
from geo_service.storage.sql.cell_month_store import CellMonthSql
CellMonthSql.keep_cell_months = sys.argv.pop(1) == "on"
from geo_service.cli import main
sys.argv[0] = "geo-service"
main()
"""

# A fresh process: the app opened on the database, then one manager GET /v1/hotspots timed.
_HOTSPOTS_RUNNER = """
import hashlib, json, sys, time
from fastapi.testclient import TestClient
from geo_service.storage.sql.cell_month_store import CellMonthSql
CellMonthSql.read_cell_months = sys.argv[1] == "on"
from geo_service.main import create_app
from geo_service.settings import Settings
app = create_app(Settings(database_url=sys.argv[2], rate_limit_per_key=0))
with TestClient(app) as client:
    started = time.perf_counter()
    response = client.get(
        "/v1/hotspots?kind=needle_report&method=gi_star",
        headers={"Authorization": "Bearer " + sys.argv[3]},
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    digest = hashlib.sha256(json.dumps(body["features"], sort_keys=True).encode()).hexdigest()
    print(elapsed, body["summary"]["counts"]["events"], digest[:12])
"""


def _run(code: str, *args: str, url: str) -> tuple[float, str]:
    env = {**os.environ, "GEO_SERVICE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-800:]
    return elapsed, result.stdout


def _manager_key(url: str) -> str:
    from geo_service.deployment import Deployment
    from geo_service.storage.sql import open_store

    store = open_store(url, grid_record=Deployment(Settings(database_url=url)).grid_record())
    try:
        return create_key(store, program="bench", role=Role.MANAGER)[1]
    finally:
        store.close()


def bench_cell_months(n: int, directory: Path, postgres: str | None) -> None:
    """Issue 20: a CLI import of n CSV rows with the per-cell-per-month aggregates kept and
    without (fresh process and database each), then a cold manager GET /v1/hotspots over all
    of them (fresh process) read from the aggregates and from every event."""
    path = directory / "months.csv"
    _write_csv(synthetic(n, seed=4), path)
    for kind in ("sqlite", "postgresql") if postgres else ("sqlite",):
        seconds: dict[str, float] = {}
        for mode in ("off", "on", "off", "on"):  # twice each, alternating: the machine is shared
            url = database_url(kind, f"wt_agg_bench_{mode}", directory, postgres)
            took, _ = _run(_CLI_RUNNER, mode, "ingest", "events", str(path), "--program", "bench",
                           url=url)  # fmt: skip
            seconds[mode] = min(seconds.get(mode, took), took)
        print(
            f"{kind:10} ingest of {n:,} CSV rows (CLI, fresh process): aggregates kept "
            f"{seconds['on']:.1f} s, not kept {seconds['off']:.1f} s; ratio "
            f"{seconds['on'] / seconds['off']:.2f}x (target <= 1.3x)"
        )
        key = _manager_key(url)
        cold: dict[str, float] = {}
        answers: set[tuple[str, str]] = set()
        for mode in ("off", "on", "off", "on"):
            _, out = _run(_HOTSPOTS_RUNNER, mode, url, key, url=url)
            seconds_text, events, digest = out.split()
            answers.add((events, digest))
            cold[mode] = min(cold.get(mode, float(seconds_text)), float(seconds_text))
        print(
            f"{kind:10} cold manager GET /v1/hotspots (all {n:,} events, fresh process): from "
            f"the aggregates {cold['on']:.2f} s, from every event {cold['off']:.2f} s "
            "(target <= 0.5 s)"
        )
        assert len(answers) == 1, answers  # the same events counted, the same features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-rows", type=int, default=100_000)
    parser.add_argument("--cli-rows", type=int, default=1_000_000)
    parser.add_argument("--gpkg-rows", type=int, default=1_000_000)
    parser.add_argument("--aggregates-rows", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres", help="also on this PostgreSQL server (a database wt_agg_bench_* is made)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.aggregates_rows:
            bench_store_only(args.aggregates_rows, Path(tmp), args.postgres)
            bench_cell_months(args.aggregates_rows, Path(tmp), args.postgres)
        if args.gpkg_rows:
            bench_gpkg(args.gpkg_rows, Path(tmp))
        if args.cli_rows:
            bench_cli(args.cli_rows, Path(tmp))
        if args.api_rows:
            bench_api(args.api_rows, Path(tmp))


if __name__ == "__main__":
    main()
