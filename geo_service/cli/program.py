"""``geo-service program`` and ``geo-service retention``: a program's publication
settings, export, deletion and the retention fold (the steward's)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from geo_service.audit import record
from geo_service.cli.common import deployment_of, existing_program, fail, opened
from geo_service.errors import ServiceError
from geo_service.settings import get_settings

program_app = typer.Typer(
    help="Programs: their area, CRS and time zone; publication settings, export, deletion.",
    no_args_is_help=True,
)


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
        program_id = existing_program(store, program)
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
                raise fail(exc.detail) from None
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
    fmt: Annotated[str, typer.Option("--format", help="geojson, csv or gpkg")] = "geojson",
) -> None:
    """Write the program's events and aggregates to a file (recorded in the audit trail)."""
    from geo_service.services.stewardship import export_program

    if fmt not in ("geojson", "csv", "gpkg"):
        raise fail("--format is geojson, csv or gpkg")
    with opened(get_settings()) as (store, defaults):
        program_id = existing_program(store, program)
        deployment = deployment_of(store, defaults, program_id)
        body, _ = export_program(store, deployment, program_id=program_id, fmt=fmt, actor="cli")
    out.write_bytes(body)
    typer.echo(f"Wrote {out} ({len(body)} bytes).")


@program_app.command("delete-data")
def program_delete_data(
    program: Annotated[str, typer.Option(help="the program")],
    yes: Annotated[bool, typer.Option("--yes", help="really delete")] = False,
) -> None:
    """Delete the program's events, aggregates, sites and batches (keys and audit stay)."""
    if not yes:
        raise fail("nothing was deleted: add --yes to delete the program's data")
    with opened(get_settings()) as (store, _):
        program_id = existing_program(store, program)
        before = store.count_rows(program_id)
        store.delete_program_data(program_id)
        record(store, "data.delete", actor="cli", program_id=program_id, deleted=before)
    typer.echo(f"Deleted {program}'s data: {before}.")


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
    with opened(settings) as (store, defaults):
        # Each program's months are its own time zone's: fold them one program at a time.
        for listed in store.list_programs():
            deployment = deployment_of(store, defaults, listed.id)
            cutoff, result = run_retention(
                store,
                deployment,
                months=months or settings.retention_months,
                program_id=listed.id,
            )
            when = dt.datetime.fromtimestamp(cutoff, deployment.tz).date()
            typer.echo(
                f"{listed.name}: Folded {result.events_removed} events from before {when} into "
                f"{result.aggregate_rows} monthly aggregate rows."
            )
