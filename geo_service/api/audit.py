"""``/v1/audit``: the program's audit trail, for its steward."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import Field
from starlette.responses import Response

from geo_service.audit import record, verify_chain
from geo_service.context import StewardContext
from geo_service.errors import InvalidParameter
from geo_service.models import KEYED, AuditPage, problems
from geo_service.params import Ask

router = APIRouter(prefix="/v1", tags=["audit"], responses=KEYED)


class AuditAsk(Ask):
    after: int = Field(0, ge=0, le=2**63 - 1, description="the last id of the previous page")
    limit: int = Field(500, ge=1)
    verify: bool = Field(False, description="also check the whole hash chain")


@router.get(
    "/audit",
    summary="The audit trail of this program (stewards)",
    responses={200: {"model": AuditPage}, **problems(400)},
)
def get_audit(ctx: StewardContext, ask: Annotated[AuditAsk, Query()]) -> Response:
    """Event-level reads, exports, key and threshold changes: when, who, what. Reading the
    trail is itself recorded."""
    store, principal, after, limit = ctx.store, ctx.principal, ask.after, ask.limit
    if limit > ctx.settings.page_size_max:
        raise InvalidParameter(f"limit may be at most {ctx.settings.page_size_max}")
    record(
        store,
        "audit.read",
        actor=principal.actor,
        program_id=principal.program_id,
        key_id=principal.key_id,
    )
    rows = store.audit_rows(principal.program_id, after_id=after, limit=limit)
    body: dict[str, Any] = {
        "entries": [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "detail": orjson.loads(r.detail),
                "hash": r.hash,
            }
            for r in rows
        ],
        "next_after": rows[-1].id if len(rows) == limit else None,
    }
    if ask.verify:
        check = verify_chain(store.audit_rows(), store.audit_head())
        body["chain"] = {
            "verified": check.verified,
            "rows": check.rows,
            "first_broken_id": check.first_broken_id,
            "reason": check.reason,
        }
    return Response(orjson.dumps(body), media_type="application/json")
