"""Liveness and readiness, without a key: 200 only when the database answers in time."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from geo_service import __version__
from geo_service.errors import RETRY_AFTER_S, problem_response, request_id
from geo_service.models import problems
from geo_service.settings import Settings
from geo_service.storage import Store

router = APIRouter(tags=["health"])
logger = logging.getLogger("geo_service.health")
# Probes get their own threads: a pool exhausted by hung requests must not hang /healthz too.
_PROBES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthz")


class Health(BaseModel):
    status: str
    version: str
    database: str
    schema_revision: str


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {**problems(503)[503], "description": "The database is not answering"}},
)
async def healthz(request: Request) -> Health | Response:
    # No dependencies: FastAPI runs sync ones in the shared thread pool.
    store: Store = request.app.state.store
    settings: Settings = request.app.state.settings
    probe = asyncio.get_running_loop().run_in_executor(_PROBES, store.ping)
    try:
        revision = await asyncio.wait_for(probe, settings.health_timeout_s)
    except Exception as exc:  # a timeout or any database failure: not ready
        logger.warning(
            "health check failed: %s request=%s", type(exc).__name__, request_id(request)
        )
        response = problem_response(
            503,
            "database_unavailable",
            "The database is not answering",
            f"the service cannot reach its database; retry after {RETRY_AFTER_S} seconds",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
    return Health(
        status="ok", version=__version__, database=store.dialect, schema_revision=revision
    )
