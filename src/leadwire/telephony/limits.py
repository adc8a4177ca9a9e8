"""The dialer's rate-limit layers, taken after the board's claim (see `board.py`).

* Per-tenant calls per minute, hour and day: `limits` moving windows on Redis (exact with any
  number of processes). Emergency and high leads get `priority_headroom_pct` more (rounded
  up, at least one call when the headroom is positive). Both amounts count in *one* window per
  tenant and granularity (`PerMinute`... leave the amount out of the key), so a priority
  call sees the ordinary calls and vice versa; the moving-window script trims the list only
  to entries already outside the window, so the two amounts coexist exactly.
* Attempts per number in 24 h (technical, platform-wide; compliance keeps the legal caps).
* The tenant's daily budget (in the tenant's time zone): each call reserves the most it can
  cost (`agent.max_call_seconds` at `LEADWIRE_CALL_COST_PER_MINUTE_USD`) and the final
  callback settles the reservation to the real cost. One small Lua script, in micro-dollars,
  idempotent per call.
* Adaptive limiting: a tenant whose recent calls fail at the carrier (at least half of the
  last 20, once 10 are known) has its per-minute and per-hour rates halved and an escalation
  raised; it recovers when the failure share drops to a fifth.

Concurrency slots and the account's calls per second are taken by the board's claim, in the
board's order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from limits import (
    RateLimitItem,
    RateLimitItemPerDay,
    RateLimitItemPerHour,
    RateLimitItemPerMinute,
)
from limits.aio.strategies import MovingWindowRateLimiter
from limits.limits import safe_string

from leadwire.platform.ratelimit import RateLimiter
from leadwire.telephony.board import PRIORITY_CLASS
from leadwire.tenants.plans import PLANS
from leadwire.tenants.settings_schema import TenantSettings

log = logging.getLogger("leadwire.telephony.limits")

MICRO = Decimal(1_000_000)
ADAPT_WINDOW = 20
ADAPT_MIN_SAMPLES = 10
ADAPT_TRIP = 0.5
ADAPT_RECOVER = 0.2
ADAPT_FACTOR = 0.5


def _shared_key(item: RateLimitItem, identifiers: tuple[bytes | str | int | float, ...]) -> str:
    parts = [safe_string(k) for k in identifiers]
    return "/".join([item.namespace, *parts, str(item.multiples), item.GRANULARITY.name])


class PerMinute(RateLimitItemPerMinute):
    """Per minute, with the amount left out of the key: all amounts share one window."""

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return _shared_key(self, identifiers)


class PerHour(RateLimitItemPerHour):
    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return _shared_key(self, identifiers)


class PerDay(RateLimitItemPerDay):
    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return _shared_key(self, identifiers)


def with_headroom(amount: int, pct: int) -> int:
    """`amount` plus `pct` percent, rounded up (so a positive headroom is at least one)."""
    if amount <= 0 or pct <= 0:
        return amount
    return amount + math.ceil(amount * pct / 100)


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """A tenant's effective limits: its settings, capped by its plan."""

    calls_per_minute: int
    calls_per_hour: int
    calls_per_day: int
    concurrent_calls: int
    daily_budget_usd: Decimal
    headroom_pct: int
    max_call_seconds: int

    def for_priority(self, priority: str) -> TenantLimits:
        """The amounts a call of `priority` may use (headroom for emergency and high)."""
        if priority not in PRIORITY_CLASS:
            return self
        pct = self.headroom_pct
        return replace(
            self,
            calls_per_minute=with_headroom(self.calls_per_minute, pct),
            calls_per_hour=with_headroom(self.calls_per_hour, pct),
            calls_per_day=with_headroom(self.calls_per_day, pct),
            concurrent_calls=with_headroom(self.concurrent_calls, pct),
        )

    def adapted(self, factor: float) -> TenantLimits:
        """Rates cut by the adaptive factor (never below one call)."""
        if factor >= 1.0:
            return self
        return replace(
            self,
            calls_per_minute=max(1, math.floor(self.calls_per_minute * factor)),
            calls_per_hour=max(1, math.floor(self.calls_per_hour * factor)),
        )


def effective_limits(settings: TenantSettings, plan: str) -> TenantLimits:
    limits = settings.limits
    plan_caps = PLANS.get(plan)
    concurrent = limits.concurrent_calls
    per_day = limits.calls_per_day
    if plan_caps is not None:
        concurrent = min(concurrent, plan_caps.max_concurrent_calls)
        per_day = min(per_day, plan_caps.max_calls_per_day)
    return TenantLimits(
        calls_per_minute=limits.calls_per_minute,
        calls_per_hour=limits.calls_per_hour,
        calls_per_day=per_day,
        concurrent_calls=concurrent,
        daily_budget_usd=Decimal(str(limits.daily_budget_usd)),
        headroom_pct=limits.priority_headroom_pct,
        max_call_seconds=settings.agent.max_call_seconds,
    )


def reservation_usd(max_call_seconds: int, cost_per_minute_usd: float) -> Decimal:
    """The most one call can cost: its longest billed length at the per-minute rate."""
    minutes = math.ceil(max_call_seconds / 60)
    return (Decimal(str(cost_per_minute_usd)) * minutes).quantize(Decimal("0.00001"))


def budget_day(timezone: str, now: dt.datetime) -> str:
    """The tenant's calendar day, which its daily budget and call count belong to."""
    return now.astimezone(ZoneInfo(timezone)).date().isoformat()


def next_midnight(timezone: str, now: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    tomorrow = local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A layer said no: `tenant_wide` blocks the tenant's board for `retry_after_s`."""

    layer: str
    retry_after_s: float
    tenant_wide: bool = True


@dataclass(frozen=True, slots=True)
class AdaptiveState:
    degraded: bool
    failure_share: float
    samples: int

    @property
    def factor(self) -> float:
        return ADAPT_FACTOR if self.degraded else 1.0


def adapt(history: Sequence[bool], *, degraded: bool) -> AdaptiveState:
    """Whether a tenant's rate is cut, from its recent carrier results (True = failed).

    Hysteresis: cut at a failure share of `ADAPT_TRIP`, restored only at `ADAPT_RECOVER`, so a
    tenant does not flap around the threshold.
    """
    recent = list(history[:ADAPT_WINDOW])
    samples = len(recent)
    share = sum(recent) / samples if samples else 0.0
    if samples < ADAPT_MIN_SAMPLES:
        return AdaptiveState(degraded, share, samples)
    if not degraded and share >= ADAPT_TRIP:
        return AdaptiveState(True, share, samples)
    if degraded and share <= ADAPT_RECOVER:
        return AdaptiveState(False, share, samples)
    return AdaptiveState(degraded, share, samples)


_BUDGET = """
local key, member = KEYS[1], 'r:'..ARGV[2]
if ARGV[1] == 'reserve' then
  if redis.call('HEXISTS', key, member) == 1 then return {1, 0} end
  local spent = tonumber(redis.call('HGET', key, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', key, 'reserved') or '0')
  local amount, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
  if spent + reserved + amount > cap then return {0, spent + reserved} end
  redis.call('HINCRBY', key, 'reserved', amount)
  redis.call('HSET', key, member, amount)
  redis.call('HINCRBY', key, 'calls', 1)
  redis.call('EXPIRE', key, ARGV[5])
  return {1, spent + reserved + amount}
end
local held = redis.call('HGET', key, member)
if not held then return {0, 0} end
redis.call('HDEL', key, member)
redis.call('HINCRBY', key, 'reserved', -tonumber(held))
redis.call('HINCRBY', key, 'spent', tonumber(ARGV[3]))
if ARGV[4] == '1' then redis.call('HINCRBY', key, 'calls', -1) end
return {1, tonumber(held)}
"""


@dataclass(frozen=True, slots=True)
class Usage:
    spent_usd: Decimal
    reserved_usd: Decimal
    calls: int


def _micro(amount: Decimal) -> int:
    return int((amount * MICRO).to_integral_value())


class DialLimits:
    """The Redis side of the layers above; one per process (`limits_of(state)`)."""

    def __init__(self, limiter: RateLimiter, redis: Any, *, per_number_24h: int) -> None:
        self.limiter = limiter
        # The platform's `limits` storage, used directly: a boolean per window, and the reset
        # time only for a refusal (the wrapper reads it after every hit too).
        self._windows = MovingWindowRateLimiter(limiter.storage)
        self.redis = redis
        self.per_number_24h = per_number_24h
        self._budget = redis.register_script(_BUDGET)

    def windows(self, limits: TenantLimits) -> list[tuple[str, RateLimitItem]]:
        items: list[tuple[str, RateLimitItem]] = []
        for layer, amount, cls in (
            ("calls_per_minute", limits.calls_per_minute, PerMinute),
            ("calls_per_hour", limits.calls_per_hour, PerHour),
            ("calls_per_day", limits.calls_per_day, PerDay),
        ):
            items.append((layer, cls(amount, namespace="dial")))
        return items

    @staticmethod
    def number_key(phone_e164: str) -> str:
        return hashlib.sha256(phone_e164.encode()).hexdigest()[:24]

    async def take_windows(
        self, *, tenant_id: uuid.UUID, limits: TenantLimits, phone_e164: str
    ) -> Refusal | None:
        """Count one call in every window, or say which refused and until when.

        Every window is tested first, then hit (each in parallel: one round trip each way);
        two dialers racing for the last unit both pass the test, and the moving-window hit
        (atomic) refuses the second. A hit refused while another layer's succeeded leaves that
        other unit used: a rare, conservative loss, never an overshoot.
        """
        tenant = str(tenant_id)
        layers: list[tuple[str, RateLimitItem, tuple[str, ...], bool]] = [
            (layer, item, ("tenant", tenant), True) for layer, item in self.windows(limits)
        ]
        layers.append(
            (
                "calls_per_number_24h",
                PerDay(self.per_number_24h, namespace="dial"),
                ("number", self.number_key(phone_e164)),
                False,
            )
        )
        for layer, item, _, tenant_wide in layers:
            if item.amount <= 0:
                return Refusal(layer, 3600.0, tenant_wide)
        for step in (self._windows.test, self._windows.hit):
            allowed = await asyncio.gather(*(step(item, *ids) for _, item, ids, _ in layers))
            for (layer, item, ids, tenant_wide), ok in zip(layers, allowed, strict=True):
                if not ok:
                    stats = await self._windows.get_window_stats(item, *ids)
                    wait = max(stats.reset_time - time.time(), 0.05)
                    return Refusal(layer, wait, tenant_wide)
        return None

    @staticmethod
    def budget_key(tenant_id: uuid.UUID, day: str) -> str:
        return f"leadwire:budget:{tenant_id}:{day}"

    async def reserve(
        self,
        *,
        tenant_id: uuid.UUID,
        day: str,
        member: str,
        amount_usd: Decimal,
        cap_usd: Decimal,
    ) -> bool:
        raw = await self._budget(
            keys=[self.budget_key(tenant_id, day)],
            args=["reserve", member, _micro(amount_usd), _micro(cap_usd), 3 * 86_400],
        )
        return bool(int(raw[0]))

    async def settle(
        self, *, tenant_id: uuid.UUID, day: str, member: str, cost_usd: Decimal, placed: bool
    ) -> bool:
        """Replace the reservation by the real cost; False if already settled (idempotent)."""
        raw = await self._budget(
            keys=[self.budget_key(tenant_id, day)],
            args=["settle", member, _micro(cost_usd), "0" if placed else "1"],
        )
        return bool(int(raw[0]))

    async def usage(self, *, tenant_id: uuid.UUID, day: str) -> Usage:
        values = await self.redis.hmget(
            self.budget_key(tenant_id, day), ["spent", "reserved", "calls"]
        )
        spent, reserved, calls = (int(v) if v is not None else 0 for v in values)
        return Usage(Decimal(spent) / MICRO, Decimal(reserved) / MICRO, calls)

    # ---- adaptive limiting ------------------------------------------------------------------

    @staticmethod
    def _adapt_keys(tenant_id: uuid.UUID) -> tuple[str, str]:
        base = f"leadwire:adapt:{tenant_id}"
        return base, base + ":degraded"

    async def rate_factor(self, tenant_id: uuid.UUID) -> float:
        _, flag = self._adapt_keys(tenant_id)
        return ADAPT_FACTOR if await self.redis.exists(flag) else 1.0

    async def record_carrier_result(
        self, tenant_id: uuid.UUID, *, failed: bool
    ) -> AdaptiveState | None:
        """Add one call's result; returns the new state when the tenant changed state."""
        history_key, flag = self._adapt_keys(tenant_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(history_key, "1" if failed else "0")
            pipe.ltrim(history_key, 0, ADAPT_WINDOW - 1)
            pipe.expire(history_key, 86_400)
            pipe.lrange(history_key, 0, -1)
            pipe.exists(flag)
            results = await pipe.execute()
        history = [value in (b"1", "1") for value in results[3]]
        degraded = bool(results[4])
        state = adapt(history, degraded=degraded)
        if state.degraded == degraded:
            return None
        if state.degraded:
            # Only the process that sets the flag reports the change.
            if not await self.redis.set(flag, "1", nx=True, ex=86_400):
                return None
        elif not await self.redis.delete(flag):
            return None
        return state
