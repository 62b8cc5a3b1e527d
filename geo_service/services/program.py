"""What every service call needs, in two objects instead of five arguments.

``Services`` is made once per app (store, deployment, settings, caches); ``ProgramContext``
once per request: the services, who is asking and the moment the request is answered. A
service takes ``ctx`` and reads the program from the caller, so a program id can never come
from anywhere else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from geo_service.auth import FULL_VIEW, Action, Principal, Role
from geo_service.deployment import Deployment
from geo_service.services.hotspots import HotspotCache
from geo_service.services.network import NetworkCache
from geo_service.settings import Settings
from geo_service.storage import Store


@dataclass(frozen=True)
class Services:
    """App-scoped: opened in the lifespan, shared by every request of a worker."""

    store: Store
    deployment: Deployment
    settings: Settings
    hotspots: HotspotCache
    networks: NetworkCache


@dataclass(frozen=True)
class ProgramContext:
    """Request-scoped: the services, the caller, and ``now`` (epoch seconds) fixed once."""

    services: Services
    principal: Principal
    now: float = field(default_factory=time.time)

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def deployment(self) -> Deployment:
        return self.services.deployment

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def program_id(self) -> int:
        return self.principal.program_id

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def full_view(self) -> bool:
        """Managers and stewards see every cell; peers and planners see releases only."""
        return self.principal.role in FULL_VIEW

    def check(self, action: Action) -> None:
        self.principal.check(action)
