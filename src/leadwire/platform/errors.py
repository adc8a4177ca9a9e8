"""One error tree for the whole service.

Every error a route can answer is a `LeadwireError`; one exception handler renders it in the
contract's shape ``{"error": {"code", "message", "field"?}}``. Areas subclass it for their own
failures (`UnknownTenant`, `BadSignature`, ...). Outside libraries' exceptions (Twilio, Gemini,
httpx) are translated at the adapter and never leak upward.

`ErrorClass` names how a failure is handled by the retry machinery (see DESIGN.md "Error
classes"); the classification itself lives in `platform.classify`.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorClass(enum.StrEnum):
    TEMPORARY = "temporary"
    RATE_LIMIT = "rate_limit"
    VALIDATION = "validation"
    SYSTEM = "system"
    EXTERNAL = "external"
    CONSENT = "consent"
    BUSINESS = "business"


class LeadwireError(Exception):
    """Base of every error Leadwire answers or classifies."""

    status_code: int = 500
    code: str = "internal_error"
    error_class: ErrorClass = ErrorClass.SYSTEM

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        error_class: ErrorClass | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        if error_class is not None:
            self.error_class = error_class
        self.field = field
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}


class BadRequest(LeadwireError):
    status_code = 400
    code = "bad_request"
    error_class = ErrorClass.VALIDATION


class InvalidPayload(LeadwireError):
    """The body parsed but a field is wrong: 422 naming the field."""

    status_code = 422
    code = "invalid_payload"
    error_class = ErrorClass.VALIDATION


class Unauthorized(LeadwireError):
    status_code = 401
    code = "unauthorized"
    error_class = ErrorClass.VALIDATION


class BadSignature(Unauthorized):
    code = "bad_signature"


class Forbidden(LeadwireError):
    status_code = 403
    code = "forbidden"
    error_class = ErrorClass.VALIDATION


class NotFound(LeadwireError):
    status_code = 404
    code = "not_found"
    error_class = ErrorClass.VALIDATION


class UnknownTenant(NotFound):
    code = "unknown_tenant"


class Conflict(LeadwireError):
    status_code = 409
    code = "conflict"
    error_class = ErrorClass.BUSINESS


class PayloadTooLarge(LeadwireError):
    status_code = 413
    code = "payload_too_large"
    error_class = ErrorClass.VALIDATION


class UnsupportedMediaType(LeadwireError):
    status_code = 415
    code = "unsupported_media_type"
    error_class = ErrorClass.VALIDATION


class RateLimited(LeadwireError):
    """429 with `Retry-After` (whole seconds, at least 1)."""

    status_code = 429
    code = "rate_limited"
    error_class = ErrorClass.RATE_LIMIT

    def __init__(self, message: str, *, retry_after_s: float, field: str | None = None) -> None:
        seconds = max(1, int(retry_after_s + 0.999))
        super().__init__(message, field=field, headers={"Retry-After": str(seconds)})
        self.retry_after_s = seconds


class ServiceUnavailable(LeadwireError):
    """A dependency (PostgreSQL, Redis) is down: 503, the caller should retry."""

    status_code = 503
    code = "service_unavailable"
    error_class = ErrorClass.TEMPORARY

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class ExternalServiceError(LeadwireError):
    """An outside API (Twilio, Meta Graph, HubSpot, Gemini) failed; translated at the adapter.

    `provider` names the API, `provider_code` carries its own error code (Twilio's 21211, ...)
    and `http_status` the status it answered, so `platform.classify` decides from data, never
    from the message text.
    """

    status_code = 502
    code = "external_service_error"
    error_class = ErrorClass.EXTERNAL

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        provider_code: int | str | None = None,
        http_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.provider_code = provider_code
        self.http_status = http_status
        self.retry_after_s = retry_after_s


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""
