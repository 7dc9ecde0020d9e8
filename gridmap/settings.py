"""Typed settings (environment prefix GRIDMAP_), created by the caller and passed in."""

from __future__ import annotations

import functools
import ipaddress
import math
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridmap.errors import ConfigurationError

# Deadlines are hours apart: a check rarer than daily would let them pass unnoticed.
OVERDUE_CHECK_MAX_SECONDS = 86_400.0


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16)
def trusted_networks(value: str) -> tuple[Network, ...]:
    """`GRIDMAP_TRUSTED_PROXIES` parsed: "10.0.0.5, 10.1.0.0/16, ::1" → networks."""
    if not value.strip():
        return ()
    networks: list[Network] = []
    for part in value.split(","):
        item = part.strip()
        if not item:
            raise _bad_proxies(value, "an empty entry")
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise _bad_proxies(value, f"{item!r} is not an address or network") from None
    return tuple(networks)


def _bad_proxies(value: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"GRIDMAP_TRUSTED_PROXIES: {why}; give comma-separated addresses or CIDR networks "
        "of your reverse proxies (e.g. 10.0.0.5,10.1.0.0/16), or leave it empty",
        details={"setting": "GRIDMAP_TRUSTED_PROXIES", "value": value[:200]},
    )


class Settings(BaseSettings):
    """Everything gridmap can be told. Nothing reads the environment at import time:
    `Settings()` reads it when called, and `create_app(settings)` receives the result."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    # Database: unset means "run the embedded PostGIS under `home`".
    database_url: str | None = None
    home: Path = Field(default=Path(".gridmap"), description="data directory gridmap owns")
    read_database_url: str | None = Field(
        default=None,
        description="a hot standby (one or several hosts) for OGC features, search, statistics",
    )
    read_max_lag_seconds: float = Field(
        default=5.0, ge=0, description="read from the primary while the replica lags more"
    )
    read_your_writes_seconds: float = Field(
        default=30.0, ge=0, description="a browser that wrote reads from the primary this long"
    )
    pg_bindir: Path | None = Field(
        default=None, description="PostgreSQL server binaries; found under /usr/lib/postgresql"
    )

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    # Routing
    on_boundary_m: float = Field(default=5.0, ge=0, description="GPS accuracy: near another grid")
    outside_tolerance_m: float = Field(
        default=200.0, ge=0, description="nearest grid accepted for a point outside coverage"
    )
    locate_max_points: int = Field(default=1_000_000, ge=1)

    # Boundaries
    households_min: int = Field(default=30, ge=1)
    households_max: int = Field(default=50, ge=1)

    # Events
    duplicate_distance_m: float = 50.0
    duplicate_window_minutes: int = 120
    photo_max_bytes: int = 10 * 1024 * 1024
    upload_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="a boundary file uploaded into a draft"
    )
    description_max_chars: int = 5000
    overdue_check_seconds: float = Field(
        default=60.0, description="how often the service marks overdue events; 0: off"
    )
    stream_retention_days: float = Field(
        default=30.0,
        ge=0,
        description="live-stream messages kept this many days, trimmed hourly; 0: kept forever",
    )

    # Map
    tile_url: str | None = Field(
        default=None, description="optional basemap tile URL; none is needed"
    )
    default_lang: str = "zh"

    # Security
    auth_required: bool = Field(
        default=True, description="login or a token for everything but the public routes"
    )
    secret_key: str | None = Field(
        default=None, description="signs CSRF tokens; unset: generated once under `home`"
    )
    cookie_secure: bool = False
    session_hours: float = Field(default=12.0, gt=0, description="a browser session's lifetime")
    login_max_failures: int = Field(
        default=5, ge=1, description="failed logins per username and address in the window"
    )
    login_window_minutes: int = Field(default=15, ge=1)
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or networks (CIDR) of reverse proxies whose "
        "X-Forwarded-For is believed; empty: none, the peer address is the client",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        trusted_networks(value)  # raises ConfigurationError naming the variable
        return value

    @field_validator("overdue_check_seconds", mode="wrap")
    @classmethod
    def _check_overdue_seconds(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> float:
        # A ConfigurationError, not pydantic's ValueError: pydantic passes it through, and
        # `gridmap serve` then prints one line naming the variable instead of a traceback
        # naming a Python field.
        try:
            seconds = float(handler(value))
        except ValidationError:
            seconds = math.nan
        if not 0 <= seconds <= OVERDUE_CHECK_MAX_SECONDS:  # also refuses NaN
            raise ConfigurationError(
                f"GRIDMAP_OVERDUE_CHECK_SECONDS must be a number of seconds from 0 (the overdue "
                f"check off) to {OVERDUE_CHECK_MAX_SECONDS:.0f} (daily), not {value!r}",
                details={"setting": "GRIDMAP_OVERDUE_CHECK_SECONDS", "value": str(value)},
            )
        return seconds

    @model_validator(mode="after")
    def _check_ranges(self) -> Settings:
        if self.households_min > self.households_max:
            raise ValueError(
                f"households_min ({self.households_min}) is above "
                f"households_max ({self.households_max})"
            )
        return self

    @property
    def photo_dir(self) -> Path:
        return self.home / "photos"
