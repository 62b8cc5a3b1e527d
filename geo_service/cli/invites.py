"""``geo-service keys invite``: one-time codes (and their QR codes) that sign a phone in."""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path
from typing import Annotated

import segno
import typer

from geo_service.auth import Role
from geo_service.cli.common import existing_program, fail, opened
from geo_service.errors import ServiceError
from geo_service.services.invites import (
    CODE_BITS,
    MAX_SESSION_DAYS,
    InviteAsk,
    create_invite,
    join_url,
    open_invites,
    revoke_invite,
    shown,
)
from geo_service.settings import get_settings


def _utc(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def keys_invite(
    role: Annotated[Role, typer.Option(help="peer or planner (managers get a key)")],
    program: Annotated[str, typer.Option(help="an existing program")],
    session_days: Annotated[
        int, typer.Option(help=f"days the phone stays signed in, 1-{MAX_SESSION_DAYS}")
    ] = MAX_SESSION_DAYS,
    png: Annotated[Path | None, typer.Option(help="also write the QR code to this PNG")] = None,
    label: Annotated[str | None, typer.Option(help="a note, not a person's name")] = None,
) -> None:
    """Print a one-time code (valid 24 h) and its QR code, for /join on a phone."""
    settings = get_settings()
    if settings.public_url is None and png is not None:
        raise fail("set GEO_SERVICE_PUBLIC_URL (the address phones use) to make a QR code")
    with opened(settings) as (store, _):
        program_id = existing_program(store, program)
        try:
            issued = create_invite(
                store, InviteAsk(program_id, program, role, session_days, label), actor="cli"
            )
        except ServiceError as exc:
            raise fail(exc.detail) from None
    typer.echo(shown(issued.code))
    if settings.public_url is not None:
        qr = segno.make(join_url(settings.public_url, issued.code), error="m")
        out = io.StringIO()
        qr.terminal(out=out, compact=True)
        typer.echo(out.getvalue())
        if png is not None:
            qr.save(str(png), kind="png", scale=10, border=4)
    else:
        typer.echo("(no QR code: set GEO_SERVICE_PUBLIC_URL, the address phones use)", err=True)
    typer.echo(
        f"Invite {issued.id} ({issued.role.value}, program {program}): works once, until "
        f"{_utc(issued.expires_at)}, on /join; the phone then stays signed in for "
        f"{issued.session_days} days. The code ({CODE_BITS:.0f} bits) is shown only now.",
        err=True,
    )


def keys_invites(program: Annotated[str | None, typer.Option()] = None) -> None:
    """List open invites (ids, roles, expiry; never the codes)."""
    with opened(get_settings(), read_only=True) as (store, _):
        program_id = existing_program(store, program) if program else None
        found = open_invites(store, program_id, int(time.time()))
    for i in found:
        typer.echo(
            f"{i.id}\t{i.program}\t{i.role}\t{i.session_days} days\tuntil {_utc(i.expires_at)}"
            f"\t{i.label or ''}"
        )


def keys_revoke_invite(
    invite_id: Annotated[int, typer.Argument(help="the id shown by 'keys invites'")],
) -> None:
    """Revoke an invite; a phone that already joined with it is signed out for good."""
    with opened(get_settings()) as (store, _):
        done = revoke_invite(store, invite_id, actor="cli")
    if not done:
        raise fail(f"no invite with id {invite_id} that is open or in use")
    typer.echo(f"Revoked invite {invite_id}.")
