"""Setting a service up: the database, the demo town, the walking network, the maps'
front-end files, and running it."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from geo_service.audit import record
from geo_service.auth import Role, create_key, revoke_key
from geo_service.cli.common import deployment_of, fail, opened
from geo_service.periods import Bucket, latest_published
from geo_service.services.releases import DEFAULT_GRACE_DAYS
from geo_service.settings import get_settings

network_app = typer.Typer(
    help="The walking network clean-up routes follow (from an OpenStreetMap extract).",
    no_args_is_help=True,
)


def demo(
    reset: Annotated[bool, typer.Option(help="replace the demo program's data if present")] = True,
) -> None:
    """Create the database and load the synthetic demo town (program 'demo')."""
    from geo_service.demo import load_demo
    from geo_service.demo_report import demo_headlines, headline_lines
    from geo_service.services.hotspots import HotspotCache
    from geo_service.services.invites import InviteAsk, create_invite, join_url
    from geo_service.services.network import NetworkCache
    from geo_service.services.program import Services

    settings = get_settings()
    with opened(settings) as (store, defaults):
        program_id = store.get_or_create_program("demo", defaults.geography.stored())
        deployment = deployment_of(store, defaults, program_id)
        if any(store.count_rows(program_id).values()):
            if not reset:
                raise fail("the demo program already has data; run with --reset to replace it")
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
        if loaded.alerts:
            typer.echo(
                "Alerts drafted by the demo's rules, waiting for a manager to confirm "
                "(geo-service alerts list --program demo):"
            )
            for line in loaded.alerts:
                typer.echo(f"  {line}")
        services = Services(
            store, defaults, settings, HotspotCache(settings.hotspot_cache_entries), NetworkCache()
        )
        for line in headline_lines(demo_headlines(services, program_id, now=time.time())):
            typer.echo(line)
        typer.echo("Demo keys (shown once; earlier demo keys are revoked):")
        for role in Role:
            _, key = create_key(store, program="demo", role=role, label="demo")  # program exists
            typer.echo(f"  {role.value:8s} {key}")
        ask = InviteAsk(program_id=program_id, program="demo", role=Role.PEER, label="demo")
        code = create_invite(store, ask, actor="demo").code
        typer.echo(
            "A peer's phone (or a narrow browser window): open "
            f"{join_url(settings.public_url or 'http://127.0.0.1:8000', code)} and tap Join "
            "(one use, for 24 hours), then report from /report."
        )


def migrate() -> None:
    """Create the database or bring its schema up to date (safe to run from many servers)."""
    with opened(get_settings()) as (store, _):
        revision = store.ping()
    typer.echo(f"The database schema is at revision {revision}.")


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="worker processes; they share everything through the database (on SQLite "
            "they queue for its one writer: use PostgreSQL for several, or several hosts)",
        ),
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
    listening = f"http://{host}:{port}"
    # Behind a proxy (several hosts), people use the public address, not this one.
    base = settings.public_url or listening
    quarter = latest_published(
        Bucket.QUARTER, now=time.time(), grace_days=DEFAULT_GRACE_DAYS, tz=deployment.tz
    )
    shared = (
        f"\n  workers:   {workers}, sharing limits, sessions, releases and caches' versions "
        "through the database (more hosts may serve it too: same GEO_SERVICE_* settings)"
        if workers > 1 and dialect == "postgresql"
        else ""
    )
    public = f" (public address {base})" if base != listening else ""
    typer.echo(
        f"Serving on {listening}{public}{shared}\n"
        f"  maps:      {base}/maps (sign in by pasting a key)\n"
        f"  phone:     {base}/report (a peer signed in with an invite's code on /join)\n"
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


def assets() -> None:
    """Install the front-end files (Leaflet, Swagger UI) from the npm registry, pinned."""
    from geo_service.assets import AssetError, install_assets

    try:
        written = install_assets()
    except AssetError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"Front-end files: {len(written)} installed" if written else "Front-end files: up to date"
    )


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

    with opened(get_settings()) as (store, defaults):
        program_id = store.program_id(program)
        if program_id is None:
            raise fail(
                f"there is no program called {program!r}; create it first with "
                "'geo-service program create' (or 'keys create')"
            )
        deployment = deployment_of(store, defaults, program_id)
        with tqdm(total=3, desc="network", unit="step", file=sys.stderr) as stages:

            def stage(name: str) -> None:
                stages.set_postfix_str(name)
                if name != "reading the extract":
                    stages.update()

            try:
                rows, share = read_walking_network(file, deployment, stage=stage)
            except NetworkImportError as exc:
                raise fail(str(exc)) from None
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
