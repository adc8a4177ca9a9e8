import asyncio

import asyncpg
import pydantic
import pytest
import redis.exceptions as redis_exc
import sqlalchemy.exc as sa_exc

from leadwire.platform.classify import (
    TWILIO_ERROR_CODES,
    Classification,
    Policy,
    TransportCode,
    classify,
    classify_provider_error,
)
from leadwire.platform.errors import (
    BadSignature,
    Conflict,
    ErrorClass,
    ExternalServiceError,
    InvalidPayload,
    LeadwireError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
)

T = ErrorClass.TEMPORARY
R = ErrorClass.RATE_LIMIT
V = ErrorClass.VALIDATION
S = ErrorClass.SYSTEM
E = ErrorClass.EXTERNAL
C = ErrorClass.CONSENT
B = ErrorClass.BUSINESS

# Every Twilio code reference/integrations.md names (§6.3-§6.6):
# code: (class, policy, retryable, escalate)
TWILIO_EXPECTED: dict[int, tuple[ErrorClass, Policy, bool, bool]] = {
    20003: (S, Policy.NO_RETRY, False, True),
    20404: (V, Policy.NO_RETRY, False, False),
    20429: (R, Policy.DELAY_UNTIL_RESET, True, False),
    10004: (R, Policy.DELAY_UNTIL_RESET, True, False),
    22005: (R, Policy.DELAY_UNTIL_RESET, True, True),
    21205: (S, Policy.NO_RETRY, False, True),
    21210: (B, Policy.HOLD_FOR_TENANT, False, True),
    21211: (V, Policy.NO_RETRY, False, False),
    21212: (B, Policy.HOLD_FOR_TENANT, False, True),
    21213: (S, Policy.NO_RETRY, False, True),
    21214: (E, Policy.PROVIDER_SPECIFIC, True, False),
    21215: (S, Policy.NO_RETRY, False, True),
    21216: (E, Policy.PROVIDER_SPECIFIC, False, True),
    21217: (V, Policy.NO_RETRY, False, False),
    21218: (S, Policy.NO_RETRY, False, True),
    21219: (S, Policy.NO_RETRY, False, True),
    21220: (V, Policy.NO_RETRY, False, False),
    21262: (S, Policy.NO_RETRY, False, True),
    21610: (C, Policy.COMPLIANCE_BLOCK, False, False),
    13223: (V, Policy.NO_RETRY, False, False),
    13224: (E, Policy.PROVIDER_SPECIFIC, True, False),
    13225: (E, Policy.PROVIDER_SPECIFIC, False, True),
    13226: (V, Policy.NO_RETRY, False, False),
    13227: (S, Policy.NO_RETRY, False, True),
    32205: (S, Policy.NO_RETRY, False, True),
    11200: (S, Policy.RETRY_AND_ESCALATE, True, True),
    11205: (S, Policy.RETRY_AND_ESCALATE, True, True),
    11220: (S, Policy.RETRY_AND_ESCALATE, True, True),
    12100: (S, Policy.NO_RETRY, False, True),
    15003: (S, Policy.NO_RETRY, False, True),
    64107: (S, Policy.NO_RETRY, False, True),
    57012: (S, Policy.NO_RETRY, False, True),
}


def test_the_twilio_table_covers_exactly_the_reference_codes() -> None:
    assert set(TWILIO_ERROR_CODES) == set(TWILIO_EXPECTED)


@pytest.mark.parametrize(("code", "expected"), sorted(TWILIO_EXPECTED.items()))
def test_every_twilio_code(code: int, expected: tuple[ErrorClass, Policy, bool, bool]) -> None:
    error_class, policy, retryable, escalate = expected
    # An HTTP status that would classify differently proves the code wins.
    exc = ExternalServiceError(
        "Twilio failed", provider="twilio", provider_code=code, http_status=418
    )
    assert classify(exc) == Classification(
        error_class=error_class,
        code=f"twilio.{code}",
        retryable=retryable,
        policy=policy,
        retry_after_s={10004: 60.0, 22005: 3600.0}.get(code),
        escalate=escalate,
    )


def test_twilio_code_given_as_a_string_is_the_same_code() -> None:
    as_text = classify_provider_error(provider="twilio", provider_code=" 21211 ")
    assert as_text == classify_provider_error(provider="twilio", provider_code=21211)


def test_the_message_never_decides() -> None:
    # The peer's bug from STYLE.md: a phone number containing 429 is not a rate limit.
    exc = ExternalServiceError(
        "Invalid phone number: +14295551234",
        provider="twilio",
        provider_code=21211,
        http_status=400,
    )
    assert classify(exc).error_class is ErrorClass.VALIDATION
    unknown = ExternalServiceError("rate limit 429 timeout", provider="hubspot", http_status=400)
    assert classify(unknown).error_class is ErrorClass.VALIDATION


def test_retry_after_from_the_response_overrides_the_table_default() -> None:
    exc = ExternalServiceError(
        "x", provider="twilio", provider_code=20429, http_status=429, retry_after_s=7
    )
    assert classify(exc).retry_after_s == 7
    queue_full = ExternalServiceError("x", provider="twilio", provider_code=22005, http_status=400)
    assert classify(queue_full).retry_after_s == 3600.0


# (status, class, retryable, escalate) per outside API, for the statuses the brief names.
_COMMON = {
    400: (V, False, False),
    404: (V, False, False),
    409: (T, True, False),
    422: (V, False, False),
    429: (R, True, False),
    500: (T, True, False),
    502: (T, True, False),
    503: (T, True, False),
    504: (T, True, False),
}
HTTP_EXPECTED: dict[str, dict[int, tuple[ErrorClass, bool, bool]]] = {
    "twilio": {**_COMMON, 401: (S, False, True), 403: (S, False, True)},
    "meta": {**_COMMON, 401: (B, False, True), 403: (B, False, True)},
    "hubspot": {**_COMMON, 401: (B, False, True), 403: (B, False, True)},
    "gemini": {**_COMMON, 401: (S, False, True), 403: (S, False, True), 404: (S, False, True)},
}


@pytest.mark.parametrize(
    ("provider", "status", "expected"),
    [
        (provider, status, expected)
        for provider, statuses in HTTP_EXPECTED.items()
        for status, expected in sorted(statuses.items())
    ],
)
def test_http_failures_of_each_outside_api(
    provider: str, status: int, expected: tuple[ErrorClass, bool, bool]
) -> None:
    error_class = expected[0]
    result = classify(ExternalServiceError("failed", provider=provider, http_status=status))
    assert (result.error_class, result.retryable, result.escalate) == expected
    assert result.code == f"{provider}.http_{status}"
    assert (
        result.policy
        is {
            T: Policy.RETRY_BACKOFF,
            R: Policy.DELAY_UNTIL_RESET,
            V: Policy.NO_RETRY,
            S: Policy.NO_RETRY,
            B: Policy.HOLD_FOR_TENANT,
        }[error_class]
    )


def test_a_429_carries_its_retry_after() -> None:
    exc = ExternalServiceError("slow down", provider="gemini", http_status=429, retry_after_s=30)
    assert classify(exc).retry_after_s == 30


def test_unknown_statuses_fall_back_by_family() -> None:
    assert classify_provider_error(provider="hubspot", http_status=507).error_class is T
    teapot = classify_provider_error(provider="meta", http_status=418)
    assert (teapot.error_class, teapot.retryable, teapot.escalate) == (E, False, True)


def test_an_unknown_provider_code_keeps_its_name_and_the_status_rule() -> None:
    result = classify_provider_error(provider="twilio", provider_code=99999, http_status=503)
    assert (result.code, result.error_class) == ("twilio.99999", T)


def test_a_failed_call_with_an_unknown_or_no_code_is_retried() -> None:
    for code in (None, 31005):
        result = classify_provider_error(provider="twilio", provider_code=code)
        assert (result.error_class, result.retryable) == (E, True)
    assert classify_provider_error(provider="twilio").code == "twilio.unknown"


@pytest.mark.parametrize(
    ("code", "expected"),
    [(4, R), (17, R), (32, R), (341, R), (613, R), (190, B), (102, B), (10, B), (200, B),
     (299, B), (1, T), (2, T), (368, T)],
)  # fmt: skip
def test_meta_graph_error_codes_win_over_their_http_400(code: int, expected: ErrorClass) -> None:
    exc = ExternalServiceError("graph", provider="meta", provider_code=code, http_status=400)
    assert classify(exc).error_class is expected


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        (TransportCode.TIMEOUT, (T, True, False)),
        (TransportCode.NETWORK, (T, True, False)),
        (TransportCode.BAD_RESPONSE, (E, True, True)),
    ],
)
def test_transport_failures(
    transport: TransportCode, expected: tuple[ErrorClass, bool, bool]
) -> None:
    for provider in ("twilio", "meta", "hubspot", "gemini"):
        result = classify(ExternalServiceError("x", provider=provider, provider_code=transport))
        assert (result.error_class, result.retryable, result.escalate) == expected
        assert result.code == f"{provider}.{transport}"


@pytest.mark.parametrize(
    ("exc", "error_class", "code", "retryable", "retry_after_s"),
    [
        (InvalidPayload("bad", field="phone"), V, "invalid_payload", False, None),
        (BadSignature("bad"), V, "bad_signature", False, None),
        (NotFound("gone"), V, "not_found", False, None),
        (Conflict("busy"), B, "conflict", False, None),
        (RateLimited("slow", retry_after_s=2.2), R, "rate_limited", True, 3.0),
        (ServiceUnavailable("db down", retry_after_s=7), T, "service_unavailable", True, 7.0),
        (LeadwireError("boom"), S, "internal_error", True, None),
        (
            LeadwireError("held", code="tenant_paused", error_class=B),
            B,
            "tenant_paused",
            False,
            None,
        ),
    ],
)
def test_our_own_error_tree(
    exc: LeadwireError,
    error_class: ErrorClass,
    code: str,
    retryable: bool,
    retry_after_s: float | None,
) -> None:
    result = classify(exc)
    assert (result.error_class, result.code, result.retryable) == (error_class, code, retryable)
    assert result.retry_after_s == retry_after_s
    assert result.escalate is (error_class is S)


class _Orig(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


def _dbapi(cls: type[sa_exc.DBAPIError], sqlstate: str | None, **kwargs: bool) -> BaseException:
    return cls("SELECT 1", {}, _Orig(sqlstate), **kwargs)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), (T, "timeout")),
        (ConnectionRefusedError(), (T, "network")),
        (ConnectionResetError(), (T, "network")),
        (OSError("unreachable"), (T, "network")),
        (asyncio.CancelledError(), (T, "cancelled")),
        (_dbapi(sa_exc.OperationalError, None), (T, "database_unavailable")),
        (_dbapi(sa_exc.InterfaceError, None), (T, "database_unavailable")),
        (_dbapi(sa_exc.DBAPIError, "08006"), (T, "database_unavailable")),
        (_dbapi(sa_exc.DBAPIError, "53300"), (T, "database_unavailable")),
        (_dbapi(sa_exc.DBAPIError, "40001"), (T, "database_unavailable")),
        (_dbapi(sa_exc.DBAPIError, "40P01"), (T, "database_unavailable")),
        (_dbapi(sa_exc.DBAPIError, "57P03"), (T, "database_unavailable")),
        (_dbapi(sa_exc.IntegrityError, "23505"), (S, "database_error")),
        (_dbapi(sa_exc.ProgrammingError, "42P01"), (S, "database_error")),
        (_dbapi(sa_exc.DBAPIError, None, connection_invalidated=True), (T, "database_unavailable")),
        (sa_exc.TimeoutError("pool"), (T, "database_unavailable")),
        (sa_exc.DisconnectionError("gone"), (T, "database_unavailable")),
        (sa_exc.NoResultFound("none"), (S, "database_error")),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), (T, "database_unavailable")),
        (asyncpg.exceptions.CannotConnectNowError("starting"), (T, "database_unavailable")),
        (asyncpg.exceptions.TooManyConnectionsError("full"), (T, "database_unavailable")),
        (asyncpg.exceptions.SerializationError("retry"), (T, "database_unavailable")),
        (asyncpg.exceptions.UniqueViolationError("dup"), (S, "database_error")),
        (asyncpg.exceptions.InterfaceError("misuse"), (S, "database_error")),
        (redis_exc.ConnectionError("down"), (T, "redis_unavailable")),
        (redis_exc.TimeoutError("slow"), (T, "redis_unavailable")),
        (redis_exc.BusyLoadingError("loading"), (T, "redis_unavailable")),
        (redis_exc.ReadOnlyError("replica"), (T, "redis_unavailable")),
        (redis_exc.ResponseError("WRONGTYPE"), (S, "redis_error")),
        (KeyError("bug"), (S, "internal_error")),
        (ValueError("bug"), (S, "internal_error")),
    ],
)
def test_infrastructure_errors_by_type(
    exc: BaseException, expected: tuple[ErrorClass, str]
) -> None:
    result = classify(exc)
    assert (result.error_class, result.code) == expected
    assert result.retryable
    assert result.escalate is (expected[0] is S)


def test_pydantic_validation_errors_are_not_retried() -> None:
    class Shape(pydantic.BaseModel):
        n: int

    with pytest.raises(pydantic.ValidationError) as caught:
        Shape.model_validate({"n": "x"})
    result = classify(caught.value)
    assert (result.error_class, result.retryable, result.policy) == (V, False, Policy.NO_RETRY)
