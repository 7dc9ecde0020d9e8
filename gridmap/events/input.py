"""What an event is when it comes in: the sender's fields, the deployment's rules, checks.

Pure: nothing here touches the database. `check_event_input` refuses what can be refused
before anything is stored (a missing field, NaN, a latitude of 95, an unknown CRS, a 50 MB
description), naming the field; `mask_phone` / `mask_name` are how reporters are shown to
those who need not call them back.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from gridmap.crs import parse_crs, point_to_wgs84
from gridmap.errors import InvalidCoordinates, InvalidInput, PayloadTooLarge
from gridmap.models import PRIORITIES
from gridmap.settings import Settings


@dataclass(frozen=True, slots=True)
class EventPolicy:
    """The event rules a deployment sets (from `Settings`)."""

    description_max_chars: int = 5000
    duplicate_distance_m: float = 50.0
    duplicate_window_minutes: int = 120

    @classmethod
    def from_settings(cls, settings: Settings) -> EventPolicy:
        return cls(
            description_max_chars=settings.description_max_chars,
            duplicate_distance_m=settings.duplicate_distance_m,
            duplicate_window_minutes=settings.duplicate_window_minutes,
        )


@dataclass(frozen=True, slots=True)
class EventInput:
    """One event as an integrating system sends it (see docs/events.md)."""

    source: str
    external_id: str
    category: str
    reported_at: dt.datetime
    description: str = ""
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    priority: str | None = None


# A coordinate is a JSON number: pydantic's lax float would read true as 1 and "1" as 1.
# Strict floats still take integers (and cost nothing on the ingest path).
Coordinate = Annotated[float, Field(strict=True)]

_ISO_DATE = re.compile(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}")
TIME_HINT = "an ISO 8601 time with a time zone, e.g. 2026-11-21T09:30:00+08:00"


def _iso_text(value: Any) -> Any:
    # pydantic reads a bare number ("0.5", 1700000000) as seconds since 1970 in UTC.
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(f"expected {TIME_HINT}")
    return value


def _with_zone(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"give a time zone: expected {TIME_HINT}")
    return value


# A time a client sends (query parameters, body fields): ISO 8601 text with a time zone.
ZonedTime = Annotated[dt.datetime, BeforeValidator(_iso_text), AfterValidator(_with_zone)]


def load_json(raw: bytes | str, *, field: str = "body") -> Any:
    """JSON from a request body; malformed or absurdly nested JSON is `InvalidInput`.

    Python's parser refuses nesting deeper than its recursion limit (about 1,000 levels)
    with a RecursionError, which would otherwise be a 500."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidInput(
            f"{field}: JSON nested too deeply (about 1,000 levels at most)",
            details={"field": field, "problem": "nested too deeply"},
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{field} is not JSON: {exc}", details={"field": field}) from None


def invalid_field(field_name: str, message: str, value: Any = None) -> InvalidInput:
    return InvalidInput(
        f"{field_name}: {message}",
        details={"field": field_name, "value": value},
        reason="invalid_field",
        params={"field": field_name},
    )


def refuse_unstorable_text(**fields: str | None) -> None:
    """Refuse the first field holding U+0000 or a lone surrogate.

    PostgreSQL text cannot hold NUL and UTF-8 cannot encode a lone surrogate; both are
    valid in JSON, so without this check they would reach the driver and fail there as
    an internal error instead of an answer naming the field.
    """
    for name, value in fields.items():
        if not value or _storable(value):
            continue
        bad = sorted({f"U+{ord(c):04X}" for c in value if c == "\x00" or "\ud800" <= c <= "\udfff"})
        raise invalid_field(name, f"holds characters that cannot be stored ({', '.join(bad)})", bad)


def _storable(value: str) -> bool:
    # On the ingest path for every event: the scans run in C, not per character in Python.
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


# A sender's clock may run ahead (or be set to the wrong zone): a day is allowed. Beyond
# that, or before any grid system existed, the time is wrong, and it would skew the
# deadlines and the statistics counties are assessed on.
EARLIEST_REPORT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CLOCK_AHEAD = dt.timedelta(days=1)


def check_event_input(
    payload: EventInput, *, policy: EventPolicy, now: dt.datetime | None = None
) -> EventInput:
    """Validate everything that can be checked without the database; return it normalised.

    Raises an `InvalidInput` subclass naming the field. Coordinates are converted once
    here so NaN, a latitude of 95 or an unknown CRS fail before anything is stored.
    `now` (default: the clock) bounds `reported_at`.
    """
    for name, value, limit in (
        ("source", payload.source, 40),
        ("external_id", payload.external_id, 100),
    ):
        if not value or not value.strip():
            raise invalid_field(name, "is required", value)
        if len(value) > limit:
            raise invalid_field(name, f"is longer than {limit} characters", value[:50])
    if not payload.category or not payload.category.strip():
        raise invalid_field("category", "is required", payload.category)
    refuse_unstorable_text(
        source=payload.source,
        external_id=payload.external_id,
        category=payload.category,
        description=payload.description,
        address=payload.address,
        reporter_name=payload.reporter_name,
        reporter_phone=payload.reporter_phone,
        crs=payload.crs,
    )
    if len(payload.description) > policy.description_max_chars:
        raise PayloadTooLarge(
            f"description: {len(payload.description)} characters; the limit is "
            f"{policy.description_max_chars}",
            details={"field": "description", "limit": policy.description_max_chars},
        )
    if payload.priority is not None and payload.priority not in PRIORITIES:
        raise invalid_field("priority", f"must be one of {', '.join(PRIORITIES)}", payload.priority)
    if payload.reported_at.tzinfo is None:
        raise invalid_field("reported_at", "needs a timezone, e.g. 2026-11-21T09:30:00+08:00")
    latest = (now or dt.datetime.now(dt.UTC)) + CLOCK_AHEAD
    if not EARLIEST_REPORT <= payload.reported_at <= latest:
        raise invalid_field(
            "reported_at",
            f"must lie between {EARLIEST_REPORT:%Y-%m-%d} and a day from now "
            f"({latest.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ})",
            payload.reported_at.isoformat(),
        )
    if payload.address is not None and len(payload.address) > 300:
        raise invalid_field("address", "is longer than 300 characters", payload.address[:50])
    crs = parse_crs(payload.crs)
    if (payload.lon is None) != (payload.lat is None):
        raise invalid_field("location", "needs both lon and lat", [payload.lon, payload.lat])
    if payload.lon is None:
        if not payload.address:
            raise invalid_field("location", "an event needs a location or at least an address")
    else:
        lon, lat = float(payload.lon), float(payload.lat or 0.0)
        if not (math.isfinite(lon) and math.isfinite(lat)):
            # Details as text: NaN is not JSON, and the error must still reach the sender.
            raise InvalidCoordinates(
                f"location: coordinates must be finite numbers, got lon={lon}, lat={lat}",
                details={"field": "location", "lon": str(lon), "lat": str(lat)},
            )
        point_to_wgs84(lon, lat, crs)  # raises if out of range or not convertible
    return EventInput(
        source=payload.source.strip(),
        external_id=payload.external_id.strip(),
        category=payload.category.strip(),
        reported_at=payload.reported_at,
        description=payload.description,
        lon=payload.lon,
        lat=payload.lat,
        crs=crs,
        address=payload.address,
        reporter_name=payload.reporter_name,
        reporter_phone=payload.reporter_phone,
        priority=payload.priority,
    )


def mask_phone(phone: str | None) -> str | None:
    """138****5678: enough for an operator to recognise a caller, not to dial them."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 1)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str | None) -> str | None:
    """张** / J*** : the family name (first character) only."""
    if not name:
        return name
    stripped = name.strip()
    return stripped[:1] + "*" * max(len(stripped) - 1, 1)
