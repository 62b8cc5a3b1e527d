"""FastAPI dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from geo_service.auth import Principal, authenticate
from geo_service.deployment import Deployment
from geo_service.hotspots import HotspotCache
from geo_service.network import NetworkCache
from geo_service.security import KEY_VERIFIED
from geo_service.settings import Settings
from geo_service.storage import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_deployment(request: Request) -> Deployment:
    deployment: Deployment = request.app.state.deployment
    return deployment


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_hotspot_cache(request: Request) -> HotspotCache:
    cache: HotspotCache = request.app.state.hotspot_cache
    return cache


def get_networks(request: Request) -> NetworkCache:
    networks: NetworkCache = request.app.state.networks
    return networks


def get_principal(
    request: Request,
    store: Annotated[Store, Depends(get_store)],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    principal = authenticate(store, authorization)
    request.scope[KEY_VERIFIED] = True  # the rate limiter may now charge the key, not the address
    return principal


StoreDep = Annotated[Store, Depends(get_store)]
DeploymentDep = Annotated[Deployment, Depends(get_deployment)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
HotspotCacheDep = Annotated[HotspotCache, Depends(get_hotspot_cache)]
NetworksDep = Annotated[NetworkCache, Depends(get_networks)]
