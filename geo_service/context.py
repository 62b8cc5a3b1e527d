"""FastAPI dependencies, as ``Annotated`` aliases: the app's services, the caller, and
role gates built from the one policy table in :mod:`geo_service.auth`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from geo_service.auth import Action, Principal, authenticate
from geo_service.deployment import Deployment
from geo_service.security import KEY_VERIFIED
from geo_service.services.hotspots import HotspotCache
from geo_service.services.network import NetworkCache
from geo_service.services.program import ProgramContext, Services
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


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_context(services: ServicesDep, principal: PrincipalDep) -> ProgramContext:
    return ProgramContext(services, principal)


ContextDep = Annotated[ProgramContext, Depends(get_context)]


def allowed(action: Action) -> Callable[[ProgramContext], ProgramContext]:
    """A dependency that answers 403 unless the policy table lets the caller do ``action``."""

    def gate(ctx: ContextDep) -> ProgramContext:
        ctx.check(action)
        return ctx

    return gate


# Role gates, named by what they allow (see POLICY in auth.py).
SubmitterContext = Annotated[ProgramContext, Depends(allowed(Action.SUBMIT_EVENTS))]
ReporterContext = Annotated[ProgramContext, Depends(allowed(Action.SEND_REPORTS))]
PlannerContext = Annotated[ProgramContext, Depends(allowed(Action.SITE_LOCKERS))]
ManagerContext = Annotated[ProgramContext, Depends(allowed(Action.READ_EVENTS))]
StewardContext = Annotated[ProgramContext, Depends(allowed(Action.READ_AUDIT))]
