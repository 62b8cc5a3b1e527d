"""``geo-service layers import FILE.osm.pbf --program NAME``: OpenStreetMap context layers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo_service.cli.common import deployment_of, existing_program, fail, opened
from geo_service.errors import ServiceError
from geo_service.ingest.batches import Sender
from geo_service.services.imports import import_osm_layers
from geo_service.settings import get_settings

app = typer.Typer(help="Context layers (exclusions, candidate sites) from OpenStreetMap.")


@app.command("import")
def layers_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="an .osm.pbf extract")],
    program: Annotated[str, typer.Option(help="the program (create it with its area first)")],
    replace: Annotated[
        bool,
        typer.Option(help="replace the exclusion and candidate layers (then any bad row fails)"),
    ] = False,
) -> None:
    """Schools, daycares (kindergarten, childcare) and playgrounds become exclusions;
    pharmacies, clinics, doctors, health centres and homeless shelters become candidate
    sites with their OSM tags in the notes. Features outside the program's area are
    refused and counted."""
    with opened(get_settings()) as (store, defaults):
        program_id = existing_program(store, program)
        deployment = deployment_of(store, defaults, program_id)
        try:
            done = import_osm_layers(
                store, deployment, Sender(program_id), file, replace_layers=replace
            )
        except ServiceError as exc:
            raise fail(exc.detail) from None
    for target, imported in done.items():
        refused = len(imported.rejected)
        note = f"; {refused} refused (outside the area or unusable)" if refused else ""
        typer.echo(f"Stored {imported.accepted} {target} in program '{program}'{note}.")
