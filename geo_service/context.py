"""FastAPI dependencies, as ``Annotated`` aliases: the app's services, the caller, and
role gates built from the one policy table in :mod:`geo_service.auth`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Cookie, Depends, Header, Request

from geo_service.auth import SESSION_COOKIE, Action, Principal, authenticate, session_principal
from geo_service.deployment import Deployment
from geo_service.errors import Forbidden, Unauthenticated
from geo_service.security import KEY_VERIFIED, form_token_matches
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


PAGE_CHECK_HEADER = "X-Form-Token"


def get_phone_principal(
    request: Request,
    store: StoreDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    session: Annotated[str | None, Cookie(alias=SESSION_COOKIE, include_in_schema=False)] = None,
    form_token: Annotated[
        str | None, Header(alias=PAGE_CHECK_HEADER, include_in_schema=False)
    ] = None,
) -> Principal:
    """A Bearer key, or a phone's sign-in (the ``/join`` session cookie) together with the
    form token of that session: the report page's own script can send it, a page on another
    site cannot (SameOriginChangesMiddleware refuses those before this)."""
    if authorization or not session:
        return get_principal(request, store, authorization)
    if not form_token_matches(session, form_token):
        raise Forbidden(
            f"send the {PAGE_CHECK_HEADER} header the report page was given", code="form_token"
        )
    principal = session_principal(store, session)
    if principal is None:
        raise Unauthenticated("this phone's sign-in has ended; ask your steward for a new code")
    request.scope[KEY_VERIFIED] = True
    return principal


def get_reporter(
    services: ServicesDep, principal: Annotated[Principal, Depends(get_phone_principal)]
) -> ProgramContext:
    ctx = ProgramContext(services, principal)
    ctx.check(Action.SEND_REPORTS)
    return ctx


# Role gates, named by what they allow (see POLICY in auth.py).
SubmitterContext = Annotated[ProgramContext, Depends(allowed(Action.SUBMIT_EVENTS))]
# Reports come from phones as well as from scripts: a session cookie with its form token.
ReporterContext = Annotated[ProgramContext, Depends(get_reporter)]
PlannerContext = Annotated[ProgramContext, Depends(allowed(Action.SITE_LOCKERS))]
ManagerContext = Annotated[ProgramContext, Depends(allowed(Action.READ_EVENTS))]
StewardContext = Annotated[ProgramContext, Depends(allowed(Action.READ_AUDIT))]
