"""Alert rules on ingest (issue 19): evaluate_rules on the demo town against recomputing.

    .venv/bin/python bench/bench_alerts.py [--repeat 20]

Data: the demo town (two years: 6,000 needle reports, 260 overdoses and the planted spike,
clean-ups) loaded into a fresh SQLite database, with its named area and six overdose rules
over every area ("all": the program, each coarse cell, the named area), one per method:
count (3 in 24 h), naloxone (5 doses in 24 h), EARS C1, C2, C3 and EWMA.

Printed: the median of ``--repeat`` runs of ``evaluate_rules`` (what every stored batch
pays, reads included; alerts are drafted on the first run and deduplicated after), against
the naive alternative a program would otherwise run on each batch: read the program's
events with pandas, recompute the daily series of every area, then judge the same rules
(the same detectors on the same days) -- and the ratio. Target: <= 50 ms per batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.ears import HISTORY_DAYS, detect_ears  # noqa: E402
from analysis.ewma import detect_ewma, ewma_history_days  # noqa: E402
from geo_service.demo import load_demo  # noqa: E402
from geo_service.deployment import Deployment  # noqa: E402
from geo_service.services.alerts.areas import AlertAreas, areas_for  # noqa: E402
from geo_service.services.alerts.evaluate import evaluate_rules  # noqa: E402
from geo_service.settings import Settings  # noqa: E402
from geo_service.storage.alert_records import NewAlertRule  # noqa: E402
from geo_service.storage.sql import SqlStore, open_store  # noqa: E402

BUDGET_S = 0.050
RULES = (("count", 3), ("naloxone", 5), ("ears_c1", 3), ("ears_c2", 3), ("ears_c3", 3), ("ewma", 3))


def median_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rules_of_each_method(store: SqlStore, program_id: int, kind: str) -> int:
    """One rule per method over every area (naloxone: overdoses only); returns how many."""
    for rule in store.alert_rules(program_id):
        store.delete_alert_rule(program_id, rule.id, 0)
    chosen = [(m, n) for m, n in RULES if kind == "overdose" or m != "naloxone"]
    for method, threshold in chosen:
        store.add_alert_rule(
            NewAlertRule(program_id, method, kind, method, 24, threshold, "all", False, "{}", 0)
        )
    return len(chosen)


def naive(
    store: SqlStore, deployment: Deployment, program_id: int, areas: AlertAreas, now: int, kind: str
) -> int:
    """What a program would run without the kept series: everything from the events table."""
    with store.engine.connect() as conn:  # what the naive run reads on every batch
        frame = pd.read_sql_query(
            sa.text(
                "SELECT cell_m, cell_ix, cell_iy, bucket_start, bucket_hours, naloxone_doses "
                "FROM events WHERE program_id = :program AND kind = :kind"
            ),
            conn,
            params={"program": program_id, "kind": kind},
        )
    local = pd.to_datetime(frame["bucket_start"], unit="s", utc=True).dt.tz_convert(
        deployment.timezone
    )
    frame["day"] = local.dt.normalize().dt.tz_localize(None)
    size, cx, cy = areas.coarse_cells(frame["cell_m"], frame["cell_ix"], frame["cell_iy"])
    frame["coarse"] = (
        "cell:"
        + pd.Series(size).astype(str)
        + ":"
        + pd.Series(cx).astype(str)
        + ":"
        + pd.Series(cy).astype(str)
    )
    x = deployment.grid.origin_x_m + (frame["cell_ix"] + 0.5) * frame["cell_m"]
    y = deployment.grid.origin_y_m + (frame["cell_iy"] + 0.5) * frame["cell_m"]
    parts = [frame.assign(area="all"), frame.assign(area=frame["coarse"])]
    parts += [
        frame[shapely.intersects_xy(a.polygon_m, x, y)].assign(area=a.key) for a in areas.named
    ]
    long = pd.concat(parts)
    today = (
        pd.Timestamp(now, unit="s", tz="UTC")
        .tz_convert(deployment.timezone)
        .normalize()
        .tz_localize(None)
    )
    days = pd.date_range(long["day"].min(), today, freq="D")
    series = (
        long.groupby(["area", "day"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=days, fill_value=0)
    )
    counts = series.to_numpy(dtype=np.float64)
    alarms = 0
    for method in ("C1", "C2", "C3"):
        result = detect_ears(counts[:, -HISTORY_DAYS[method] :], method=method)
        alarms += int((result.alarm[:, -1] & (counts[:, -1] >= 3)).sum())
    alarms += int(
        (detect_ewma(counts[:, -ewma_history_days() :], last_days=1).level[:, -1] == 2).sum()
    )
    window = long[
        (long["bucket_start"] + long["bucket_hours"] * 3600 > now - 86_400)
        & (long["bucket_start"] <= now)
    ]
    alarms += int((window.groupby("area").size() >= 3).sum())
    if kind == "overdose":
        alarms += int((window.groupby("area")["naloxone_doses"].sum() >= 5).sum())
    return alarms


def measure(
    store: SqlStore, deployment: Deployment, program_id: int, kind: str, repeat: int
) -> None:
    rules = rules_of_each_method(store, program_id, kind)
    end = pd.Timestamp(
        max(e.bucket_start for e in store.all_events(program_id)), unit="s", tz="UTC"
    )
    now = int(end.ceil("h").timestamp())
    settings = deployment.settings
    areas = areas_for(store, deployment, program_id)

    def ours() -> object:
        return evaluate_rules(store, deployment, program_id, now=now, settings=settings)

    first = ours()
    ours_s = median_of(repeat, ours)
    naive_s = median_of(
        max(repeat // 4, 3), lambda: naive(store, deployment, program_id, areas, now, kind)
    )
    series = store.daily_series(program_id, kind, first_day="2000-01-01")
    print(
        json.dumps(
            {
                "kind": kind,
                "rules": rules,
                "areas": len({row.area for row in series}),
                "series_rows": len(series),
                "alerts_drafted_first_run": len(first),  # type: ignore[arg-type]
                "evaluate_rules_median_ms": round(ours_s * 1000, 2),
                "naive_recompute_median_ms": round(naive_s * 1000, 2),
                "ratio": round(naive_s / ours_s, 1),
                "budget_ms": BUDGET_S * 1000,
                "within_budget": ours_s <= BUDGET_S,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(database_url=f"sqlite:///{folder}/bench.sqlite3")
        deployment = Deployment(settings)
        store = open_store(settings.database_url, grid_record=deployment.grid_record())
        program_id = store.get_or_create_program("demo", deployment.geography.stored())
        started = time.perf_counter()
        end = pd.Timestamp.now(tz="UTC").floor("h")
        loaded = load_demo(store, deployment, program_id, step=lambda: None, end=end)
        print(f"demo town: {loaded.events} events loaded in {time.perf_counter() - started:.1f} s")
        for kind in ("overdose", "needle_report"):
            measure(store, deployment, program_id, kind, args.repeat)
        store.close()


if __name__ == "__main__":
    main()
