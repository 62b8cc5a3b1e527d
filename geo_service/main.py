"""The FastAPI application, assembled in one factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from geo_service import __version__
from geo_service.deployment import Deployment
from geo_service.errors import register_error_handlers
from geo_service.hotspots import HotspotCache
from geo_service.http import BodyLimitMiddleware, RequestLogMiddleware
from geo_service.routes import events, health, hotspots, sites
from geo_service.settings import Settings, get_settings
from geo_service.storage.sql import open_store

DESCRIPTION = """
Privacy-first hot-spot service for peer-led harm-reduction programs.

Event locations are snapped to a grid and times coarsened **before** anything is stored;
raw coordinates never reach the database, the logs or a response. Send your key as
`Authorization: Bearer <key>`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. The lifespan opens the store, migrates it and checks the grid."""
    settings = settings or get_settings()
    deployment = Deployment(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.database_url, grid_record=deployment.grid_record())
        app.state.store = store
        try:
            yield
        finally:
            store.close()

    app = FastAPI(
        title="geo-service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.deployment = deployment
    app.state.hotspot_cache = HotspotCache(settings.hotspot_cache_entries)
    register_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(RequestLogMiddleware)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(sites.router)
    app.include_router(hotspots.router)
    logging.getLogger("geo_service").setLevel(settings.log_level.upper())
    return app
