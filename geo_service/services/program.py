"""What every service call needs, in two objects instead of five arguments.

``Services`` is made once per app (store, default deployment, settings, caches); ``ProgramContext``
once per request: the services, who is asking and the moment the request is answered. A
service takes ``ctx`` and reads the program from the caller, so a program id can never come
from anywhere else.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cached_property

from geo_service.auth import FULL_VIEW, Action, Principal, Role
from geo_service.deployment import Deployment
from geo_service.geography import Geography
from geo_service.services.hotspots import HotspotCache
from geo_service.services.network import NetworkCache
from geo_service.services.streets import StreetCache
from geo_service.settings import Settings
from geo_service.storage import Store


def program_deployment(store: Store, defaults: Deployment, program_id: int) -> Deployment:
    """The program's deployment, from its stored geography (none stored: the defaults)."""
    return _built(store, defaults, program_id)[1]


def _built(store: Store, defaults: Deployment, program_id: int) -> tuple[int, Deployment]:
    version, stored = store.program_geography(program_id)
    if stored is None:  # a program from before revision 0011
        return version, defaults
    return version, Deployment(defaults.settings, Geography.from_stored(stored))


class DeploymentCache:
    """One deployment per program, kept while the program's geography version stays.

    Each lookup reads the version (one small indexed row); a change made by any worker or
    by the CLI bumps it, so every worker rebuilds on its next request for that program."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[int, tuple[int, Deployment]] = {}

    def get(self, store: Store, defaults: Deployment, program_id: int) -> Deployment:
        version = store.geography_version(program_id)
        with self._lock:
            found = self._built.get(program_id)
        if found is not None and found[0] == version:
            return found[1]
        built = _built(store, defaults, program_id)
        with self._lock:
            self._built[program_id] = built
        return built[1]


@dataclass(frozen=True)
class Services:
    """App-scoped: opened in the lifespan, shared by every request of a worker.

    ``deployment`` is the deployment's defaults (what a new program takes); a program's own
    comes from :meth:`deployment_for`."""

    store: Store
    deployment: Deployment
    settings: Settings
    hotspots: HotspotCache
    networks: NetworkCache
    deployments: DeploymentCache = field(default_factory=DeploymentCache)
    streets: StreetCache = field(default_factory=StreetCache)

    def deployment_for(self, program_id: int) -> Deployment:
        return self.deployments.get(self.store, self.deployment, program_id)


@dataclass(frozen=True)
class ProgramContext:
    """Request-scoped: the services, the caller, and ``now`` (epoch seconds) fixed once."""

    services: Services
    principal: Principal
    now: float = field(default_factory=time.time)

    @property
    def store(self) -> Store:
        return self.services.store

    @cached_property
    def deployment(self) -> Deployment:
        """The caller's program's deployment (read once per request)."""
        return self.services.deployment_for(self.program_id)

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
