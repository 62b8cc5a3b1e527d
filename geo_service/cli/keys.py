"""``geo-service keys`` and ``geo-service audit``: who may do what, and the trail of it."""

from __future__ import annotations

from typing import Annotated

import typer

from geo_service.audit import verify_chain
from geo_service.auth import Role, create_key, revoke_key
from geo_service.cli.common import fail, opened
from geo_service.errors import ServiceError
from geo_service.settings import get_settings

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and verify the audit trail.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="peer, planner, manager or steward")],
    program: Annotated[str, typer.Option(help="program name; created if new")],
    label: Annotated[str | None, typer.Option(help="a note to recognise the key by")] = None,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    with opened(get_settings()) as (store, defaults):
        try:
            key_id, key = create_key(
                store,
                program=program,
                role=role,
                label=label,
                geography=defaults.geography.stored(),
            )
        except ServiceError as exc:
            raise fail(exc.detail) from None
    typer.echo(key)
    typer.echo(
        f"Key {key_id} ({role.value}, program {program}). It is shown only now; store it safely.",
        err=True,
    )


@keys_app.command("list")
def keys_list(program: Annotated[str | None, typer.Option()] = None) -> None:
    """List keys (their ids and first characters, never the keys)."""
    with opened(get_settings(), read_only=True) as (store, _):
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
        raise fail(f"no active key with id {key_id}")
    typer.echo(f"Revoked key {key_id}.")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain; exit 1 and name the first bad row if broken."""
    with opened(get_settings(), read_only=True) as (store, _):
        check = verify_chain(store.audit_rows(), store.audit_head())
    if not check.verified:
        where = f"at row {check.first_broken_id}" if check.first_broken_id else "at the end"
        raise fail(
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
    with opened(get_settings(), read_only=True) as (store, _):
        program_id = store.program_id(program) if program else None
        if program and program_id is None:
            raise fail(f"no program named {program}")
        rows = store.audit_rows(program_id)[-limit:]
    for row in rows:
        typer.echo(f"{row.id}\t{row.at}\t{row.actor}\t{row.action}\t{row.detail}")
