"""When failed work runs again: exponential backoff with jitter, per error class.

`next_retry` turns a `Classification` and the number of tries so far into the time of the next
try, or None when the work must not run again automatically (not retryable, or exhausted:
the caller moves it to the dead letter or closes it, by its policy).

Jitter is drawn from the `random.Random` the caller passes, so tests and the simulator are
reproducible; production passes one `random.Random()` per process.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadwire.platform.classify import Classification, Policy
from leadwire.platform.errors import ErrorClass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_attempts` counts every try, the first included: 1 means never retried.

    `jitter` is the largest fraction of the exponential delay added at random (0.25: up to
    25 % more), so work that failed together does not come back together.
    """

    max_attempts: int
    base_s: float
    cap_s: float
    jitter: float


NO_RETRY = RetryPolicy(max_attempts=1, base_s=0.0, cap_s=0.0, jitter=0.0)

CLASS_RETRY: Mapping[ErrorClass, RetryPolicy] = {
    # 2, 4, 8 ... s capped at 5 min: a lead is worth most in its first minutes.
    ErrorClass.TEMPORARY: RetryPolicy(max_attempts=8, base_s=2.0, cap_s=300.0, jitter=0.25),
    # Waiting for a limit is not a failure of the work; allow many waits.
    ErrorClass.RATE_LIMIT: RetryPolicy(max_attempts=20, base_s=1.0, cap_s=600.0, jitter=0.25),
    # Slower, so a human has time to act on the escalation before the work is dead-lettered.
    ErrorClass.SYSTEM: RetryPolicy(max_attempts=5, base_s=30.0, cap_s=1800.0, jitter=0.25),
    # An unknown provider failure: a few tries, then the dead letter.
    ErrorClass.EXTERNAL: RetryPolicy(max_attempts=4, base_s=10.0, cap_s=600.0, jitter=0.25),
    ErrorClass.VALIDATION: NO_RETRY,
    ErrorClass.CONSENT: NO_RETRY,
    ErrorClass.BUSINESS: NO_RETRY,
}

# Provider-specific schedules, by `Classification.code` (the `external` class's policy).
PROVIDER_RETRY: Mapping[str, RetryPolicy] = {
    # "Usually no; one delayed retry acceptable for valid E.164 numbers" (carrier outage).
    "twilio.13224": RetryPolicy(max_attempts=2, base_s=3600.0, cap_s=3600.0, jitter=0.1),
    # "'To' cannot be reached: no for now; maybe once after hours".
    "twilio.21214": RetryPolicy(max_attempts=2, base_s=14400.0, cap_s=14400.0, jitter=0.1),
}


def policy_for(classification: Classification) -> RetryPolicy:
    """The schedule for a classification: the provider's own first, else its class's."""
    if not classification.retryable:
        return NO_RETRY
    provider = PROVIDER_RETRY.get(classification.code)
    if provider is not None:
        return provider
    return CLASS_RETRY[classification.error_class]


def backoff_delay(
    attempt: int, *, base_s: float, cap_s: float, jitter: float, rng: random.Random
) -> float:
    """Seconds to wait after the `attempt`-th failed try (1-based).

    ``base_s * 2 ** (attempt - 1)`` plus up to `jitter` of that at random, never more than
    `cap_s`.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    exponential = base_s * 2.0 ** (attempt - 1)
    return min(cap_s, exponential + rng.uniform(0.0, jitter * exponential))


def next_retry(
    classification: Classification, *, attempt: int, rng: random.Random, now: datetime
) -> datetime | None:
    """When to try again after the `attempt`-th try failed, or None (no automatic retry).

    None means: not retryable (validation, consent, business, the "bug" rows), or the
    schedule is exhausted; the caller dead-letters or closes the work by its policy.
    A known `retry_after_s` is a floor; for `delay_until_reset` it is the delay itself, plus
    a little jitter so waiting work does not stampede at the reset.
    """
    policy = policy_for(classification)
    if attempt >= policy.max_attempts:
        return None
    retry_after_s = classification.retry_after_s
    if classification.policy is Policy.DELAY_UNTIL_RESET and retry_after_s is not None:
        delay = retry_after_s + rng.uniform(0.0, policy.jitter * retry_after_s)
    else:
        delay = backoff_delay(
            attempt, base_s=policy.base_s, cap_s=policy.cap_s, jitter=policy.jitter, rng=rng
        )
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
    return now + timedelta(seconds=delay)
