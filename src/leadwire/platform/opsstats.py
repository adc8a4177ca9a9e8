"""Operational series shared by every process: per-minute counters and samples in Redis.

Prometheus series live in each process's memory, but the dashboard and the admin metrics
must see the whole platform (every API and worker replica), so the few figures they show are
also kept in Redis, one hash (counters) or list (samples) per series and minute:

    leadwire:ops:<series>:c:<minute>            hash   label -> count
    leadwire:ops:<series>:c:<minute>:<tenant>   hash   the same, for one tenant
    leadwire:ops:<series>:s:<minute>            list   sample values (seconds)

Keys expire after `RETENTION`, so a window can reach back 24 hours. Writes are one pipelined
round trip; a failure to write is logged and swallowed (figures are not worth failing work).

Series written today: `errors` (label = error class; by `platform.job_runner`), `dials`
(label = priority), `call_outcomes` (label = outcome), samples `speed_to_lead.dial` and
`speed_to_lead.answer` (by the dialer, through `record_dial` / `record_answer`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from redis.asyncio import Redis

from leadwire.platform.observability import Metrics

log = logging.getLogger("leadwire.opsstats")

PREFIX = "leadwire:ops"
RETENTION = dt.timedelta(hours=26)
MAX_WINDOW = dt.timedelta(hours=24)
# Samples kept per series and minute; enough for a p95 at any realistic dial rate.
MAX_SAMPLES_PER_MINUTE = 5000

ERRORS = "errors"
DIALS = "dials"
CALL_OUTCOMES = "call_outcomes"
SPEED_TO_DIAL = "speed_to_lead.dial"
SPEED_TO_ANSWER = "speed_to_lead.answer"

_WINDOW = re.compile(r"^(\d{1,4})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text: str) -> dt.timedelta:
    """`"15m"`, `"1h"`, `"24h"` -> a timedelta between one minute and 24 hours.

    Raises ValueError naming the accepted form otherwise.
    """
    match = _WINDOW.match(text.strip())
    if match is None:
        raise ValueError("window must be a number and a unit (s, m, h, d), e.g. 15m, 1h, 24h")
    window = dt.timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])
    if not dt.timedelta(minutes=1) <= window <= MAX_WINDOW:
        raise ValueError("window must be between 1m and 24h")
    return window


def minute_of(at: float) -> int:
    return int(at // 60)


def minutes_in(window: dt.timedelta, *, now: float) -> list[int]:
    """The minutes (epoch minutes) a window covers, oldest first, the current one included."""
    last = minute_of(now)
    count = max(1, math.ceil(window.total_seconds() / 60))
    return list(range(last - count + 1, last + 1))


def _counter_key(series: str, minute: int, tenant_id: str | None) -> str:
    base = f"{PREFIX}:{series}:c:{minute}"
    return f"{base}:{tenant_id}" if tenant_id else base


def _sample_key(series: str, minute: int, tenant_id: str | None) -> str:
    base = f"{PREFIX}:{series}:s:{minute}"
    return f"{base}:{tenant_id}" if tenant_id else base


async def incr(
    redis: Redis,
    series: str,
    label: str,
    *,
    n: int = 1,
    tenant_id: str | None = None,
    at: float | None = None,
) -> None:
    """Count `n` events of `label` in `series` (platform-wide, and for the tenant if given)."""
    minute = minute_of(time.time() if at is None else at)
    ttl = int(RETENTION.total_seconds())
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for tenant in (None, tenant_id) if tenant_id else (None,):
                key = _counter_key(series, minute, tenant)
                pipe.hincrby(key, label, n)
                pipe.expire(key, ttl)
            await pipe.execute()
    except Exception as exc:  # figures must never fail the work that produced them
        log.warning("ops counter not written", extra={"series": series, "error": repr(exc)})


async def observe(
    redis: Redis,
    series: str,
    value: float,
    *,
    tenant_id: str | None = None,
    at: float | None = None,
) -> None:
    """Keep one sample (e.g. seconds from receipt to dial) in `series`."""
    minute = minute_of(time.time() if at is None else at)
    ttl = int(RETENTION.total_seconds())
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for tenant in (None, tenant_id) if tenant_id else (None,):
                key = _sample_key(series, minute, tenant)
                pipe.rpush(key, repr(float(value)))
                pipe.ltrim(key, -MAX_SAMPLES_PER_MINUTE, -1)
                pipe.expire(key, ttl)
            await pipe.execute()
    except Exception as exc:
        log.warning("ops sample not written", extra={"series": series, "error": repr(exc)})


async def counts(
    redis: Redis, series: str, *, minutes: Sequence[int], tenant_id: str | None = None
) -> dict[int, dict[str, int]]:
    """Per-minute counts by label for the given minutes (missing minutes are empty)."""
    async with redis.pipeline(transaction=False) as pipe:
        for minute in minutes:
            pipe.hgetall(_counter_key(series, minute, tenant_id))
        rows = await pipe.execute()
    return {
        minute: {_text(k): int(v) for k, v in row.items()}
        for minute, row in zip(minutes, rows, strict=True)
    }


async def samples(
    redis: Redis, series: str, *, minutes: Sequence[int], tenant_id: str | None = None
) -> dict[int, list[float]]:
    async with redis.pipeline(transaction=False) as pipe:
        for minute in minutes:
            pipe.lrange(_sample_key(series, minute, tenant_id), 0, -1)
        rows = await pipe.execute()
    return {minute: [float(v) for v in row] for minute, row in zip(minutes, rows, strict=True)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def totals(per_minute: Mapping[int, Mapping[str, int]]) -> dict[str, int]:
    """Sum per-minute counts over the window, by label."""
    out: dict[str, int] = {}
    for row in per_minute.values():
        for label, value in row.items():
            out[label] = out.get(label, 0) + value
    return dict(sorted(out.items()))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = math.ceil(position)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True, slots=True)
class Quantiles:
    count: int
    p50: float | None
    p95: float | None

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "count": self.count,
            "p50": None if self.p50 is None else round(self.p50, 3),
            "p95": None if self.p95 is None else round(self.p95, 3),
        }


def quantiles(values: Iterable[float]) -> Quantiles:
    data = list(values)
    return Quantiles(len(data), percentile(data, 0.5), percentile(data, 0.95))


# ---- per-process Prometheus counters of the failure machinery ---------------------------------


class OpsCounters:
    """Counters the job wrapper and escalations add to a process's registry.

    (Dead letters are counted from PostgreSQL at scrape time: `admin.prometheus`.)
    """

    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.job_retries = Counter(
            "leadwire_job_retries_total",
            "Failed task runs scheduled to run again, by task and error class",
            ["task", "error_class"],
            registry=r,
        )
        self.escalations = Counter(
            "leadwire_escalations_total",
            "Escalations raised, by severity and whether new or a deduplicated repeat",
            ["severity", "result"],
            registry=r,
        )
        self.escalation_deliveries = Counter(
            "leadwire_escalation_delivery_attempts_total",
            "Escalation webhook delivery attempts, by target and outcome",
            ["target", "outcome"],
            registry=r,
        )


_COUNTERS: weakref.WeakKeyDictionary[Metrics, OpsCounters] = weakref.WeakKeyDictionary()


def ops_counters(metrics: Metrics) -> OpsCounters:
    """The counters registered on `metrics`' registry (created on first use)."""
    counters = _COUNTERS.get(metrics)
    if counters is None:
        counters = _COUNTERS[metrics] = OpsCounters(metrics)
    return counters


# ---- what the dialer records (one call each; Prometheus and the shared series together) -------


async def record_dial(
    redis: Redis,
    metrics: Metrics,
    *,
    priority: str,
    received_to_dial_s: float | None,
    tenant_id: str | None = None,
) -> None:
    """A dial request went to the provider: count it, and its speed to lead when it is the
    lead's first dial (`received_to_dial_s`; None for a retry, which is not speed to lead)."""
    await incr(redis, DIALS, priority, tenant_id=tenant_id)
    if received_to_dial_s is None:
        return
    metrics.speed_to_lead.labels(priority).observe(received_to_dial_s)
    await observe(redis, SPEED_TO_DIAL, received_to_dial_s, tenant_id=tenant_id)


async def record_answer(
    redis: Redis, *, received_to_answer_s: float, tenant_id: str | None = None
) -> None:
    """The callee answered: the second speed-to-lead figure the dashboard charts."""
    await observe(redis, SPEED_TO_ANSWER, received_to_answer_s, tenant_id=tenant_id)


async def record_call_outcome(redis: Redis, *, outcome: str, tenant_id: str | None = None) -> None:
    await incr(redis, CALL_OUTCOMES, outcome, tenant_id=tenant_id)
