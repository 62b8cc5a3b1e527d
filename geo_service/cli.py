"""The ``geo-service`` command: demo, serve, ingest and keys."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import pandas as pd
import typer
from tqdm import tqdm

from geo_service.audit import record, verify_chain
from geo_service.auth import Role, create_key, revoke_key
from geo_service.deployment import Deployment
from geo_service.errors import ConfigurationError, ServiceError
from geo_service.http import decode_text
from geo_service.ingest.batches import run_batch
from geo_service.ingest.events import (
    CSV_COLUMNS,
    CSV_REQUIRED,
    Rejection,
    events_from_columns,
    events_from_geojson,
    iter_csv_chunks,
    validate_events,
)
from geo_service.ingest.layers import context_from_csv, context_from_geojson
from geo_service.ingest.sites import (
    SITE_CSV_COLUMNS,
    SITE_CSV_REQUIRED,
    sites_from_columns,
    sites_from_geojson,
)
from geo_service.periods import Bucket, latest_published
from geo_service.services.releases import DEFAULT_GRACE_DAYS, late_rows
from geo_service.settings import EventKind, Settings, get_settings
from geo_service.storage import BatchRecord, EventRows
from geo_service.storage.sql import SqlStore, open_store

app = typer.Typer(
    help="Privacy-first hot-spot service for harm-reduction programs.",
    no_args_is_help=True,
    add_completion=False,
    # Rich tracebacks print local variables, which can hold raw coordinates.
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
audit_app = typer.Typer(help="Read and verify the audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
program_app = typer.Typer(
    help="A program's publication settings, export and deletion (the steward's).",
    no_args_is_help=True,
)
app.add_typer(program_app, name="program")
network_app = typer.Typer(
    help="The walking network clean-up routes follow (from an OpenStreetMap extract).",
    no_args_is_help=True,
)
app.add_typer(network_app, name="network")
CHUNK_ROWS = 100_000


@contextmanager
def opened(settings: Settings) -> Iterator[tuple[SqlStore, Deployment]]:
    """The store and the deployment for one command; the store is closed however it ends."""
    deployment = Deployment(settings)
    try:
        store = open_store(
            settings.database_url,
            grid_record=deployment.grid_record(),
            timeouts=settings.database_timeouts,
        )
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    try:
        yield store, deployment
    finally:
        store.close()


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(2)


@app.command()
def demo(
    reset: Annotated[bool, typer.Option(help="replace the demo program's data if present")] = True,
) -> None:
    """Create the database and load the synthetic demo town (program 'demo')."""
    from geo_service.demo import load_demo

    settings = get_settings()
    with opened(settings) as (store, deployment):
        program_id = store.get_or_create_program("demo")
        if any(store.count_rows(program_id).values()):
            if not reset:
                raise _fail("the demo program already has data; run with --reset to replace it")
            store.delete_program_data(program_id)
        with tqdm(total=5, desc="demo town", unit="step", file=sys.stderr) as steps:
            loaded = load_demo(store, deployment, program_id, step=steps.update)
        for old in store.list_keys("demo"):
            if old.revoked_on is None and old.label == "demo":
                revoke_key(store, old.id)
        typer.echo(
            f"Loaded the synthetic demo town: {loaded.events} events "
            f"({loaded.refused} generated outside the area were refused), "
            f"{loaded.sites} service sites, {loaded.context} context features, "
            f"a walking network of {loaded.network.nodes} nodes and {loaded.network.edges} edges."
        )
        typer.echo("Demo keys (shown once; earlier demo keys are revoked):")
        for role in Role:
            _, key = create_key(store, program="demo", role=role, label="demo")
            typer.echo(f"  {role.value:8s} {key}")


@app.command()
def migrate() -> None:
    """Create the database or bring its schema up to date (safe to run from many servers)."""
    with opened(get_settings()) as (store, _):
        revision = store.ping()
    typer.echo(f"The database schema is at revision {revision}.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="worker processes (more than 1 needs PostgreSQL)")
    ] = 1,
) -> None:
    """Run the HTTP service."""
    import uvicorn

    settings = get_settings()
    with opened(settings) as (store, deployment):  # fail here, with the message, not in uvicorn
        dialect = store.dialect
    if workers > 1 and dialect == "sqlite":
        typer.secho(
            "note: several workers on SQLite queue on its one writer; use PostgreSQL for them",
            fg="yellow",
            err=True,
        )
    base = f"http://{host}:{port}"
    quarter = latest_published(
        Bucket.QUARTER, now=time.time(), grace_days=DEFAULT_GRACE_DAYS, tz=deployment.tz
    )
    typer.echo(
        f"Serving on {base}\n  maps:      {base}/maps (sign in by pasting a key)\n"
        f"  API docs:  {base}/docs\n  health:    {base}/healthz\n"
        f"  events:    {base}/v1/events (manager key: Authorization: Bearer <key>)\n"
        f"  sites:     {base}/v1/sites\n"
        f"  hot spots: {base}/v1/hotspots?kind=needle_report (manager key; peers add "
        f"&period={quarter}; try method=dbscan, hdbscan or density)\n"
        f"  released:  {base}/v1/published?kind=overdose&period={quarter} (what peers see)\n"
        f"  audit:     {base}/v1/audit (steward key)"
    )
    # uvicorn's access log prints query strings; ours logs method, path and status only.
    # Each worker builds its app from the same GEO_SERVICE_* environment.
    uvicorn.run(
        "geo_service.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,
    )


def _parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        target, sep, value = pair.partition("=")
        if not sep or not target:
            raise _fail(f"{what} takes FIELD=VALUE, for example observed_at=opened")
        out[target.strip().lower()] = value.strip()
    return out


def _print_rejections(rejected: list[Rejection], rejects_file: Path | None) -> None:
    if not rejected:
        return
    codes: dict[str, int] = {}
    for r in rejected:
        codes[r.code] = codes.get(r.code, 0) + 1
    summary = ", ".join(f"{code} {n}" for code, n in sorted(codes.items()))
    typer.echo(f"Rejected {len(rejected)} rows ({summary}).", err=True)
    for r in rejected[:10]:
        typer.echo(f"  row {r.index}: {r.code}: {r.detail}", err=True)
    if rejects_file is not None:
        with rejects_file.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "code", "detail"])
            writer.writerows([r.index, r.code, r.detail] for r in rejected)
        typer.echo(f"Every rejected row is listed in {rejects_file}.", err=True)
    elif len(rejected) > 10:
        typer.echo("  ... use --rejects FILE to list them all", err=True)


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


def _csv_events(
    deployment: Deployment,
    path: Path,
    *,
    rename: dict[str, str],
    constants: dict[str, str],
    time_format: str | None,
    rejected: list[Rejection],
) -> list[EventRows]:
    chunks: list[EventRows] = []
    with (
        tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc="ingest", file=sys.stderr
        ) as bar,
        path.open("r", encoding="utf-8-sig", newline="") as handle,
    ):
        for chunk in iter_csv_chunks(
            _ByteProgress(handle, bar),
            allowed=CSV_COLUMNS,
            required=CSV_REQUIRED,
            chunk_rows=CHUNK_ROWS,
            rename=rename,
            ignore_unknown=True,
            constants=constants,
        ):
            observed = None
            if time_format:
                local = pd.to_datetime(
                    pd.Series(chunk.columns["observed_at"]), format=time_format, errors="coerce"
                )
                observed = (
                    pd.DatetimeIndex(local)
                    .tz_localize(deployment.tz, ambiguous="NaT", nonexistent="NaT")
                    .tz_convert("UTC")
                )
            raw = events_from_columns(chunk.columns, chunk.errors, chunk.lines, observed)
            batch = validate_events(raw, deployment)
            rejected += [
                Rejection(r.index + chunk.first_index, r.code, r.detail) for r in batch.rejected
            ]
            chunks.append(batch.rows)
    return chunks


def _is_json(file: Path) -> bool:
    return file.suffix.lower() in (".json", ".geojson")


@dataclass(frozen=True)
class _Upload:
    """What one ingest stores: its batch target, the rows accepted and how to write them."""

    target: str
    accepted: int
    write: Callable[[BatchRecord], None]


def _sites_upload(
    store: SqlStore,
    deployment: Deployment,
    file: Path,
    rename: dict[str, str],
    constants: dict[str, str],
    rejected: list[Rejection],
) -> _Upload:
    if _is_json(file):
        records, bad = sites_from_geojson(
            orjson.loads(file.read_bytes()), deployment, max_rows=sys.maxsize
        )
        rejected += bad
    else:
        records = []
        with file.open(encoding="utf-8-sig", newline="") as handle:
            for chunk in iter_csv_chunks(
                handle,
                allowed=SITE_CSV_COLUMNS,
                required=SITE_CSV_REQUIRED,
                chunk_rows=CHUNK_ROWS,
                rename=rename,
                ignore_unknown=True,
                constants=constants,
            ):
                got, bad = sites_from_columns(chunk.columns, chunk.errors, chunk.lines, deployment)
                records += got
                rejected += [Rejection(r.index + chunk.first_index, r.code, r.detail) for r in bad]
    return _Upload("sites", len(records), lambda record: store.store_sites(record, records))


def _layer_upload(
    store: SqlStore,
    deployment: Deployment,
    file: Path,
    program_id: int,
    name: str,
    replace: bool,
    rejected: list[Rejection],
) -> _Upload:
    if _is_json(file):
        context, bad = context_from_geojson(
            orjson.loads(file.read_bytes()), name, deployment, max_rows=sys.maxsize
        )
    else:
        context, bad = context_from_csv(
            decode_text(file.read_bytes()), name, deployment, max_rows=sys.maxsize
        )
    rejected += bad

    def write(record: BatchRecord) -> None:
        store.store_context(
            program_id, context, batch=record, replace_layer=name if replace else None
        )

    return _Upload(f"{name}s", len(context), write)


def _events_upload(
    store: SqlStore,
    deployment: Deployment,
    file: Path,
    program_id: int,
    *,
    rename: dict[str, str],
    constants: dict[str, str],
    time_format: str | None,
    rejected: list[Rejection],
) -> _Upload:
    if _is_json(file):
        raw = events_from_geojson(orjson.loads(file.read_bytes()), max_rows=sys.maxsize)
        batch = validate_events(raw, deployment)
        chunks = [batch.rows]
        rejected += batch.rejected
    else:
        chunks = _csv_events(
            deployment,
            file,
            rename=rename,
            constants=constants,
            time_format=time_format,
            rejected=rejected,
        )

    def write(record: BatchRecord) -> None:
        marked = [
            dataclasses.replace(c, late=late_rows(store, deployment, program_id, c)) for c in chunks
        ]
        held = sum(int(c.late.sum()) for c in marked if c.late is not None)
        if held:
            typer.echo(
                f"{held} rows fall in months already published: stored for managers, "
                "left out of what peers, planners and the public see"
            )
        store.store_event_stream(record, marked)

    return _Upload("events", sum(len(c) for c in chunks), write)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or GeoJSON file")],
    program: Annotated[str, typer.Option(help="the program the data belongs to")] = "demo",
    kind: Annotated[EventKind | None, typer.Option(help="the event kind of every row")] = None,
    sites: Annotated[bool, typer.Option("--sites", help="the file holds service sites")] = False,
    candidates: Annotated[
        bool, typer.Option("--candidates", help="the file holds candidate sites for siting")
    ] = False,
    exclusions: Annotated[
        bool,
        typer.Option("--exclusions", help="the file holds schools, daycares, playgrounds"),
    ] = False,
    replace: Annotated[
        bool, typer.Option(help="with --candidates/--exclusions: replace the whole layer")
    ] = False,
    column: Annotated[
        list[str] | None,
        typer.Option(help="take FIELD from the file's column: observed_at=opened (repeatable)"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="a constant FIELD=VALUE for every row (repeatable)"),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            help="a column of the file to leave out even if its name matches (repeatable)"
        ),
    ] = None,
    time_format: Annotated[
        str | None,
        typer.Option(
            help="strftime format of observed_at in local time, e.g. '%m/%d/%Y %I:%M:%S %p'"
        ),
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="write every rejected row here (CSV)")
    ] = None,
    all_or_nothing: Annotated[bool, typer.Option(help="store nothing if any row fails")] = False,
) -> None:
    """Import events (or --sites, --candidates, --exclusions) from CSV or GeoJSON, checked
    and blurred exactly as the API does.

    Columns not named in the schema are ignored and never read into the database.
    """
    if sum([sites, candidates, exclusions]) > 1:
        raise _fail("choose one of --sites, --candidates and --exclusions")
    if (candidates or exclusions) and (column or set_ or ignore or kind or time_format):
        raise _fail("--column, --set, --ignore, --kind and --time-format apply to events and sites")
    if replace and not (candidates or exclusions):
        raise _fail("--replace applies to --candidates and --exclusions")
    settings = get_settings()
    with opened(settings) as (store, deployment):
        rename = _parse_pairs(column or [], "--column")
        # A source column mapped to a name outside the schema is left out.
        rename.update({f"ignored:{name}": name for name in ignore or []})
        constants = _parse_pairs(set_ or [], "--set")
        if kind is not None:
            constants["kind"] = kind.value
        program_id = store.get_or_create_program(program)
        # Filled as rows are read, so a refusal part-way still lists what was rejected.
        rejected: list[Rejection] = []
        try:
            if sites:
                upload = _sites_upload(store, deployment, file, rename, constants, rejected)
            elif candidates or exclusions:
                name = "candidate" if candidates else "exclusion"
                upload = _layer_upload(store, deployment, file, program_id, name, replace, rejected)
                all_or_nothing = all_or_nothing or replace
            else:
                upload = _events_upload(
                    store,
                    deployment,
                    file,
                    program_id,
                    rename=rename,
                    constants=constants,
                    time_format=time_format,
                    rejected=rejected,
                )
            target = upload.target
            answer, _ = run_batch(
                store,
                program_id=program_id,
                key_id=None,
                target=target,
                idempotency_key=None,
                fingerprint=uuid.uuid4().hex,
                accepted=upload.accepted,
                rejected=rejected,
                all_or_nothing=all_or_nothing,
                write=upload.write,
            )
        except ServiceError as exc:
            _print_rejections(rejected, rejects)
            raise _fail(f"Nothing was stored: {exc.detail}") from None
        except orjson.JSONDecodeError:
            raise _fail("Nothing was stored: the file is not valid JSON") from None
    _print_rejections(rejected, rejects)
    typer.echo(
        f"Stored {answer['accepted']} {target} in program '{program}' (batch {answer['batch_id']})."
    )


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="peer, planner, manager or steward")],
    program: Annotated[str, typer.Option(help="program name; created if new")],
    label: Annotated[str | None, typer.Option(help="a note to recognise the key by")] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    with opened(get_settings()) as (store, _):
        try:
            key_id, key = create_key(store, program=program, role=role, label=label)
        except ServiceError as exc:
            raise _fail(exc.detail) from None
    typer.echo(key)
    typer.echo(
        f"Key {key_id} ({role.value}, program {program}). It is shown only now; store it safely.",
        err=True,
    )


@keys_app.command("list")
def keys_list(program: Annotated[str | None, typer.Option()] = None) -> None:
    """List keys (their ids and first characters, never the keys)."""
    with opened(get_settings()) as (store, _):
        keys = store.list_keys(program)
    for key in keys:
        state = f"revoked {key.revoked_on}" if key.revoked_on else "active"
        typer.echo(
            f"{key.id}\t{key.program}\t{key.role}\t{key.prefix}…\t{key.created_on}\t"
            f"{state}\t{key.label or ''}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="the id shown by 'keys list'")]) -> None:
    """Revoke a key; requests with it are refused from now on."""
    with opened(get_settings()) as (store, _):
        done = revoke_key(store, key_id)
    if not done:
        raise _fail(f"no active key with id {key_id}")
    typer.echo(f"Revoked key {key_id}.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain; exit 1 and name the first bad row if broken."""
    with opened(get_settings()) as (store, _):
        check = verify_chain(store.audit_rows(), store.audit_head())
    if not check.verified:
        where = f"at row {check.first_broken_id}" if check.first_broken_id else "at the end"
        raise _fail(
            f"The audit trail is BROKEN {where}: {check.reason}. Keep a copy of the database "
            "as evidence and tell the data steward."
        )
    typer.echo(f"The audit trail is intact: {check.rows} rows, every link and hash checked.")


@audit_app.command("list")
def audit_list(
    program: Annotated[str | None, typer.Option(help="only this program's rows")] = None,
    limit: Annotated[int, typer.Option(help="the newest rows, at most")] = 50,
) -> None:
    """Print the newest audit rows: when, who, what (never coordinates)."""
    with opened(get_settings()) as (store, _):
        program_id = store.program_id(program) if program else None
        if program and program_id is None:
            raise _fail(f"no program named {program}")
        rows = store.audit_rows(program_id)[-limit:]
    for row in rows:
        typer.echo(f"{row.id}\t{row.at}\t{row.actor}\t{row.action}\t{row.detail}")


def _program_id(store: SqlStore, program: str) -> int:
    program_id = store.program_id(program)
    if program_id is None:
        raise _fail(f"no program named {program}; 'geo-service keys list' shows the programs")
    return program_id


@program_app.command("publication")
def program_publication(
    program: Annotated[str, typer.Option(help="the program")],
    k_peer: Annotated[int | None, typer.Option(help="raise peers' threshold")] = None,
    k_planner: Annotated[int | None, typer.Option(help="raise planners' threshold")] = None,
    k_public: Annotated[int | None, typer.Option(help="raise the public threshold")] = None,
    public: Annotated[
        bool | None, typer.Option("--public/--no-public", help="publish a public layer")
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="month or quarter")] = None,
    grace_days: Annotated[
        int | None, typer.Option(help="days after a period ends before it is published")
    ] = None,
    drop_top_keys: Annotated[
        int | None, typer.Option(help="1 or 2: reporting keys removed before k is checked")
    ] = None,
) -> None:
    """Show, or change, what the program publishes. Thresholds never go below the floors."""
    from geo_service.services.publication import Audience, change_publication, threshold
    from geo_service.storage import ProgramPublication

    settings = get_settings()
    with opened(settings) as (store, _):
        program_id = _program_id(store, program)
        current = store.publication(program_id)
        asked = (k_peer, k_planner, k_public, public, bucket, grace_days, drop_top_keys)
        if any(v is not None for v in asked):
            chosen = ProgramPublication(
                k_peer=k_peer if k_peer is not None else current.k_peer,
                k_planner=k_planner if k_planner is not None else current.k_planner,
                k_public=k_public if k_public is not None else current.k_public,
                public_enabled=public if public is not None else current.public_enabled,
                bucket=bucket or current.bucket,
                grace_days=grace_days if grace_days is not None else current.grace_days,
                drop_top_keys=drop_top_keys or current.drop_top_keys,
            )
            try:
                change_publication(
                    store, settings, program_id=program_id, chosen=chosen, actor="cli"
                )
            except ServiceError as exc:
                raise _fail(exc.detail) from None
            current = chosen
        ks = ", ".join(f"{a.value} {threshold(settings, current, a)}" for a in Audience)
        typer.echo(
            f"{program}: k = {ks}; public layer {'on' if current.public_enabled else 'off'}; "
            f"bucket {current.bucket}; published {current.grace_days or 7} days after a "
            f"period ends; reports counted without the top {current.drop_top_keys or 1} "
            "reporting key(s)"
        )


@program_app.command("export")
def program_export(
    program: Annotated[str, typer.Option(help="the program")],
    out: Annotated[Path, typer.Option(help="file to write")],
    fmt: Annotated[str, typer.Option("--format", help="geojson or csv")] = "geojson",
) -> None:
    """Write the program's events and aggregates to a file (recorded in the audit trail)."""
    from geo_service.services.stewardship import export_program

    if fmt not in ("geojson", "csv"):
        raise _fail("--format is geojson or csv")
    with opened(get_settings()) as (store, deployment):
        body, _ = export_program(
            store, deployment, program_id=_program_id(store, program), fmt=fmt, actor="cli"
        )
    out.write_bytes(body)
    typer.echo(f"Wrote {out} ({len(body)} bytes).")


@program_app.command("delete-data")
def program_delete_data(
    program: Annotated[str, typer.Option(help="the program")],
    yes: Annotated[bool, typer.Option("--yes", help="really delete")] = False,
) -> None:
    """Delete the program's events, aggregates, sites and batches (keys and audit stay)."""
    if not yes:
        raise _fail("nothing was deleted: add --yes to delete the program's data")
    with opened(get_settings()) as (store, _):
        program_id = _program_id(store, program)
        before = store.count_rows(program_id)
        store.delete_program_data(program_id)
        record(store, "data.delete", actor="cli", program_id=program_id, deleted=before)
    typer.echo(f"Deleted {program}'s data: {before}.")


@app.command()
def assets() -> None:
    """Install the maps' front-end files (Leaflet) from the npm registry, pinned and checked."""
    from geo_service.assets import AssetError, install_assets

    try:
        written = install_assets()
    except AssetError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"Front-end files: {len(written)} installed" if written else "Front-end files: up to date"
    )


@app.command()
def retention(
    months: Annotated[
        int | None, typer.Option(help="override GEO_SERVICE_RETENTION_MONTHS")
    ] = None,
) -> None:
    """Fold events older than the retention period into monthly aggregates and delete them.

    Run it daily (cron, a systemd timer); it is idempotent.
    """
    from geo_service.services.stewardship import run_retention

    settings = get_settings()
    with opened(settings) as (store, deployment):
        cutoff, result = run_retention(
            store, deployment, months=months or settings.retention_months
        )
    when = dt.datetime.fromtimestamp(cutoff, deployment.tz).date()
    typer.echo(
        f"Folded {result.events_removed} events from before {when} into "
        f"{result.aggregate_rows} monthly aggregate rows."
    )


def main() -> None:
    app()


@network_app.command("import")
def network_import(
    file: Annotated[Path, typer.Argument(help="an OpenStreetMap extract (.osm.pbf)")],
    program: Annotated[str, typer.Option(help="the program the network is for")] = "demo",
) -> None:
    """Load the walkable ways of the service area from FILE, replacing the program's network.

    Nothing is downloaded: get an extract covering the area first (download.geofabrik.de or
    extract.bbbike.org), cut to the town with 'osmium extract -b' if it is large.
    """
    from geo_service.services.network import NetworkImportError, read_walking_network

    with opened(get_settings()) as (store, deployment):
        program_id = store.program_id(program)
        if program_id is None:
            raise _fail(f"there is no program called {program!r}; create a key for it first")
        with tqdm(total=3, desc="network", unit="step", file=sys.stderr) as stages:

            def stage(name: str) -> None:
                stages.set_postfix_str(name)
                if name != "reading the extract":
                    stages.update()

            try:
                rows, share = read_walking_network(file, deployment, stage=stage)
            except NetworkImportError as exc:
                raise _fail(str(exc)) from None
            stage("storing")
            total = len(rows.lon) + len(rows.u)
            with tqdm(total=total, desc="storing", unit="row", file=sys.stderr) as bar:

                def advance(n: int) -> None:
                    bar.update(n)

                info = store.replace_network(
                    program_id, source=file.name, rows=rows, area_share=share, progress=advance
                )
            stages.update()
        record(
            store,
            "network.import",
            actor="cli",
            program_id=program_id,
            nodes=info.nodes,
            edges=info.edges,
        )
    typer.echo(
        f"Walking network for {program!r}: {info.nodes} nodes, {info.edges} edges, "
        f"{info.length_km:.1f} km of paths, reaching {info.area_share:.0%} of the service area."
    )
