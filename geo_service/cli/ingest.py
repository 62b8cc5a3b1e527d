"""``geo-service ingest events|sites|candidates|exclusions FILE``: files through the same
checks, blur and batches as the API's POST routes (:mod:`geo_service.services.imports`)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer
from tqdm import tqdm

from geo_service.cli.common import deployment_of, fail, opened
from geo_service.deployment import Deployment
from geo_service.errors import ServiceError
from geo_service.ingest.batches import Sender
from geo_service.ingest.event_input import TIME_OF_DAY
from geo_service.ingest.tabular import ColumnMap, ImportNotes, RowFilter, Upload
from geo_service.services.imports import (
    Imported,
    Layer,
    gis_file_upload,
    import_events,
    import_layer,
    import_sites,
)
from geo_service.settings import get_settings
from geo_service.storage.sql import SqlStore

app = typer.Typer(
    help="Import events, service sites, candidate sites or exclusions from CSV or GeoJSON, "
    "checked and blurred exactly as the API does.",
    no_args_is_help=True,
)

FileArg = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, help="CSV, GeoJSON, GeoPackage, Shapefile (.shp/.zip) or KML"
    ),
]
ProgramOpt = Annotated[str, typer.Option(help="the program the data belongs to")]
ColumnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        "--where",
        help="the file's columns (repeatable): --column observed_at=opened takes a field from a "
        "column; --where 'neighborhood != Centre of City' (or ==) keeps only the rows it "
        "names, before any check",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "--ignore",
        help="--set FIELD=VALUE: a constant for every row, e.g. kind=overdose; --ignore COLUMN: "
        "a column of the file left out even if its name matches (repeatable)",
    ),
]
TimeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--time-column",
        "--time-format",
        help="when events happened (repeatable): --time-column date=COL --time-column time=COL "
        "joins a date column and a time-of-day column (a blank time: the whole day, never "
        "midnight); --time-format '%m/%d/%Y %I:%M %p' is their strftime format in local time "
        "(with %z: each row's own offset; without hours: dates only)",
    ),
]
DropOpt = Annotated[
    bool,
    typer.Option(help="keep one event where several share kind, cell and time bucket"),
]
RejectsOpt = Annotated[Path | None, typer.Option(help="write every rejected row here (CSV)")]
AllOrNothingOpt = Annotated[bool, typer.Option(help="store nothing if any row fails")]
ReplaceOpt = Annotated[bool, typer.Option(help="replace the whole layer (then any bad row fails)")]
Importer = Callable[[SqlStore, Deployment, Sender, Upload], Imported]


@dataclass(frozen=True)
class _Mapping:
    """The options that map someone else's columns onto ours, as typed."""

    column: list[str] | None = None
    set_: list[str] | None = None
    time: list[str] | None = None
    drop_duplicates: bool = False

    def parsed(self) -> ColumnMap:
        given = self.column or []
        where = [c for c in given if "!=" in c or "==" in c]
        rename = _parse_pairs([c for c in given if c not in where], "--column")
        # A source column mapped to a name outside the schema is left out.
        ignored = [c.strip() for c in self.set_ or [] if "=" not in c]
        rename.update({f"ignored:{name}": name for name in ignored})
        time_format = _time_columns(self.time or [], rename)
        try:
            filters = tuple(RowFilter.parse(c) for c in where)
        except ServiceError as exc:
            raise fail(exc.detail) from None
        constants = _parse_pairs([c for c in self.set_ or [] if "=" in c], "--set")
        return ColumnMap(
            rename,
            constants,
            time_format,
            ignore_unknown=True,
            where=filters,
            drop_duplicates=self.drop_duplicates,
        )


@dataclass(frozen=True)
class _Job:
    target: str  # what the rows are called in the summary
    file: Path
    program: str
    rejects: Path | None
    all_or_nothing: bool


@app.command("events")
def ingest_events(
    file: FileArg,
    program: ProgramOpt = "demo",
    column: ColumnOpt = None,
    set_: SetOpt = None,
    time_column: TimeOpt = None,
    drop_duplicates: DropOpt = False,
    rejects: RejectsOpt = None,
    all_or_nothing: AllOrNothingOpt = False,
) -> None:
    """Import needle reports, overdoses and clean-ups.

    Fields: kind (needle_report, overdose, cleanup), observed_at, latitude, longitude, count,
    source, fatal, naloxone_doses, naloxone_given (yes/no), place_type. A file without a kind
    column gives every row one with --set kind=needle_report. Columns not named in the schema
    are ignored and never read into the database.
    """
    mapping = _Mapping(column, set_, time_column, drop_duplicates)
    _run(_Job("events", file, program, rejects, all_or_nothing), mapping, _events)


@app.command("sites")
def ingest_sites(
    file: FileArg,
    program: ProgramOpt = "demo",
    column: ColumnOpt = None,
    set_: SetOpt = None,
    rejects: RejectsOpt = None,
    all_or_nothing: AllOrNothingOpt = False,
) -> None:
    """Import service sites (public places with their services and opening hours).

    site_type is one of: hr_supply, pharmacy, er, locker, vending_machine, consumption_site,
    disposal_box, outreach_stop. services are separated by ';'. Columns not named in the
    schema are ignored and never read into the database.
    """
    mapping = _Mapping(column, set_)
    _run(_Job("sites", file, program, rejects, all_or_nothing), mapping, import_sites)


@app.command("candidates")
def ingest_candidates(
    file: FileArg,
    program: ProgramOpt = "demo",
    replace: ReplaceOpt = False,
    rejects: RejectsOpt = None,
    all_or_nothing: AllOrNothingOpt = False,
) -> None:
    """Import candidate sites for lockers, vending machines or a consumption site."""
    job = _Job("candidates", file, program, rejects, all_or_nothing)
    _run(job, None, _layer("candidate", replace))


@app.command("exclusions")
def ingest_exclusions(
    file: FileArg,
    program: ProgramOpt = "demo",
    replace: ReplaceOpt = False,
    rejects: RejectsOpt = None,
    all_or_nothing: AllOrNothingOpt = False,
) -> None:
    """Import schools, daycares and playgrounds (points, or polygons in GeoJSON)."""
    job = _Job("exclusions", file, program, rejects, all_or_nothing)
    _run(job, None, _layer("exclusion", replace))


def _events(store: SqlStore, deployment: Deployment, sender: Sender, upload: Upload) -> Imported:
    return import_events(store, deployment, sender, upload)


def _layer(layer: Layer, replace: bool) -> Importer:
    def run(store: SqlStore, deployment: Deployment, sender: Sender, upload: Upload) -> Imported:
        return import_layer(store, deployment, sender, upload, layer, replace_layer=replace)

    return run


def _run(job: _Job, mapping: _Mapping | None, importer: Importer) -> None:
    with opened(get_settings()) as (store, defaults):
        columns = mapping.parsed() if mapping else ColumnMap()
        # A new program takes the deployment's defaults ('program create' gives it its own).
        program_id = store.get_or_create_program(job.program, defaults.geography.stored())
        deployment = deployment_of(store, defaults, program_id)
        sender = Sender(program_id, all_or_nothing=job.all_or_nothing)
        try:
            with _upload(job.file, columns, job.target) as upload:
                done = importer(store, deployment, sender, upload)
        except ServiceError as exc:
            _print_rejections(exc.extra.get("rejected", []), job.rejects)
            raise fail(f"Nothing was stored: {exc.detail}") from None
        except orjson.JSONDecodeError:
            raise fail("Nothing was stored: the file is not valid JSON") from None
        except UnicodeDecodeError:
            raise fail("Nothing was stored: the file is not UTF-8 text") from None
    _print_rejections(done.rejected, job.rejects)
    if "source_crs" in done.answer:
        typer.echo(f"Read in {done.answer['source_crs']}, reprojected to WGS 84 before the blur.")
    _print_notes(columns.notes)
    if done.held_back:
        typer.echo(
            f"{len(done.held_back)} rows fall in months already published: stored for "
            "managers, left out of what peers, planners and the public see"
        )
    typer.echo(
        f"Stored {done.accepted} {job.target} in program '{job.program}' (batch {done.batch_id})."
    )


@contextmanager
def _upload(file: Path, columns: ColumnMap, target: str) -> Iterator[Upload]:
    """The file as an upload: GIS files (GeoPackage, Shapefile, KML, GeoJSON naming a CRS)
    reprojected by the import service, GeoJSON parsed whole, CSV read lazily behind a
    progress bar."""
    gis = gis_file_upload(file, target, columns)
    if gis is not None:
        yield gis
        return
    if file.suffix.lower() in (".json", ".geojson"):
        yield Upload("geojson", document=orjson.loads(file.read_bytes()), columns=columns)
        return
    size = file.stat().st_size
    with (
        tqdm(total=size, unit="B", unit_scale=True, desc="ingest", file=sys.stderr) as bar,
        file.open("r", encoding="utf-8-sig", newline="") as handle,
    ):
        yield Upload("csv", lines=_ByteProgress(handle, bar), columns=columns)


class _ByteProgress:
    """Yields lines of a text file while advancing a byte progress bar."""

    def __init__(self, handle: IO[str], bar: tqdm[Any]) -> None:
        self.handle = handle
        self.bar = bar

    def __iter__(self) -> _ByteProgress:
        return self

    def __next__(self) -> str:
        line = next(self.handle)
        self.bar.update(len(line))
        return line


def _time_columns(given: list[str], rename: dict[str, str]) -> str | None:
    """--time-column date=COL / time=COL into the column map; returns the format, if any."""
    time_format = None
    for value in given:
        key, sep, rest = value.partition("=")
        if sep and key.strip().lower() == "date":
            rename["observed_at"] = rest.strip()
        elif sep and key.strip().lower() == "time":
            rename[TIME_OF_DAY] = rest.strip()
        elif sep and key.strip().lower() == "format":
            time_format = rest
        else:
            time_format = value
    if TIME_OF_DAY in rename and "observed_at" not in rename:
        raise fail("--time-column time=COL needs its date too: --time-column date=COL")
    return time_format


def _print_notes(notes: ImportNotes) -> None:
    if notes.filtered:
        typer.echo(f"Left out {notes.filtered} rows by --where.")
    if notes.duplicates:
        typer.echo(f"Dropped {notes.duplicates} duplicates (same kind, cell and time bucket).")
    if notes.day_only:
        typer.echo(
            f"{notes.day_only} events have a date but no time of day: stored as the whole "
            "day and left out of hour-of-week tables."
        )


def _parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        if not sep or not target:
            raise fail(f"{what} takes FIELD=VALUE, for example observed_at=opened")
        out[target.strip().lower()] = value.strip()
    return out


def _print_rejections(rejected: list[dict[str, Any]], rejects_file: Path | None) -> None:
    if not rejected:
        return
    codes: dict[str, int] = {}
    for r in rejected:
        codes[r["code"]] = codes.get(r["code"], 0) + 1
    summary = ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
    typer.echo(f"Rejected {len(rejected)} rows ({summary}).", err=True)
    for r in rejected[:10]:
        typer.echo(f"  row {r['index']}: {r['code']}: {r['detail']}", err=True)
    if rejects_file is not None:
        with rejects_file.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "code", "detail"])
            writer.writerows([r["index"], r["code"], r["detail"]] for r in rejected)
        typer.echo(f"Every rejected row is listed in {rejects_file}.", err=True)
    elif len(rejected) > 10:
        typer.echo("  ... use --rejects FILE to list them all", err=True)
