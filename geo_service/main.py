"""The FastAPI application, assembled in one factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware

from geo_service import __version__, web
from geo_service.api import (
    alert_delivery,
    alerts,
    audit,
    cleanup,
    coverage,
    events,
    health,
    hotspots,
    invites,
    layers,
    ogc,
    published,
    reports,
    sites,
    siting,
    steward,
)
from geo_service.api.docs import add_docs, install_openapi
from geo_service.deployment import Deployment
from geo_service.errors import ConfigurationError, register_error_handlers
from geo_service.http import BodyLimitMiddleware, RequestLogMiddleware, StartUpErrorMiddleware
from geo_service.i18n import register_language
from geo_service.params import refuse_unknown_query
from geo_service.security import (
    ApiCorsMiddleware,
    KeysNotInUrlMiddleware,
    RateLimitMiddleware,
    SameOriginChangesMiddleware,
    SecurityHeadersMiddleware,
)
from geo_service.services.alerts.evaluate import settled
from geo_service.services.hotspots import HotspotCache
from geo_service.services.invites import JoinLimiter
from geo_service.services.network import NetworkCache
from geo_service.services.program import Services
from geo_service.services.releases.ahead import ReleaseMaker
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
        try:
            store = open_store(
                settings.database_url,
                grid_record=deployment.grid_record(),
                timeouts=settings.database_timeouts,
            )
        except ConfigurationError as exc:
            app.state.start_up_error = f"geo-service cannot start: {exc}"
            raise
        app.state.store = store
        app.state.services = Services(
            store, deployment, settings, app.state.hotspot_cache, app.state.networks
        )
        maker = ReleaseMaker(store, deployment, settings.releases_ahead_minutes * 60.0).start()
        try:
            yield
        finally:
            maker.stop()
            settled()  # alert rules set off by the last batches finish before the store goes
            store.close()

    app = FastAPI(
        title="geo-service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load scripts from a CDN; ours are self-hosted
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
        # App-wide, so a route added later refuses misspelt parameters without opting in.
        dependencies=[Depends(refuse_unknown_query)],
    )
    install_openapi(app)  # every $ref in /openapi.json resolves
    app.state.settings = settings
    app.state.deployment = deployment
    app.state.hotspot_cache = HotspotCache(settings.hotspot_cache_entries)
    app.state.networks = NetworkCache()
    app.state.join_limiter = JoinLimiter(
        per_address=settings.invite_failures_per_address,
        overall=settings.invite_failures_overall,
    )
    register_error_handlers(app)
    register_language(app)
    app.add_exception_handler(web.SignInNeeded, web.send_to_sign_in)
    # Added innermost first: the headers wrap everything, so even a 413 or 429 carries them.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(
        RateLimitMiddleware,
        per_key=settings.rate_limit_per_key,
        per_address=settings.rate_limit_per_address,
    )
    app.add_middleware(KeysNotInUrlMiddleware)
    app.add_middleware(SameOriginChangesMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            ApiCorsMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(StartUpErrorMiddleware)
    # Outermost, so every answer, refusals included, leaves compressed: a city's map page is
    # about a tenth of its size gzipped, on a phone's patchy signal. Level 6, not Starlette's
    # 9: a 780 kB city page compresses in 0.08 s instead of 0.3 s, 0.5 % larger.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    if settings.api_docs:
        add_docs(app)
    app.include_router(health.router)
    # Before any /v1/alerts/{id} route, so /v1/alerts/feed.atom is not read as an id.
    app.include_router(alert_delivery.router)
    app.include_router(events.router)
    app.include_router(reports.router)
    app.include_router(sites.router)
    app.include_router(hotspots.router)
    app.include_router(cleanup.router)
    app.include_router(layers.router)
    app.include_router(coverage.router)
    app.include_router(siting.router)
    app.include_router(audit.router)
    app.include_router(published.router)
    app.include_router(steward.router)
    app.include_router(invites.router)
    app.include_router(alerts.router)
    app.include_router(ogc.router)  # OGC API - Features, for QGIS, ArcGIS and GDAL
    app.include_router(web.router)
    logging.getLogger("geo_service").setLevel(settings.log_level.upper())
    # uvicorn's access log (on when uvicorn is run by hand) prints query strings and
    # addresses; RequestLogMiddleware logs method, path and status instead.
    logging.getLogger("uvicorn.access").disabled = True
    return app
