"""Stewards' controls over their program's data: export and delete (community ownership)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from starlette.responses import Response

from geo_service.audit import record
from geo_service.auth import Action
from geo_service.context import allowed
from geo_service.errors import InvalidParameter
from geo_service.models import KEYED, DeleteAnswer, ExportCollection, GeoJSONAnswer, problems
from geo_service.params import Ask
from geo_service.services.gpkg import GPKG_MEDIA
from geo_service.services.program import ProgramContext
from geo_service.services.stewardship import EVENT_COLUMNS, export_program

router = APIRouter(prefix="/v1", tags=["stewardship"], responses=KEYED)
ExporterContext = Annotated[ProgramContext, Depends(allowed(Action.EXPORT_PROGRAM))]
CSV_SCHEMA = {"type": "string", "description": "with format=csv: " + ", ".join(EVENT_COLUMNS)}
GPKG_SCHEMA = {
    "type": "string",
    "format": "binary",
    "description": "with format=gpkg: layers events, monthly_aggregates, sites, candidates, "
    "exclusions (EPSG:4326)",
}
DeleterContext = Annotated[ProgramContext, Depends(allowed(Action.DELETE_PROGRAM))]


class ExportAsk(Ask):
    format: Literal["geojson", "csv", "gpkg"] = "geojson"


class DeleteAsk(Ask):
    confirm: str = Field(max_length=64, description="the program's name, to confirm")


@router.get(
    "/export",
    summary="Export the program's events and aggregates (stewards)",
    response_class=GeoJSONAnswer,
    responses={
        200: {
            "model": ExportCollection,
            "content": {"text/csv": {"schema": CSV_SCHEMA}, GPKG_MEDIA: {"schema": GPKG_SCHEMA}},
        }
    },
)
async def get_export(ctx: ExporterContext, ask: Annotated[ExportAsk, Query()]) -> Response:
    """Every stored event as its cell and time bucket (no finer location was ever kept), and
    the monthly aggregates retention left; as a GeoPackage (format=gpkg) also the sites,
    candidate sites and exclusions, one layer each. The export is recorded in the audit trail."""
    principal, format = ctx.principal, ask.format
    body, media = await run_in_threadpool(
        lambda: export_program(
            ctx.store,
            ctx.deployment,
            program_id=principal.program_id,
            fmt=format,
            actor=principal.actor,
            key_id=principal.key_id,
        )
    )
    suffix = {"csv": "csv", "gpkg": "gpkg"}.get(format, "geojson")
    filename = f"{principal.program}-export.{suffix}"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.delete(
    "/program/data",
    summary="Delete the program's data (stewards)",
    response_model=DeleteAnswer,
    responses=problems(400),
)
def delete_data(ctx: DeleterContext, ask: Annotated[DeleteAsk, Query()]) -> Any:
    """Deletes events, aggregates, sites, context layers and ingest batches; keys and the
    audit trail stay. Cached analyses go stale at once (the data version moves)."""
    store, principal = ctx.store, ctx.principal
    if ask.confirm != principal.program:
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
