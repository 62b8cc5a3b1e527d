"""Audiences and the steward's publication settings (DESIGN.md §4.4).

Periods are in :mod:`geo_service.periods`; what is released for a period is made once and
frozen: see :mod:`geo_service.services.releases`.
"""

from __future__ import annotations

import enum
from typing import Any

from geo_service.audit import record
from geo_service.auth import Role
from geo_service.errors import InvalidParameter
from geo_service.periods import Bucket
from geo_service.settings import Settings
from geo_service.storage import ProgramPublication, Store


class Audience(enum.StrEnum):
    PEER = "peer"
    PLANNER = "planner"
    PUBLIC = "public"


AUDIENCE_OF_ROLE = {Role.PEER: Audience.PEER, Role.PLANNER: Audience.PLANNER}


def threshold(settings: Settings, choice: ProgramPublication, audience: Audience) -> int:
    """The k an audience gets: the steward's choice, never below the deployment's floor."""
    floor = settings.publish_min_count if audience != Audience.PUBLIC else settings.public_min_count
    chosen = {
        Audience.PEER: choice.k_peer,
        Audience.PLANNER: choice.k_planner,
        Audience.PUBLIC: choice.k_public,
    }[audience]
    return max(floor, chosen or floor)


def describe(settings: Settings, choice: ProgramPublication) -> dict[str, Any]:
    """The program's effective publication settings."""
    return {
        "k": {a.value: threshold(settings, choice, a) for a in Audience},
        "floors": {
            "peer": settings.publish_min_count,
            "planner": settings.publish_min_count,
            "public": settings.public_min_count,
        },
        "public_enabled": choice.public_enabled,
        "bucket": choice.bucket,
        # Reports must remain at k once this many of the largest reporting keys are removed.
        "drop_top_keys": choice.drop_top_keys or 1,
        "grace_days": choice.grace_days or 7,
    }


AUDITED_SETTINGS = ("k", "public_enabled", "bucket", "drop_top_keys", "grace_days")


def change_publication(
    store: Store,
    settings: Settings,
    *,
    program_id: int,
    chosen: ProgramPublication,
    actor: str,
    key_id: int | None = None,
) -> dict[str, Any]:
    """Store the steward's choice (thresholds only at or above the floors), audited."""
    floors = {
        "k_peer": settings.publish_min_count,
        "k_planner": settings.publish_min_count,
        "k_public": settings.public_min_count,
    }
    for name, floor in floors.items():
        value = getattr(chosen, name)
        if value is not None and value < floor:
            raise InvalidParameter(
                f"{name} may be raised, never set below the deployment's floor of {floor}"
            )
    # The smallest period peers see; half-years and years are always released on top.
    if chosen.bucket not in (Bucket.MONTH, Bucket.QUARTER):
        raise InvalidParameter("bucket is month or quarter")
    if chosen.grace_days is not None and not 1 <= chosen.grace_days <= 90:
        raise InvalidParameter(
            "grace_days is 1 to 90: the days after a period before it is published"
        )
    if chosen.drop_top_keys is not None and chosen.drop_top_keys not in (1, 2):
        raise InvalidParameter("drop_top_keys is 1 or 2")
    before = describe(settings, store.publication(program_id))
    store.set_publication(program_id, chosen)
    after = describe(settings, chosen)
    record(
        store,
        "publication.change",
        actor=actor,
        program_id=program_id,
        key_id=key_id,
        before={k: before[k] for k in AUDITED_SETTINGS},
        after={k: after[k] for k in AUDITED_SETTINGS},
    )
    return after
