"""``geo-service releases make``: make the releases that are due now (for cron)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from geo_service.cli.common import existing_program, opened
from geo_service.services.releases.ahead import ReleaseMaker
from geo_service.settings import get_settings

app = typer.Typer(help="Frozen releases: what peers, planners and the public are shown.")


@app.command("make")
def releases_make(
    program: Annotated[str | None, typer.Option(help="only this program")] = None,
) -> None:
    """Make, for every kind, the latest published month, quarter, half-year and year, and any
    period whose grace window just ended, unless already made.

    A release is made once and never changes, so running it again is harmless. Run it from
    cron (the server also makes just-published periods itself), or after importing history.
    """
    settings = get_settings()
    with opened(settings) as (store, defaults):
        only = existing_program(store, program) if program is not None else None
        maker = ReleaseMaker(store, defaults, every_s=0)
        start = time.perf_counter()
        outcomes = maker.tick(now=time.time(), latest=True, program_id=only)
        for o in outcomes:
            typer.echo(f"{o.program} {o.kind} {o.period}: {o.result}")
        made = sum(o.result == "made" for o in outcomes)
        typer.echo(f"{made} made in {time.perf_counter() - start:.1f} s.")
