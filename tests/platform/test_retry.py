import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.platform.classify import Classification, Policy, classify_provider_error
from leadwire.platform.errors import ErrorClass
from leadwire.platform.retry import (
    CLASS_RETRY,
    NO_RETRY,
    RetryPolicy,
    backoff_delay,
    next_retry,
    policy_for,
)

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def _classification(
    error_class: ErrorClass,
    *,
    retryable: bool = True,
    policy: Policy = Policy.RETRY_BACKOFF,
    retry_after_s: float | None = None,
    code: str = "x",
) -> Classification:
    return Classification(error_class, code, retryable, policy, retry_after_s)


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (7, 128.0), (8, 250.0)]
)
def test_backoff_doubles_from_the_base_up_to_the_cap(attempt: int, expected: float) -> None:
    delay = backoff_delay(attempt, base_s=2.0, cap_s=250.0, jitter=0.0, rng=random.Random(0))
    assert delay == expected


@given(
    attempt=st.integers(min_value=1, max_value=40),
    base_s=st.floats(min_value=0.1, max_value=100.0),
    cap_s=st.floats(min_value=0.1, max_value=10_000.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(),
)
def test_jitter_stays_within_its_fraction_and_the_cap(
    attempt: int, base_s: float, cap_s: float, jitter: float, seed: int
) -> None:
    exponential = base_s * 2.0 ** (attempt - 1)
    delay = backoff_delay(
        attempt, base_s=base_s, cap_s=cap_s, jitter=jitter, rng=random.Random(seed)
    )
    assert min(cap_s, exponential) <= delay <= min(cap_s, exponential * (1 + jitter)) + 1e-9
    assert delay <= cap_s


def test_jitter_spreads_retries_that_failed_together() -> None:
    rng = random.Random(42)
    delays = {backoff_delay(3, base_s=2.0, cap_s=300.0, jitter=0.25, rng=rng) for _ in range(50)}
    assert len(delays) == 50
    assert min(delays) >= 8.0
    assert max(delays) <= 10.0


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        backoff_delay(0, base_s=1.0, cap_s=1.0, jitter=0.0, rng=random.Random(0))


def test_temporary_failures_retry_then_exhaust() -> None:
    temporary = _classification(ErrorClass.TEMPORARY)
    policy = CLASS_RETRY[ErrorClass.TEMPORARY]
    times = [
        next_retry(temporary, attempt=n, rng=random.Random(n), now=NOW)
        for n in range(1, policy.max_attempts + 1)
    ]
    assert all(t is not None for t in times[:-1])
    assert times[-1] is None  # the last try failed: dead letter
    first = times[0]
    assert first is not None
    assert timedelta(seconds=2) <= first - NOW <= timedelta(seconds=2.5)


def test_the_same_seed_gives_the_same_schedule() -> None:
    temporary = _classification(ErrorClass.TEMPORARY)
    one = next_retry(temporary, attempt=3, rng=random.Random(7), now=NOW)
    two = next_retry(temporary, attempt=3, rng=random.Random(7), now=NOW)
    assert one == two


@pytest.mark.parametrize(
    "error_class", [ErrorClass.VALIDATION, ErrorClass.CONSENT, ErrorClass.BUSINESS]
)
def test_classes_that_never_retry(error_class: ErrorClass) -> None:
    classification = _classification(error_class, retryable=False, policy=Policy.NO_RETRY)
    assert policy_for(classification) is NO_RETRY
    assert next_retry(classification, attempt=1, rng=random.Random(0), now=NOW) is None


def test_a_not_retryable_system_error_goes_straight_to_the_dead_letter() -> None:
    geo = classify_provider_error(provider="twilio", provider_code=21215)
    assert next_retry(geo, attempt=1, rng=random.Random(0), now=NOW) is None


def test_a_rate_limit_waits_until_the_reset_plus_a_little_jitter() -> None:
    limited = _classification(
        ErrorClass.RATE_LIMIT, policy=Policy.DELAY_UNTIL_RESET, retry_after_s=40.0
    )
    jitter = CLASS_RETRY[ErrorClass.RATE_LIMIT].jitter
    for attempt in (1, 10, 19):
        at = next_retry(limited, attempt=attempt, rng=random.Random(attempt), now=NOW)
        assert at is not None
        assert timedelta(seconds=40) <= at - NOW <= timedelta(seconds=40 * (1 + jitter))
    assert next_retry(limited, attempt=20, rng=random.Random(0), now=NOW) is None


def test_a_rate_limit_without_retry_after_backs_off() -> None:
    limited = _classification(ErrorClass.RATE_LIMIT, policy=Policy.DELAY_UNTIL_RESET)
    at = next_retry(limited, attempt=4, rng=random.Random(0), now=NOW)
    assert at is not None
    assert timedelta(seconds=8) <= at - NOW <= timedelta(seconds=10)


def test_retry_after_is_a_floor_for_other_classes() -> None:
    unavailable = _classification(ErrorClass.TEMPORARY, retry_after_s=120.0)
    at = next_retry(unavailable, attempt=1, rng=random.Random(0), now=NOW)
    assert at == NOW + timedelta(seconds=120)


def test_twilio_22005_waits_an_hour() -> None:
    queue_full = classify_provider_error(provider="twilio", provider_code=22005)
    at = next_retry(queue_full, attempt=1, rng=random.Random(0), now=NOW)
    assert at is not None
    assert at - NOW >= timedelta(hours=1)


@pytest.mark.parametrize(("code", "hours"), [(13224, 1), (21214, 4)])
def test_provider_specific_single_delayed_retry(code: int, hours: int) -> None:
    classification = classify_provider_error(provider="twilio", provider_code=code)
    assert policy_for(classification).max_attempts == 2
    at = next_retry(classification, attempt=1, rng=random.Random(0), now=NOW)
    assert at is not None
    assert at - NOW == timedelta(hours=hours)  # capped at the base: exactly one delay
    assert next_retry(classification, attempt=2, rng=random.Random(0), now=NOW) is None


def test_an_unknown_external_failure_uses_the_external_schedule() -> None:
    unknown = classify_provider_error(provider="twilio", provider_code=31005)
    assert policy_for(unknown) == CLASS_RETRY[ErrorClass.EXTERNAL]
    last = CLASS_RETRY[ErrorClass.EXTERNAL].max_attempts
    assert next_retry(unknown, attempt=last, rng=random.Random(0), now=NOW) is None


def test_every_class_has_a_schedule() -> None:
    assert set(CLASS_RETRY) == set(ErrorClass)
    assert all(isinstance(policy, RetryPolicy) for policy in CLASS_RETRY.values())
