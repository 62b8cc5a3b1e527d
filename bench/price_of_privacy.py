"""The price of privacy: what share of reports each audience sees, by bucket and rule.

Loads the synthetic demo town and the real Boston 2015 needle pick-ups into temporary
databases and, for every month and quarter, releases them under each cell rule: k = 5
reports left after removing the one (or the two) reporting keys that sent most to a cell,
for peers and planners; the public layer is that release summed into cells twice as wide,
kept at k = 10. Prints the share of reports shown, and how much of it at the stored cell
size rather than rolled up. (Rows imported without a key each count as their own reporter.)

    .venv/bin/python bench/price_of_privacy.py [--boston PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.publication import coarsen, release_month, release_quarter  # noqa: E402
from geo_service.deployment import Deployment  # noqa: E402
from geo_service.periods import Bucket, parse_period, quarter_of_month  # noqa: E402
from geo_service.services.releases.making import PeriodRows, _read_reports  # noqa: E402
from geo_service.services.releases.model import PUBLIC_LEVELS, top_level  # noqa: E402
from geo_service.settings import EventKind, Settings  # noqa: E402
from geo_service.storage.sql import open_store  # noqa: E402

CLI = [str(Path(sys.executable).parent / "geo-service")]
BOSTON_ENV = {
    "GEO_SERVICE_SERVICE_AREA_BBOX": "-71.20,42.22,-70.98,42.40",
    "GEO_SERVICE_TIMEZONE": "America/New_York",
    "GEO_SERVICE_RETENTION_MONTHS": "240",  # 2015 is older than the default two years
}
RULES = (  # (audience, keys removed, k, public coarsening)
    ("peer/planner", 1, 5, False),
    ("peer/planner", 2, 5, False),
    ("public", 1, 10, True),
)


def load(database: str, extra_env: dict[str, str], command: list[str]) -> None:
    env = {**os.environ, **extra_env, "GEO_SERVICE_DATABASE_URL": database}
    subprocess.run([*CLI, *command], check=True, env=env, capture_output=True, cwd=ROOT)


def shares(name: str, settings: Settings, program: str, kinds: list[EventKind]) -> None:
    deployment = Deployment(settings)
    store = open_store(settings.database_url, grid_record=deployment.grid_record())
    program_id = store.program_id(program)
    assert program_id is not None
    for kind in kinds:
        cells = store.event_cells(program_id, kind.value, start=None, end=None)
        starts = [int(c.first_start.min()) for c in cells]
        ends = [int(c.last_end.max()) for c in cells]
        first = deployment.tz
        begin = dt.datetime.fromtimestamp(min(starts), first)
        end = dt.datetime.fromtimestamp(max(ends) - 1, first)
        months = [
            f"{y:04d}-{m:02d}"
            for y in range(begin.year, end.year + 1)
            for m in range(1, 13)
            if (y, m) >= (begin.year, begin.month) and (y, m) <= (end.year, end.month)
        ]
        quarters = sorted({quarter_of_month(p) for p in months})
        for bucket, periods in (("month", months), ("quarter", quarters)):
            for audience, drop, k, public in RULES:
                total = shown = fine = 0
                for label in periods:
                    period = parse_period(label, deployment)
                    rows = PeriodRows(store, program_id, kind, period)
                    reports = _read_reports(rows, deployment, period)
                    atoms = reports.atoms
                    if period.bucket == Bucket.MONTH:
                        features = release_month(
                            atoms, period.months[0], k=5, drop_top_keys=drop
                        ).features
                    else:
                        month_layers, residual = release_quarter(
                            atoms, list(period.months), k=5, drop_top_keys=drop,
                            top_level=top_level(deployment, deployment.cell_m(kind)),
                        )  # fmt: skip
                        features = [f for m in month_layers.values() for f in m.features]
                        features += residual.features
                    if public:
                        features = coarsen(features, levels=PUBLIC_LEVELS, k=k)
                    total += int(atoms.count.sum())
                    shown += sum(f.count for f in features)
                    fine += sum(f.count for f in features if f.level == 0)
                print(
                    f"{name:10s} {kind.value:13s} {bucket:8s} {audience:13s} k={k:2d} "
                    f"without top {drop}: {shown / max(total, 1):6.1%} of {total:,} reports "
                    f"shown, {fine / max(total, 1):6.1%} at the stored "
                    f"{deployment.cell_m(kind)} m cells ({len(periods)} {bucket}s)"
                )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--boston", type=Path, default=ROOT.parent / "shared/data/boston_needle_pickups_2015.csv"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        demo_url = f"sqlite:///{tmp}/demo.sqlite3"
        load(demo_url, {}, ["demo"])
        shares(
            "demo town",
            Settings(database_url=demo_url),
            "demo",
            [EventKind.NEEDLE_REPORT, EventKind.OVERDOSE],
        )
        boston_url = f"sqlite:///{tmp}/boston.sqlite3"
        load(
            boston_url,
            BOSTON_ENV,
            [
                "ingest",
                "events",
                str(args.boston),
                "--program",
                "boston",
                "--set",
                "kind=needle_report",
                "--column",
                "observed_at=opened",
                "--ignore",
                "source",
                "--set",
                "source=city",
                "--time-format",
                "%m/%d/%Y %I:%M:%S %p",
            ],
        )
        shares(
            "Boston",
            Settings(
                database_url=boston_url,
                service_area_bbox=(-71.20, 42.22, -70.98, 42.40),
                timezone="America/New_York",
                retention_months=240,
            ),
            "boston",
            [EventKind.NEEDLE_REPORT],
        )


if __name__ == "__main__":
    main()
