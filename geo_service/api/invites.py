"""Stewards' one-time invites: a short code that signs a phone in (see ``/join``)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from geo_service.auth import Action, Role
from geo_service.context import allowed
from geo_service.errors import NotFound
from geo_service.models import (
    KEYED,
    InviteList,
    InviteRequest,
    NewInviteAnswer,
    RevokedInvite,
    problems,
)
from geo_service.services.invites import (
    InviteAsk,
    create_invite,
    join_url,
    open_invites,
    revoke_invite,
    shown,
)
from geo_service.services.program import ProgramContext
from geo_service.storage import InviteRecord

router = APIRouter(prefix="/v1", tags=["stewardship"], responses=KEYED)
InviterContext = Annotated[ProgramContext, Depends(allowed(Action.MANAGE_INVITES))]


def _info(invite: InviteRecord) -> dict[str, Any]:
    return {
        "id": invite.id,
        "role": invite.role,
        "session_days": invite.session_days,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
        "label": invite.label,
    }


@router.post(
    "/invites",
    summary="Make a one-time invite code for a phone (stewards)",
    status_code=201,
    response_model=NewInviteAnswer,
    responses=problems(413),
)
def post_invite(body: InviteRequest, ctx: InviterContext) -> Any:
    """The code works once, for 24 hours, on ``/join``; the phone then has its own key
    (listed by ``keys list``, revocable) and a session of ``session_days``. Audited."""
    principal = ctx.principal
    now = int(time.time())
    issued = create_invite(
        ctx.store,
        InviteAsk(
            principal.program_id, principal.program, Role(body.role), body.session_days, body.label
        ),
        actor=principal.actor,
        now=now,
    )
    return {
        "id": issued.id,
        "role": issued.role.value,
        "session_days": issued.session_days,
        "created_at": now,
        "expires_at": issued.expires_at,
        "label": body.label,
        "code": shown(issued.code),
        "url": join_url(ctx.settings.public_url, issued.code),
    }


@router.get("/invites", summary="The program's open invites (stewards)", response_model=InviteList)
def get_invites(ctx: InviterContext) -> Any:
    """Never the codes: only their ids, roles and expiry."""
    found = open_invites(ctx.store, ctx.principal.program_id, int(time.time()))
    return {"invites": [_info(i) for i in found]}


@router.delete(
    "/invites/{invite_id}",
    summary="Revoke an invite, and sign out a phone that joined with it (stewards)",
    response_model=RevokedInvite,
    responses=problems(404),
)
def delete_invite(ctx: InviterContext, invite_id: Annotated[int, Path(ge=1)]) -> Any:
    principal = ctx.principal
    if not revoke_invite(
        ctx.store, invite_id, actor=principal.actor, program_id=principal.program_id
    ):
        raise NotFound("no invite of this program with that id is still open or in use")
    return {"revoked": invite_id}
