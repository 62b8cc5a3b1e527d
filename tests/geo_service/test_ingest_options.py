"""`geo-service ingest events` as a newcomer uses it on someone else's file (issue 16 part 6):
a date column beside a time-of-day column, %z, --where, --drop-duplicates, dates without
times stored as whole days, naloxone_given, and site_type listed in --help."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_service.cli import app
from geo_service.deployment import Deployment
from geo_service.settings import get_settings
from geo_service.storage import StoredEvent
from geo_service.storage.sql import open_store
from tests.conftest import TOWN

runner = CliRunner()
LON, LAT = TOWN  # inside the default (Flin Flon, America/Winnipeg) area
FAR_LAT = LAT + 0.01  # about 1.1 km north: another cell


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL", f"sqlite:///{tmp_path}/options.sqlite3")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _csv(folder: Path, text: str) -> Path:
    path = folder / "events.csv"
    path.write_text(text)
    return path


def _events(program: str = "demo") -> list[StoredEvent]:
    settings = get_settings()
    store = open_store(settings.database_url, grid_record=Deployment(settings).grid_record())
    try:
        program_id = store.program_id(program)
        return [] if program_id is None else store.all_events(program_id)
    finally:
        store.close()


def _utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def _ingest(file: Path, *options: str) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", "events", str(file), *options])
    return result.exit_code, result.output


def test_a_date_column_and_a_time_of_day_column(env: Path) -> None:
    file = _csv(
        env,
        "day,clock,lat,lon\n"
        f"10/05/2026,02:20 PM,{LAT},{LON}\n"
        f"10/06/2026,,{LAT},{LON}\n",  # a date only: the whole day, not midnight
    )
    options = ["--set", "kind=needle_report", "--column", "latitude=lat"]
    options += ["--column", "longitude=lon", "--time-column", "date=day"]
    options += ["--time-column", "time=clock", "--time-format", "%m/%d/%Y %I:%M %p"]
    code, output = _ingest(file, *options)
    assert code == 0, output
    assert "1 events have a date but no time of day" in output
    by_start = {e.bucket_start: e for e in _events()}
    # Winnipeg is UTC-5 in October: 14:20 local is in the 19:00 UTC hour.
    timed = by_start[_utc("2026-10-05T19:00:00")]
    assert (timed.bucket_hours, timed.time_precision) == (1, "hour")
    # The date alone is the whole local day, from local midnight (05:00 UTC).
    day = by_start[_utc("2026-10-06T05:00:00")]
    assert (day.bucket_hours, day.time_precision) == (24, "day")


def test_date_and_time_columns_in_iso_form_need_no_format(env: Path) -> None:
    file = _csv(env, f"d,t,latitude,longitude\n2026-10-05,09:45,{LAT},{LON}\n")
    code, output = _ingest(
        file, "--set", "kind=cleanup", "--time-column", "date=d", "--time-column", "time=t"
    )
    assert code == 0, output
    [event] = _events()
    assert event.bucket_start == _utc("2026-10-05T14:00:00")
    assert event.time_precision == "hour"


def test_a_time_column_without_its_date_is_one_clear_error(env: Path) -> None:
    file = _csv(env, f"d,t,latitude,longitude\n2026-10-05,09:45,{LAT},{LON}\n")
    code, output = _ingest(file, "--set", "kind=cleanup", "--time-column", "time=t")
    assert code == 2
    assert "--time-column date=COL" in output
    assert _events() == []


def test_a_date_only_format_stores_whole_days(env: Path) -> None:
    file = _csv(env, f"kind,observed_at,latitude,longitude\noverdose,2026-10-05,{LAT},{LON}\n")
    code, output = _ingest(file, "--time-format", "%Y-%m-%d")
    assert code == 0, output
    [event] = _events()
    # Not the 00:00-06:00 overdose block: the whole day.
    assert (event.bucket_start, event.bucket_hours) == (_utc("2026-10-05T05:00:00"), 24)
    assert event.time_precision == "day"


def test_a_bare_date_without_any_option_is_a_day(env: Path) -> None:
    file = _csv(
        env,
        "kind,observed_at,latitude,longitude\n"
        f"needle_report,2026-10-05,{LAT},{LON}\n"
        f"needle_report,2026-10-05T10:30:00-05:00,{LAT},{LON}\n",
    )
    code, output = _ingest(file)
    assert code == 0, output
    precision = sorted((e.time_precision, e.bucket_hours) for e in _events())
    assert precision == [("day", 24), ("hour", 1)]


def test_percent_z_reads_each_rows_own_offset(env: Path) -> None:
    """It raised TypeError before; both rows are the same instant, 19:20 UTC."""
    file = _csv(
        env,
        "kind,observed_at,latitude,longitude\n"
        f"needle_report,2026-10-05 14:20:00-0500,{LAT},{LON}\n"
        f"needle_report,2026-10-05 20:20:00+0100,{LAT},{FAR_LAT - LAT + LON}\n",
    )
    code, output = _ingest(file, "--time-format", "%Y-%m-%d %H:%M:%S%z")
    assert code == 0, output
    assert "Stored 2 events" in output
    assert {e.bucket_start for e in _events()} == {_utc("2026-10-05T19:00:00")}


def test_percent_z_with_a_row_without_offset_rejects_that_row(env: Path) -> None:
    file = _csv(
        env,
        "kind,observed_at,latitude,longitude\n"
        f"needle_report,2026-10-05 14:20:00-0500,{LAT},{LON}\n"
        f"needle_report,2026-10-05 14:20:00,{LAT},{LON}\n",
    )
    code, output = _ingest(file, "--time-format", "%Y-%m-%d %H:%M:%S%z")
    assert code == 0, output
    assert "Stored 1 events" in output and "row 1: invalid_timestamp" in output


WHERE_FILE = (
    "kind,observed_at,latitude,longitude,neighborhood\n"
    f"needle_report,2026-10-05T10:30:00-05:00,{LAT},{LON},North\n"
    f"needle_report,2026-10-05T11:30:00-05:00,{FAR_LAT},{LON},Centre of City\n"
    f"needle_report,2026-10-05T12:30:00-05:00,{FAR_LAT},{LON},Centre of City\n"
    f"needle_report,2026-10-05T13:30:00-05:00,{LAT},{LON},South\n"
)


def test_where_leaves_rows_out_before_any_check(env: Path) -> None:
    file = _csv(env, WHERE_FILE)
    code, output = _ingest(file, "--where", "neighborhood != Centre of City")
    assert code == 0, output
    assert "Left out 2 rows by --where." in output and "Stored 2 events" in output
    assert {e.bucket_start for e in _events()} == {
        _utc("2026-10-05T15:00:00"),
        _utc("2026-10-05T18:00:00"),
    }


def test_several_where_conditions_all_hold(env: Path) -> None:
    file = _csv(env, WHERE_FILE)
    code, output = _ingest(
        file, "--where", "NEIGHBORHOOD != Centre of City", "--where", "neighborhood == 'South'"
    )
    assert code == 0, output
    [event] = _events()
    assert event.bucket_start == _utc("2026-10-05T18:00:00")


def test_where_on_a_column_the_file_lacks_stores_nothing(env: Path) -> None:
    file = _csv(env, WHERE_FILE)
    code, output = _ingest(file, "--where", "district != 4")
    assert code == 2
    assert "'district'" in output and "does not have" in output
    assert "Centre of City" not in output  # the file's cells are never echoed
    assert _events() == []
    code, output = _ingest(file, "--where", "neighborhood")
    assert code == 2 and "FIELD=VALUE" in output  # neither a mapping nor a condition


def test_drop_duplicates_keeps_one_per_kind_cell_and_bucket(env: Path) -> None:
    file = _csv(
        env,
        "kind,observed_at,latitude,longitude\n"
        f"needle_report,2026-10-05T10:05:00-05:00,{LAT},{LON}\n"
        f"needle_report,2026-10-05T10:40:00-05:00,{LAT},{LON}\n"  # same cell, same hour
        f"needle_report,2026-10-05T10:50:00-05:00,{LAT},{LON}\n"
        f"needle_report,2026-10-05T11:05:00-05:00,{LAT},{LON}\n"  # next hour
        f"cleanup,2026-10-05T10:05:00-05:00,{LAT},{LON}\n"  # another kind
        f"needle_report,2026-10-05T10:05:00-05:00,{FAR_LAT},{LON}\n",  # another cell
    )
    code, output = _ingest(file, "--drop-duplicates")
    assert code == 0, output
    assert "Dropped 2 duplicates" in output and "Stored 4 events" in output
    assert len(_events()) == 4


def test_without_drop_duplicates_every_row_is_kept(env: Path) -> None:
    row = f"needle_report,2026-10-05T10:05:00-05:00,{LAT},{LON}\n"
    file = _csv(env, "kind,observed_at,latitude,longitude\n" + row * 3)
    code, output = _ingest(file)
    assert code == 0 and "Dropped" not in output
    assert len(_events()) == 3


def test_naloxone_given_is_stored_for_overdoses(env: Path) -> None:
    file = _csv(
        env,
        "kind,observed_at,latitude,longitude,narcan,naloxone_doses\n"
        f"overdose,2026-10-05T01:00:00-05:00,{LAT},{LON},Yes,2\n"
        f"overdose,2026-10-05T07:00:00-05:00,{LAT},{LON},no,\n"
        f"overdose,2026-10-05T13:00:00-05:00,{LAT},{LON},1,\n"
        f"overdose,2026-10-05T19:00:00-05:00,{LAT},{LON},,\n"
        f"overdose,2026-10-06T01:00:00-05:00,{LAT},{LON},maybe,\n"
        f"overdose,2026-10-06T07:00:00-05:00,{LAT},{LON},no,3\n"
        f"needle_report,2026-10-06T13:00:00-05:00,{LAT},{LON},yes,\n",
    )
    code, output = _ingest(file, "--column", "naloxone_given=narcan")
    assert code == 0, output
    assert "Stored 4 events" in output
    assert "row 4: invalid_value: CSV line 6: naloxone_given must be yes or no" in output
    assert "row 5: invalid_value: CSV line 7: naloxone_given is no but naloxone_doses" in output
    assert "row 6: field_not_for_kind" in output
    stored = sorted(_events(), key=lambda e: e.bucket_start)
    assert [(e.naloxone_given, e.naloxone_doses) for e in stored] == [
        (True, 2),
        (False, None),
        (True, None),
        (None, None),
    ]


def test_sites_help_lists_every_site_type() -> None:
    from geo_service.ingest.sites import SiteType

    result = runner.invoke(app, ["ingest", "sites", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for site_type in SiteType:
        assert site_type.value in text


def test_drop_duplicates_holds_across_chunks(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large file is checked a chunk at a time; a repeat in a later chunk is still one."""
    import geo_service.ingest.tabular as tabular

    monkeypatch.setattr(tabular, "CHUNK_ROWS", 2)
    row = f"needle_report,2026-10-05T10:05:00-05:00,{LAT},{LON}\n"
    other = f"needle_report,2026-10-05T12:05:00-05:00,{LAT},{LON}\n"
    file = _csv(env, "kind,observed_at,latitude,longitude\n" + row + other + row + row + other)
    code, output = _ingest(file, "--drop-duplicates")
    assert code == 0, output
    assert "Dropped 3 duplicates" in output and "Stored 2 events" in output
    assert len(_events()) == 2
