"""What every command shares: the store opened and closed once, and a refusal's exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from geo_service.deployment import Deployment
from geo_service.errors import ConfigurationError
from geo_service.settings import Settings
from geo_service.storage.sql import SqlStore, open_store


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
        raise fail(str(exc)) from None
    try:
        yield store, deployment
    finally:
        store.close()


def fail(message: str) -> typer.Exit:
    """Print ``message`` in red on stderr; raise what this returns to exit with status 2."""
    typer.secho(message, fg="red", err=True)
    return typer.Exit(2)


def existing_program(store: SqlStore, program: str) -> int:
    program_id = store.program_id(program)
    if program_id is None:
        raise fail(f"no program named {program}; 'geo-service keys list' shows the programs")
    return program_id
