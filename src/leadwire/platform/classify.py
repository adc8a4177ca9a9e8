"""Error classification as data: an exception in, a `Classification` out.

Every failure that reaches a job wrapper or the dead-letter machinery is classified here, from
the exception's *type* and its structured fields (`ExternalServiceError.provider`,
`.provider_code`, `.http_status`; a database error's SQLSTATE), never from its message text.

The seven classes and their default policies (DESIGN.md "Error classes"):

============  =====================  ====================================================
class         policy                 meaning
============  =====================  ====================================================
temporary     retry_backoff          retry with exponential backoff and jitter
rate_limit    delay_until_reset      retry when the limit resets (Retry-After if known)
validation    no_retry               the input is wrong; retrying cannot help
system        retry_and_escalate     our side is broken; retry, and tell a human
external      provider_specific      the provider's own table decides (see `retry.py`)
consent       compliance_block       the person must not be called; record and stop
business      hold_for_tenant        the tenant must fix something (caller ID, token)
============  =====================  ====================================================

A row of a provider table may pick a different policy than its class's default when the
reference says so: Twilio's "bug" codes (21205, 12100, ...) are `system` errors that are not
retried, because no retry can succeed before a fix ships; they go to the dead letter at once
and escalate, and an admin replays them after the fix.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped,unused-ignore]  # asyncpg ships no stubs
import redis.exceptions as redis_exc
import sqlalchemy.exc as sa_exc
from pydantic import ValidationError

from leadwire.platform.errors import (
    ErrorClass,
    ExternalServiceError,
    LeadwireError,
    RateLimited,
)


class Policy(enum.StrEnum):
    RETRY_BACKOFF = "retry_backoff"
    DELAY_UNTIL_RESET = "delay_until_reset"
    NO_RETRY = "no_retry"
    RETRY_AND_ESCALATE = "retry_and_escalate"
    PROVIDER_SPECIFIC = "provider_specific"
    COMPLIANCE_BLOCK = "compliance_block"
    HOLD_FOR_TENANT = "hold_for_tenant"


DEFAULT_POLICY: Mapping[ErrorClass, Policy] = {
    ErrorClass.TEMPORARY: Policy.RETRY_BACKOFF,
    ErrorClass.RATE_LIMIT: Policy.DELAY_UNTIL_RESET,
    ErrorClass.VALIDATION: Policy.NO_RETRY,
    ErrorClass.SYSTEM: Policy.RETRY_AND_ESCALATE,
    ErrorClass.EXTERNAL: Policy.PROVIDER_SPECIFIC,
    ErrorClass.CONSENT: Policy.COMPLIANCE_BLOCK,
    ErrorClass.BUSINESS: Policy.HOLD_FOR_TENANT,
}


class TransportCode(enum.StrEnum):
    """`provider_code` an adapter sets when no HTTP answer came back (`http_status=None`).

    A timeout on a request that creates something (Twilio's POST /Calls) may still have
    created it: the caller must reconcile (`TelephonyProvider.find_call`) before retrying.
    """

    TIMEOUT = "timeout"
    NETWORK = "network"
    BAD_RESPONSE = "bad_response"


@dataclass(frozen=True, slots=True)
class Classification:
    """How one failure is handled.

    `code` is a stable machine name for dashboards and dead letters: ``twilio.21211``,
    ``meta.http_401``, ``gemini.timeout``, ``database_unavailable``, or the `LeadwireError`
    code. `retry_after_s` is the earliest sensible retry when the failure said so
    (Retry-After) or the table knows it (Twilio 22005).
    """

    error_class: ErrorClass
    code: str
    retryable: bool
    policy: Policy
    retry_after_s: float | None = None
    escalate: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a classification table; `code` is filled in when it is applied."""

    error_class: ErrorClass
    retryable: bool
    escalate: bool = False
    policy: Policy | None = None
    retry_after_s: float | None = None

    def to_classification(self, code: str, *, retry_after_s: float | None = None) -> Classification:
        return Classification(
            error_class=self.error_class,
            code=code,
            retryable=self.retryable,
            policy=self.policy or DEFAULT_POLICY[self.error_class],
            retry_after_s=retry_after_s if retry_after_s is not None else self.retry_after_s,
            escalate=self.escalate,
        )


_TEMPORARY = Rule(ErrorClass.TEMPORARY, retryable=True)
_RATE_LIMIT = Rule(ErrorClass.RATE_LIMIT, retryable=True)
_VALIDATION = Rule(ErrorClass.VALIDATION, retryable=False)
_SYSTEM = Rule(ErrorClass.SYSTEM, retryable=True, escalate=True)
# Our own bug or our account's configuration: retrying cannot help until someone acts.
_SYSTEM_NO_RETRY = Rule(ErrorClass.SYSTEM, retryable=False, escalate=True, policy=Policy.NO_RETRY)
_BUSINESS = Rule(ErrorClass.BUSINESS, retryable=False, escalate=True)
_CONSENT = Rule(ErrorClass.CONSENT, retryable=False)
_EXTERNAL_RETRY = Rule(ErrorClass.EXTERNAL, retryable=True)
_EXTERNAL_STOP = Rule(ErrorClass.EXTERNAL, retryable=False, escalate=True)

# Twilio error codes named in reference/integrations.md §6.3-§6.6, with why each row is what
# it is. Provider-specific retry schedules (13224, 21214) live in `retry.PROVIDER_RETRY`.
TWILIO_ERROR_CODES: Mapping[int, Rule] = {
    # Wrong SID/token or suspended account: alert, dead-letter, replay after the fix.
    20003: _SYSTEM_NO_RETRY,
    # The resource is gone (e.g. updating an old call): nothing to do.
    20404: _VALIDATION,
    # REST concurrency exceeded; never processed, always safe to retry after backing off.
    20429: _RATE_LIMIT,
    # Call concurrency limit of the account: later, when a call slot frees up.
    10004: Rule(ErrorClass.RATE_LIMIT, retryable=True, retry_after_s=60.0),
    # More than 24 h of calls queued at our CPS: much later, and our pacing is wrong.
    22005: Rule(ErrorClass.RATE_LIMIT, retryable=True, escalate=True, retry_after_s=3600.0),
    # Invalid Url (our bug).
    21205: _SYSTEM_NO_RETRY,
    # 'From' not a Twilio number nor a verified caller ID: the tenant's caller ID is wrong.
    21210: _BUSINESS,
    # Invalid 'To' (malformed, or To == From): the lead's number is unusable.
    21211: _VALIDATION,
    # Invalid 'From' (malformed or on a do-not-originate list): the tenant's caller ID.
    21212: _BUSINESS,
    # Caller phone number required (our bug).
    21213: _SYSTEM_NO_RETRY,
    # 'To' cannot be reached: not now; one retry hours later (retry.PROVIDER_RETRY).
    21214: _EXTERNAL_RETRY,
    # Geo permissions of the account do not allow the destination: account configuration.
    21215: _SYSTEM_NO_RETRY,
    # Blocked by Twilio (fraud risk, regulatory block, missing customer profile).
    21216: _EXTERNAL_STOP,
    # Phone number does not appear to be valid.
    21217: _VALIDATION,
    # Invalid ApplicationSid (our bug).
    21218: _SYSTEM_NO_RETRY,
    # Trial account calling an unverified number: account configuration.
    21219: _SYSTEM_NO_RETRY,
    # Invalid call state: the call is no longer in progress; ignore.
    21220: _VALIDATION,
    # Warning: AMD without an async callback URL (our configuration); the call went on.
    21262: _SYSTEM_NO_RETRY,
    # STOP from the person on the tenant's SMS number: a consent signal.
    21610: _CONSENT,
    # <Dial>: invalid number format / invalid country code.
    13223: _VALIDATION,
    13226: _VALIDATION,
    # <Dial>: cannot call this number, or no carrier could deliver (outage): one delayed retry.
    13224: _EXTERNAL_RETRY,
    # <Dial>: blocked by Twilio's block list.
    13225: _EXTERNAL_STOP,
    # Geo permissions, <Dial> and SIP trunking variants of 21215.
    13227: _SYSTEM_NO_RETRY,
    32205: _SYSTEM_NO_RETRY,
    # Our TwiML/callback URL failed (timeout, 4xx/5xx, connection, TLS): retry, fix server.
    11200: _SYSTEM,
    11205: _SYSTEM,
    11220: _SYSTEM,
    # Invalid TwiML (our bug).
    12100: _SYSTEM_NO_RETRY,
    # Warning: our status callback answered 4xx/5xx; Twilio already retried it.
    15003: _SYSTEM_NO_RETRY,
    # ConversationRelay: a message we sent failed validation (our bug); the session goes on.
    64107: _SYSTEM_NO_RETRY,
    # Named by the reference in the auth-token rotation note: an authentication problem with
    # our account's token, handled like 20003.
    57012: _SYSTEM_NO_RETRY,
}

# Meta Graph API `error.code` values (Graph API "Handling Errors" guide). Meta answers most
# of these with HTTP 400, so the HTTP status alone would call a throttle a validation error.
META_ERROR_CODES: Mapping[int, Rule] = {
    1: _TEMPORARY,  # API unknown: possibly downtime
    2: _TEMPORARY,  # API service: downtime
    4: _RATE_LIMIT,  # application request limit reached
    17: _RATE_LIMIT,  # user request limit reached
    32: _RATE_LIMIT,  # page request limit reached
    341: _RATE_LIMIT,  # application limit reached
    613: _RATE_LIMIT,  # calls exceeded the rate limit
    3: _BUSINESS,  # API method: capability or permission missing
    10: _BUSINESS,  # permission denied
    102: _BUSINESS,  # API session: the tenant's token is no longer valid
    190: _BUSINESS,  # access token expired or revoked: the tenant must reconnect
    368: _TEMPORARY,  # temporarily blocked for policy violations: wait and retry
    **{code: _BUSINESS for code in range(200, 300)},  # API permissions (one code each)
}

PROVIDER_ERROR_CODES: Mapping[str, Mapping[int, Rule]] = {
    "twilio": TWILIO_ERROR_CODES,
    "meta": META_ERROR_CODES,
}

# HTTP statuses, shared by every outside API unless the provider's row below differs.
_HTTP_DEFAULT: Mapping[int, Rule] = {
    400: _VALIDATION,
    401: _SYSTEM_NO_RETRY,
    403: _SYSTEM_NO_RETRY,
    404: _VALIDATION,
    408: _TEMPORARY,
    # A concurrent modification on the provider's side: a later try usually succeeds.
    409: _TEMPORARY,
    422: _VALIDATION,
    429: _RATE_LIMIT,
    500: _TEMPORARY,
    502: _TEMPORARY,
    503: _TEMPORARY,
    504: _TEMPORARY,
}

HTTP_STATUS_RULES: Mapping[str, Mapping[int, Rule]] = {
    # Platform credentials (our Twilio account): a 401/403 is ours to fix.
    "twilio": _HTTP_DEFAULT,
    # The tenant's Page access token / HubSpot token: the tenant must reconnect.
    "meta": {**_HTTP_DEFAULT, 401: _BUSINESS, 403: _BUSINESS},
    "hubspot": {**_HTTP_DEFAULT, 401: _BUSINESS, 403: _BUSINESS},
    # Our API key; a 404 means a model name in our configuration is wrong.
    "gemini": {**_HTTP_DEFAULT, 404: _SYSTEM_NO_RETRY},
}

_TRANSPORT_RULES: Mapping[TransportCode, Rule] = {
    TransportCode.TIMEOUT: _TEMPORARY,
    TransportCode.NETWORK: _TEMPORARY,
    # A 2xx we could not read: retry, but a human should look at it.
    TransportCode.BAD_RESPONSE: Rule(ErrorClass.EXTERNAL, retryable=True, escalate=True),
}

# SQLSTATE classes and codes that mean "the database is unavailable right now".
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53")
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "57014", "57P01", "57P02", "57P03"})


def _normalize_code(code: int | str | None) -> int | str | None:
    if isinstance(code, str):
        stripped = code.strip()
        if stripped.isdecimal():
            return int(stripped)
        return stripped or None
    return code


def _transport_code(code: int | str | None) -> TransportCode | None:
    try:
        return TransportCode(code) if isinstance(code, str) else None
    except ValueError:
        return None


def classify_provider_error(
    *,
    provider: str,
    provider_code: int | str | None = None,
    http_status: int | None = None,
    retry_after_s: float | None = None,
) -> Classification:
    """Classify an outside API's failure from its code, then its HTTP status.

    The provider's own error code wins over the HTTP status (Meta answers throttles with 400).
    A failure with neither (an unknown code on a call callback) is `external` and retried,
    since the reference says a failed call without a non-retryable code can be retried.
    """
    code = _normalize_code(provider_code)
    if isinstance(code, int):
        rule = PROVIDER_ERROR_CODES.get(provider, {}).get(code)
        if rule is not None:
            return rule.to_classification(f"{provider}.{code}", retry_after_s=retry_after_s)
    if http_status is not None:
        rules = HTTP_STATUS_RULES.get(provider, _HTTP_DEFAULT)
        rule = rules.get(http_status)
        if rule is None:
            rule = _TEMPORARY if http_status >= 500 else _EXTERNAL_STOP
        # An unknown provider code is still the most useful name for a dashboard.
        name = f"{provider}.{code}" if code is not None else f"{provider}.http_{http_status}"
        return rule.to_classification(name, retry_after_s=retry_after_s)
    transport = _transport_code(code)
    if transport is not None:
        rule = _TRANSPORT_RULES[transport]
        return rule.to_classification(f"{provider}.{transport}", retry_after_s=retry_after_s)
    name = f"{provider}.{code}" if code is not None else f"{provider}.unknown"
    return _EXTERNAL_RETRY.to_classification(name, retry_after_s=retry_after_s)


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None or not value.strip().isdecimal():
        return None
    return float(value)


def _classify_leadwire(exc: LeadwireError) -> Classification:
    if isinstance(exc, ExternalServiceError):
        return classify_provider_error(
            provider=exc.provider,
            provider_code=exc.provider_code,
            http_status=exc.http_status,
            retry_after_s=exc.retry_after_s,
        )
    retry_after_s: float | None
    if isinstance(exc, RateLimited):
        retry_after_s = float(exc.retry_after_s)
    else:
        retry_after_s = _retry_after_header(exc.headers)
    error_class = exc.error_class
    retryable = error_class in {
        ErrorClass.TEMPORARY,
        ErrorClass.RATE_LIMIT,
        ErrorClass.SYSTEM,
    }
    return Classification(
        error_class=error_class,
        code=exc.code,
        retryable=retryable,
        policy=DEFAULT_POLICY[error_class],
        retry_after_s=retry_after_s,
        escalate=error_class is ErrorClass.SYSTEM,
    )


def _sqlstate_rule(sqlstate: str) -> Rule:
    if sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES):
        return _TEMPORARY
    return _SYSTEM


def _classify_database(exc: BaseException) -> Classification | None:
    """PostgreSQL failures, by type and SQLSTATE (asyncpg directly or wrapped by SQLAlchemy)."""
    if isinstance(exc, sa_exc.DBAPIError):
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if exc.connection_invalidated:
            rule = _TEMPORARY
        elif isinstance(sqlstate, str):
            rule = _sqlstate_rule(sqlstate)
        elif isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) or isinstance(
            orig, OSError
        ):
            rule = _TEMPORARY
        else:
            rule = _SYSTEM
    elif isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        rule = _TEMPORARY  # pool checkout timed out, or a pooled connection died
    elif isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None)
        rule = _sqlstate_rule(sqlstate) if isinstance(sqlstate, str) else _SYSTEM
    elif isinstance(exc, sa_exc.SQLAlchemyError | asyncpg.InterfaceError):
        rule = _SYSTEM
    else:
        return None
    code = "database_unavailable" if rule is _TEMPORARY else "database_error"
    return rule.to_classification(code)


def _classify_redis(exc: BaseException) -> Classification | None:
    # BusyLoadingError is a ConnectionError; ReadOnlyError means a failover is under way.
    if isinstance(
        exc, redis_exc.ConnectionError | redis_exc.TimeoutError | redis_exc.ReadOnlyError
    ):
        return _TEMPORARY.to_classification("redis_unavailable")
    if isinstance(exc, redis_exc.RedisError):
        return _SYSTEM.to_classification("redis_error")
    return None


def classify(exc: BaseException) -> Classification:
    """Classify any exception by its type and structured fields."""
    if isinstance(exc, LeadwireError):
        return _classify_leadwire(exc)
    if isinstance(exc, asyncio.CancelledError):
        # A worker shutting down cancels its jobs; the work itself did not fail.
        return _TEMPORARY.to_classification("cancelled")
    database = _classify_database(exc)
    if database is not None:
        return database
    cache = _classify_redis(exc)
    if cache is not None:
        return cache
    # TimeoutError (asyncio.TimeoutError is the same class) is an OSError: test it first.
    if isinstance(exc, TimeoutError):
        return _TEMPORARY.to_classification("timeout")
    if isinstance(exc, OSError):
        return _TEMPORARY.to_classification("network")
    if isinstance(exc, ValidationError):
        return _VALIDATION.to_classification("invalid_data")
    return _SYSTEM.to_classification("internal_error")
