"""One settings class, read from ``GEO_SERVICE_*`` environment variables."""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from analysis.grid import Grid, GridError
from geo_service.storage.connection import DatabaseTimeouts

# A box around Flin Flon, Manitoba: the demo town and the default service area.
FLIN_FLON_BBOX = (-101.93, 54.74, -101.83, 54.80)


class EventKind(enum.StrEnum):
    NEEDLE_REPORT = "needle_report"
    OVERDOSE = "overdose"
    CLEANUP = "cleanup"


def _parse_bbox(value: Any) -> Any:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        return tuple(float(p) for p in parts)
    return value


class Settings(BaseSettings):
    """Deployment settings. Grid and time-bucket fields are frozen into the database."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///var/geo_service.sqlite3"
    # Bounded database waits (PostgreSQL): a partition answers 503 instead of hanging.
    database_connect_timeout_s: int = Field(default=5, ge=2, le=300)
    database_statement_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    database_pool_timeout_s: float = Field(default=5.0, gt=0, le=300)
    database_keepalive_idle_s: int = Field(default=10, ge=1, le=3600)
    # /healthz waits this long for the database before answering 503.
    health_timeout_s: float = Field(default=2.0, gt=0, le=60)

    # Service area: a lon/lat box, or a GeoJSON polygon file that then takes precedence.
    service_area_bbox: Annotated[tuple[float, float, float, float], NoDecode] = FLIN_FLON_BBOX
    service_area_file: Path | None = None
    # Projected CRS for snapping and distances; default: the UTM zone of the service area.
    projected_crs: str | None = None
    timezone: str = "America/Winnipeg"

    grid_origin_x_m: float = 0.0
    grid_origin_y_m: float = 0.0
    grid_base_cell_m: int = Field(default=125, ge=10, le=100_000)
    cell_m_needle_report: int = 125
    cell_m_overdose: int = 250
    cell_m_cleanup: int = 125

    bucket_hours_needle_report: int = 1
    bucket_hours_overdose: int = 6
    bucket_hours_cleanup: int = 1

    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_batch_rows: int = Field(default=250_000, ge=1)
    # A report dated further ahead than this is refused (a wrong clock or time zone).
    future_tolerance_minutes: float = Field(default=10.0, ge=0, le=24 * 60)
    page_size_max: int = Field(default=10_000, ge=1)
    # Peers and planners see only cells holding at least this many events (DESIGN §4.4);
    # it may be raised, never set below the floor of 5.
    publish_min_count: int = Field(default=5, ge=5)
    public_min_count: int = Field(default=10, ge=10)
    # Events older than this many months are folded into monthly aggregates and deleted.
    retention_months: int = Field(default=24, ge=1, le=240)
    hotspot_cache_entries: int = Field(default=128, ge=0)
    # Releases whose grace just ended are made this often in the background (0 = off: the
    # first reader makes them), so a peer's first page reads a stored one.
    releases_ahead_minutes: int = Field(default=60, ge=0)
    log_level: str = "INFO"

    # Hardening. Requests a minute per key, and per client address without a key (0 = off).
    rate_limit_per_key: int = Field(default=1200, ge=0)
    rate_limit_per_address: int = Field(default=120, ge=0)
    # Browser origins allowed to call the API (CORS). Empty: none; '*' is refused.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # The interactive docs (/docs) and the schema (/openapi.json); off in production if wanted.
    api_docs: bool = True
    # Map background tiles ({z}/{x}/{y} URL); "none" draws only the outline and the layers.
    map_tiles: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_tiles_attribution: str = "&copy; OpenStreetMap contributors"
    # Wrong invite codes on /join, per client address and in all, within 15 minutes; once
    # either is reached every try waits (429) until the oldest failure is 15 minutes old.
    invite_failures_per_address: int = Field(default=10, ge=1, le=1000)
    invite_failures_overall: int = Field(default=100, ge=1, le=100_000)
    # How long a browser sign-in lasts.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # One analysis request waits at most this long (503 + Retry-After; the result is kept).
    analysis_seconds: float = Field(default=20.0, gt=0, le=3600)
    # The address clients use (https://maps.example.org); links are built on it, never on
    # the request's Host header. Unset: links are relative.
    public_url: str | None = None
    # Alert email (issue 19). No host: email subscribers are recorded as "not configured".
    # STARTTLS is on by default: an alert says where overdoses happen, it must not cross the
    # network in clear text.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None  # never printed with the settings
    smtp_from: str = "geo-service@localhost"
    smtp_starttls: bool = True
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin == "*" or not origin.startswith(("https://", "http://")) or "*" in origin:
                raise ValueError(
                    "GEO_SERVICE_CORS_ORIGINS lists exact origins such as "
                    "https://maps.example.org, separated by commas; '*' is not allowed"
                )
        return value

    @field_validator("public_url")
    @classmethod
    def _plain_origin(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.startswith(("https://", "http://")) or any(c in value for c in "?#@ ")
        ):
            raise ValueError(
                "GEO_SERVICE_PUBLIC_URL is the service's address, such as "
                "https://maps.example.org, without a query or credentials"
            )
        return value.rstrip("/") if value else value

    @field_validator("service_area_bbox", mode="before")
    @classmethod
    def _bbox_from_text(cls, value: Any) -> Any:
        return _parse_bbox(value)

    @field_validator("service_area_bbox")
    @classmethod
    def _bbox_is_valid(
        cls, value: tuple[float, float, float, float]
    ) -> tuple[float, float, float, float]:
        west, south, east, north = value
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ValueError(
                "service_area_bbox must be 'west,south,east,north' in degrees with west < east "
                "and south < north"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("timezone must be an IANA name such as America/Winnipeg") from None
        return value

    @model_validator(mode="after")
    def _grid_is_consistent(self) -> Settings:
        grid = self.grid
        for kind in EventKind:
            try:
                grid.check_cell_size(self.cell_m(kind))
            except GridError as exc:
                raise ValueError(f"cell_m_{kind.value}: {exc}") from None
            hours = self.bucket_hours(kind)
            if hours <= 0 or 24 % hours != 0:
                raise ValueError(
                    f"bucket_hours_{kind.value} must divide a day evenly (1, 2, 3, 4, 6, 8, 12 "
                    "or 24) so buckets line up across days"
                )
        if self.service_area_file is not None and not self.service_area_file.is_file():
            raise ValueError("service_area_file does not exist or is not a file")
        return self

    @property
    def grid(self) -> Grid:
        return Grid(
            origin_x_m=self.grid_origin_x_m,
            origin_y_m=self.grid_origin_y_m,
            base_cell_m=self.grid_base_cell_m,
        )

    @property
    def database_timeouts(self) -> DatabaseTimeouts:
        return DatabaseTimeouts(
            connect_s=self.database_connect_timeout_s,
            statement_s=self.database_statement_timeout_s,
            pool_s=self.database_pool_timeout_s,
            keepalive_idle_s=self.database_keepalive_idle_s,
        )

    def cell_m(self, kind: EventKind) -> int:
        return int(getattr(self, f"cell_m_{kind.value}"))

    def bucket_hours(self, kind: EventKind) -> int:
        return int(getattr(self, f"bucket_hours_{kind.value}"))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own ``Settings`` instead."""
    return Settings()
