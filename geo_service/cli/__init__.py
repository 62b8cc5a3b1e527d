"""The ``geo-service`` command: demo, serve, ingest, keys, audit, program, network, layers,
alerts.

Each group lives in its own module; this one assembles them into ``app``.
"""

from __future__ import annotations

import typer

from geo_service.cli import (
    alerts,
    areas,
    ingest,
    invites,
    keys,
    layers,
    program,
    releases,
    server,
)

app = typer.Typer(
    help="Privacy-first hot-spot service for harm-reduction programs.",
    no_args_is_help=True,
    add_completion=False,
    # Rich tracebacks print local variables, which can hold raw coordinates.
    pretty_exceptions_enable=False,
)
app.command()(server.demo)
app.command()(server.migrate)
app.command()(server.serve)
app.add_typer(ingest.app, name="ingest")
keys.keys_app.command("invite")(invites.keys_invite)
keys.keys_app.command("invites")(invites.keys_invites)
keys.keys_app.command("revoke-invite")(invites.keys_revoke_invite)
app.add_typer(keys.keys_app, name="keys")
app.add_typer(keys.audit_app, name="audit")
program.program_app.command("create")(areas.program_create)
program.program_app.command("show")(areas.program_show)
program.program_app.command("list")(areas.program_list)
program.program_app.command("update")(areas.program_update)
app.add_typer(program.program_app, name="program")
app.add_typer(server.network_app, name="network")
app.add_typer(layers.app, name="layers")
app.add_typer(alerts.app, name="alerts")
app.add_typer(releases.app, name="releases")
app.command()(server.assets)
app.command()(program.retention)


def main() -> None:
    app()
