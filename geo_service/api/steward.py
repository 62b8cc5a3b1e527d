"""Stewards' controls over their program's data: export and delete (community ownership)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from geo_service.audit import record
from geo_service.auth import AUDIT_READERS
from geo_service.context import DeploymentDep, PrincipalDep, StoreDep
from geo_service.errors import InvalidParameter
from geo_service.services.stewardship import export_program

router = APIRouter(prefix="/v1", tags=["stewardship"])


@router.get("/export", summary="Export the program's events and aggregates (stewards)")
async def get_export(
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    format: Annotated[Literal["geojson", "csv"], Query()] = "geojson",
) -> Response:
    """Every stored event as its cell and time bucket (no finer location was ever kept), and
    the monthly aggregates retention left. The export is recorded in the audit trail."""
    principal.require(AUDIT_READERS, "exporting the program's data")
    body, media = await run_in_threadpool(
        lambda: export_program(
            store,
            deployment,
            program_id=principal.program_id,
            fmt=format,
            actor=principal.actor,
            key_id=principal.key_id,
        )
    )
    filename = f"{principal.program}-export.{'csv' if format == 'csv' else 'geojson'}"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.delete("/program/data", summary="Delete the program's data (stewards)")
def delete_data(
    principal: PrincipalDep,
    store: StoreDep,
    confirm: Annotated[str, Query(max_length=64, description="the program's name, to confirm")],
) -> Any:
    """Deletes events, aggregates, sites, context layers and ingest batches; keys and the
    audit trail stay. Cached analyses go stale at once (the data version moves)."""
    principal.require(AUDIT_READERS, "deleting the program's data")
    if confirm != principal.program:
        raise InvalidParameter("confirm must be this program's name; nothing was deleted")
    before = store.count_rows(principal.program_id)
    store.delete_program_data(principal.program_id)
    record(
        store,
        "data.delete",
        actor=principal.actor,
        program_id=principal.program_id,
        key_id=principal.key_id,
        deleted=before,
    )
    return {"deleted": before}
