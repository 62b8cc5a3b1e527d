"""What every command shares: the store opened and closed once, and a refusal's exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from geo_service.deployment import Deployment
from geo_service.errors import ConfigurationError
from geo_service.services.alerts.evaluate import settled
from geo_service.services.program import program_deployment
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore, open_existing_store, open_store


@contextmanager
def opened(settings: Settings, *, read_only: bool = False) -> Iterator[tuple[SqlStore, Deployment]]:
    """The store and the deployment's defaults for one command; the store is closed however
    it ends. ``read_only``: the database must exist at the newest revision, and nothing in
    it is created, migrated or pinned."""
    deployment = Deployment(settings)
    try:
        if read_only:
            store = open_existing_store(settings.database_url, timeouts=settings.database_timeouts)
        else:
            store = open_store(
                settings.database_url,
                grid_record=deployment.grid_record(),
                timeouts=settings.database_timeouts,
            )
    except ConfigurationError as exc:
        raise fail(str(exc)) from None
    try:
        yield store, deployment
    finally:
        settled()  # alert rules a batch set off, and their deliveries, finish first
        store.close()


def deployment_of(store: SqlStore, defaults: Deployment, program_id: int) -> Deployment:
    """The program's own deployment (its area, CRS, time zone and grid)."""
    return program_deployment(store, defaults, program_id)


def fail(message: str) -> typer.Exit:
    """Print ``message`` in red on stderr; raise what this returns to exit with status 2."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(2)


def existing_program(store: SqlStore, program: str) -> int:
    program_id = store.program_id(program)
    if program_id is None:
        raise fail(f"no program named {program}; 'geo-service program list' shows the programs")
    return program_id
