"""Peers' and planners' pages kept in the database by what they are made of.

A peer's page is a function of the period's frozen release and of the page's own settings
(language, street network, sites, the periods offered, the release rule, the version): its
key is a digest of those and never of the data version, so whether it is served from the
store, and its bytes, do not change when reports arrive after the release. The page is stored
as built, before its form token is filled in (``serve_map`` fills it per request)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import geo_service
from geo_service.periods import parse_period
from geo_service.services.program import ProgramContext
from geo_service.services.releases import check_period, release_rule
from geo_service.settings import EventKind
from geo_service.web.pages import sites_for_map
from geo_service.web.period_choices import offered_periods
from maps.base import Tiles


def page_key(parts: tuple[object, ...]) -> str:
    """The sha256 hex digest of a page's key parts (their reprs: strings, numbers, tuples
    and frozen dataclasses only)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def stored_page_key(
    ctx: ProgramContext,
    kind: EventKind,
    period: str,
    page: tuple[object, ...],
    base: Tiles,
) -> str | None:
    """The store's key of a released period's page, or None while its release is not made
    (the page is then built, and stored once the release exists). ``page`` holds the route's
    own parts (route name, asked parameters, audience, language)."""
    if ctx.full_view:
        return None
    deployment = ctx.deployment
    choice = ctx.store.publication(ctx.program_id)
    check_period(parse_period(period, deployment), choice, now=ctx.now, full_view=False)
    released = ctx.store.release_hash(ctx.program_id, kind.value, period)
    if released is None:
        return None
    parts = (
        *page,
        ctx.program_id,
        kind.value,
        period,
        ctx.role.value,
        released,
        geo_service.__version__,
        deployment.geography.stamp,
        release_rule(ctx.settings, choice, deployment.cell_m(kind)),
        base,
        tuple(sorted(offered_periods(ctx, kind))),
        tuple(sites_for_map(ctx)),
    )
    return page_key(parts)


def stored_or_built(
    ctx: ProgramContext, key: Callable[[], str | None], build: Callable[[], str]
) -> str:
    """The stored page under ``key()``, else ``build()``'s, stored if its release exists
    (looked up again after building: the first reader may have made it)."""
    found = key()
    if found is not None:
        body = ctx.store.stored_page(found)
        if body is not None:
            return body.decode()
    built = build()
    found = found or key()
    if found is not None:
        ctx.store.store_page(found, ctx.program_id, built.encode(), int(ctx.now))
    return built
