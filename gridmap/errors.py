"""One exception tree for the whole project, with stable codes and user-safe messages.

`api/errors.py` alone maps these to HTTP statuses; the CLI prints `message`.
"""

from __future__ import annotations

from typing import Any


class GridmapError(Exception):
    """Base of every error gridmap raises on purpose.

    `code` is stable (clients match on it): the class's. `reason` is the precise code of
    this refusal (the class's code unless given), which with `params` names the text a
    person reads in their language (`gridmap.messages`). `message` is the English
    sentence for logs and integrators; `details` is JSON-serialisable context (which
    field, which feature, where).
    """

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        reason: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.reason = reason or self.code
        self.params = params or {}


# --- configuration and infrastructure ---------------------------------------------------


class ConfigurationError(GridmapError):
    code = "configuration_error"


class DatabaseUnavailable(GridmapError):
    """The database cannot be reached or refused the connection."""

    code = "database_unavailable"


class EmbeddedDatabaseError(GridmapError):
    """The embedded PostGIS cluster could not be set up, started or stopped."""

    code = "embedded_database_error"


# --- input ------------------------------------------------------------------------------


class InvalidInput(GridmapError):
    """The caller sent something malformed; `details` says which field and why."""

    code = "invalid_input"


class UnknownCRS(InvalidInput):
    code = "unknown_crs"


class InvalidCoordinates(InvalidInput):
    code = "invalid_coordinates"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class UnsupportedMedia(InvalidInput):
    code = "unsupported_media"


class DataFileError(InvalidInput):
    """A boundary, building or event file cannot be read or is not what it claims."""

    code = "data_file_error"


class ValidationFailed(InvalidInput):
    """Boundaries break the rules; `details["problems"]` lists each problem."""

    code = "validation_failed"


# --- lookups and state ------------------------------------------------------------------


class NotFound(GridmapError):
    code = "not_found"


class OutsideCoverage(GridmapError):
    code = "outside_coverage"


class UnknownCategory(InvalidInput):
    code = "unknown_category"


class Conflict(GridmapError):
    """The request is well-formed but the current state does not allow it."""

    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class VersionConflict(Conflict):
    """Someone else changed the same thing first (optimistic locking)."""

    code = "version_conflict"


# --- who may do what --------------------------------------------------------------------


class AuthenticationRequired(GridmapError):
    code = "authentication_required"


class PermissionDenied(GridmapError):
    code = "permission_denied"


class RateLimited(GridmapError):
    code = "rate_limited"


def hide_path(exc: GridmapError, path: str, shown: str) -> GridmapError:
    """The same error with a server-side `path` (a temporary file) replaced by `shown`,
    the name the client knows: answers must not reveal the server's directories."""

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(path, shown)
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [scrub(v) for v in value]
        return value

    hidden = type(exc).__new__(type(exc))
    GridmapError.__init__(
        hidden,
        scrub(exc.message),
        details=scrub(exc.details),
        reason=exc.reason,
        params=scrub(exc.params),
    )
    return hidden
