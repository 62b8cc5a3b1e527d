"""``/v1/sites``: public service sites with services and opening hours."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from geo_service.auth import SITE_WRITERS, Role
from geo_service.context import DeploymentDep, PrincipalDep, SettingsDep, StoreDep
from geo_service.errors import NotFound
from geo_service.http import decode_text, parse_json, read_payload
from geo_service.ingest.batches import BatchResult, check_idempotency_key, run_batch
from geo_service.ingest.sites import sites_from_csv, sites_from_geojson
from geo_service.models import SITES_REQUEST_BODY
from geo_service.storage import SiteRecord, StoredSite

router = APIRouter(prefix="/v1", tags=["sites"])
SITE_READERS = frozenset(Role)


def _fingerprint(records: list[SiteRecord], rejected: list[Any]) -> str:
    return hashlib.sha256(
        repr((records, [(r.index, r.code) for r in rejected])).encode()
    ).hexdigest()


@router.post(
    "/sites",
    status_code=201,
    response_model=BatchResult,
    summary="Add service sites (managers and stewards)",
    openapi_extra={"requestBody": SITES_REQUEST_BODY},
)
async def post_sites(
    request: Request,
    principal: PrincipalDep,
    store: StoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
    all_or_nothing: Annotated[bool, Query()] = False,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Sites are public places and keep their exact location; hours use OSM syntax."""
    principal.require(SITE_WRITERS, "adding service sites")
    key = check_idempotency_key(idempotency_key)
    kind, body = await read_payload(request)

    def work() -> tuple[dict[str, Any], bool]:
        if kind == "json":
            records, rejected = sites_from_geojson(
                parse_json(body), deployment, max_rows=settings.max_batch_rows
            )
        else:
            records, rejected = sites_from_csv(
                decode_text(body), deployment, max_rows=settings.max_batch_rows
            )
        return run_batch(
            store,
            program_id=principal.program_id,
            key_id=principal.key_id,
            target="sites",
            idempotency_key=key,
            fingerprint=_fingerprint(records, rejected),
            accepted=len(records),
            rejected=rejected,
            all_or_nothing=all_or_nothing,
            write=lambda record: store.store_sites(record, records),
        )

    answer, replayed = await run_in_threadpool(work)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(
        orjson.dumps(answer), status_code=201, media_type="application/json", headers=headers
    )


@router.get(
    "/sites",
    summary="Service sites of the caller's program",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_sites(principal: PrincipalDep, store: StoreDep) -> Response:
    principal.require(SITE_READERS, "reading sites")
    features = [site_feature(site) for site in store.list_sites(principal.program_id)]
    body = {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}
    return Response(orjson.dumps(body), media_type="application/geo+json")


def site_feature(site: StoredSite) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": site.id,
        "geometry": {"type": "Point", "coordinates": [site.lon, site.lat]},
        "properties": {
            "name": site.name,
            "site_type": site.site_type,
            "services": list(site.services),
            "opening_hours": site.opening_hours,
            "address": site.address,
        },
    }


@router.get(
    "/sites/{site_id}",
    summary="One service site of the caller's program",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def get_site(site_id: int, principal: PrincipalDep, store: StoreDep) -> Response:
    principal.require(SITE_READERS, "reading sites")
    # Another program's site answers exactly like a missing one.
    for site in store.list_sites(principal.program_id):
        if site.id == site_id:
            return Response(orjson.dumps(site_feature(site)), media_type="application/geo+json")
    raise NotFound("no site with that id in this program")
