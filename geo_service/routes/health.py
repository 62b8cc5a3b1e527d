"""Liveness and readiness, without a key."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from geo_service import __version__
from geo_service.deps import StoreDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str


@router.get("/healthz", response_model=Health)
def healthz(store: StoreDep) -> Health:
    return Health(status="ok", version=__version__, database=store.dialect)
