"""Intake abuse limits on Redis (the `limits` library, on `platform.ratelimit`'s storage).

Two layers, both moving windows shared by every API replica:

* per client IP (`LEADWIRE_IP_RATE_LIMIT_PER_MINUTE`): every failed intake request (bad
  signature or key, unknown tenant or source, unreadable body, invalid field) and every unsigned
  public form post counts one. An IP over the limit gets 429 with `Retry-After` instead of its
  failure answer, and its unsigned form posts are refused; a delivery that proves itself (a valid
  signature, secret or API key) is never refused because of its IP, so a provider's shared
  sender address cannot be locked out by one tenant's misconfiguration.
* per tenant (`LEADWIRE_TENANT_FLOOD_PER_MINUTE`, well above normal traffic): each lead of an
  authenticated delivery counts one; over the cap the delivery is refused with 429 and
  `Retry-After` before anything is stored (the provider retries).

When Redis does not answer within `REDIS_BUDGET_S`, authenticated and signed traffic is let
through (fail open: intake must go on without Redis), failures are simply not counted, and
unsigned public form posts are refused with 503 and `Retry-After` (fail closed: they are the
path floods come through, and a browser can retry). After a Redis failure the process skips
Redis for `REDIS_PAUSE_S` (see `RedisHealth`), so an outage does not add a timeout to every
request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from leadwire.platform.errors import RateLimited, ServiceUnavailable
from leadwire.platform.ratelimit import RateLimiter
from leadwire.platform.state import AppState

__all__ = [
    "REDIS_BUDGET_S",
    "REDIS_PAUSE_S",
    "IpRateLimited",
    "RedisHealth",
    "TenantFloodLimited",
    "charge_public_post",
    "charge_tenant",
    "forget_leases",
    "note_failure",
    "redis_health",
]

log = logging.getLogger("leadwire.security")

REDIS_BUDGET_S = 0.5
REDIS_PAUSE_S = 1.0
IP_SCOPE = "intake-ip"
TENANT_SCOPE = "intake-tenant"
REDIS_ERRORS = (StorageError, RedisError, OSError, TimeoutError)
LEASE_MAX = 32
LEASE_TTL_S = 1.0
_MAX_LEASES = 10_000

T = TypeVar("T")


class IpRateLimited(RateLimited):
    code = "ip_rate_limited"


class TenantFloodLimited(RateLimited):
    code = "tenant_flood_limited"


class RedisHealth:
    """A process-local breaker: after Redis failed, skip it for `REDIS_PAUSE_S`.

    It holds no limit, only this process's last experience of Redis; every limit itself lives
    in Redis.
    """

    def __init__(self) -> None:
        self._skip_until = 0.0

    def available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def failed(self) -> None:
        self._skip_until = time.monotonic() + REDIS_PAUSE_S

    def reset(self) -> None:
        self._skip_until = 0.0

    async def call(self, operation: Awaitable[T], *, budget_s: float = REDIS_BUDGET_S) -> T:
        """Await a Redis operation within `budget_s`; record a failure and re-raise on error."""
        try:
            async with asyncio.timeout(budget_s):
                return await operation
        except REDIS_ERRORS:
            self.failed()
            raise


redis_health = RedisHealth()

_strategies: weakref.WeakKeyDictionary[RateLimiter, MovingWindowRateLimiter] = (
    weakref.WeakKeyDictionary()
)


def _strategy(state: AppState) -> MovingWindowRateLimiter:
    # One strategy over the platform limiter's storage; its `hit` is one round trip (the
    # platform's `RateLimiter.hit` adds a second to report the remaining capacity).
    strategy = _strategies.get(state.limiter)
    if strategy is None:
        strategy = _strategies[state.limiter] = MovingWindowRateLimiter(state.limiter.storage)
    return strategy


async def _hit(state: AppState, amount: int, scope: str, identity: str, cost: int) -> float | None:
    """Consume `cost`; None when allowed, else the seconds until capacity returns."""
    item = RateLimitItemPerMinute(amount)
    strategy = _strategy(state)
    if await redis_health.call(strategy.hit(item, scope, identity, cost=cost)):
        return None
    stats = await redis_health.call(strategy.get_window_stats(item, scope, identity))
    return max(1.0, stats.reset_time - time.time())


@dataclass(slots=True)
class _Lease:
    """Capacity this process took from a tenant's flood cap in advance (see `charge_tenant`)."""

    left: int
    size: int
    expires: float


_leases: dict[str, _Lease] = {}
_refills: dict[str, asyncio.Lock] = {}


def forget_leases() -> None:
    _leases.clear()
    _refills.clear()


async def charge_tenant(state: AppState, tenant_id: str, *, cost: int) -> None:
    """Count `cost` leads against the tenant's flood cap; `TenantFloodLimited` when over it.
    Fails open when Redis is unavailable.

    The cap lives in Redis; to keep busy tenants from paying a Redis round trip per lead, a
    process takes capacity in leases of up to `LEASE_MAX` leads, valid `LEASE_TTL_S`, sized to
    what it used of the previous one (a quiet tenant leases one lead at a time). Capacity leased
    and not used expires with the window, so the cap can only bind early, never late.
    """
    if cost <= 0 or _take_from_lease(tenant_id, cost):
        return
    # One refill at a time per tenant: concurrent requests wait for it instead of each taking
    # a lease of its own (a Redis round trip each).
    lock = _refills.get(tenant_id)
    if lock is None:
        lock = _refills[tenant_id] = asyncio.Lock()
    async with lock:
        if _take_from_lease(tenant_id, cost):
            return
        await _refill(state, tenant_id, cost)


def _take_from_lease(tenant_id: str, cost: int) -> bool:
    lease = _leases.get(tenant_id)
    if lease is not None and lease.expires > time.monotonic() and lease.left >= cost:
        lease.left -= cost
        return True
    return False


async def _refill(state: AppState, tenant_id: str, cost: int) -> None:
    if not redis_health.available():
        return
    now = time.monotonic()
    lease = _leases.get(tenant_id)
    limit = state.settings.tenant_flood_per_minute
    if cost > limit:
        raise TenantFloodLimited(
            f"a delivery of {cost} leads is over this tenant's cap of {limit} per minute",
            retry_after_s=60,
        )
    used = lease.size - lease.left if lease is not None else 0
    size = max(cost, min(LEASE_MAX, 2 * used, limit))
    try:
        wait = await _hit(state, limit, TENANT_SCOPE, tenant_id, size)
        if wait is not None and size > cost:
            size = cost
            wait = await _hit(state, limit, TENANT_SCOPE, tenant_id, size)
    except REDIS_ERRORS as exc:
        log.warning("tenant flood cap skipped: Redis unavailable", extra={"error": repr(exc)})
        return
    if wait is None:
        if len(_leases) > _MAX_LEASES:
            _leases.clear()
            _refills.clear()
        _leases[tenant_id] = _Lease(left=size - cost, size=size, expires=now + LEASE_TTL_S)
        return
    _leases.pop(tenant_id, None)
    state.metrics.security_events.labels("tenant_flood").inc()
    log.warning("tenant intake flood cap reached", extra={"tenant_id": tenant_id})
    raise TenantFloodLimited(
        f"this tenant's intake is over {limit} leads per minute", retry_after_s=wait
    )


async def charge_public_post(state: AppState, ip: str | None) -> None:
    """Count one unsigned public form post for `ip`; `IpRateLimited` over the limit, 503 when
    Redis cannot count it (fail closed)."""
    if not redis_health.available():
        raise ServiceUnavailable("public form posts are paused: the rate limiter is unavailable")
    limit = state.settings.ip_rate_limit_per_minute
    try:
        wait = await _hit(state, limit, IP_SCOPE, ip or "unknown", 1)
    except REDIS_ERRORS:
        raise ServiceUnavailable(
            "public form posts are paused: the rate limiter is unavailable"
        ) from None
    if wait is not None:
        state.metrics.security_events.labels("ip_rate_limit").inc()
        raise IpRateLimited("too many form posts from this address", retry_after_s=wait)


async def note_failure(state: AppState, ip: str | None) -> IpRateLimited | None:
    """Count one failed request for `ip`; the 429 to answer instead when it is over the limit.
    Nothing is counted while Redis is unavailable."""
    if not redis_health.available():
        return None
    limit = state.settings.ip_rate_limit_per_minute
    try:
        wait = await _hit(state, limit, IP_SCOPE, ip or "unknown", 1)
    except REDIS_ERRORS:
        return None
    if wait is None:
        return None
    state.metrics.security_events.labels("ip_rate_limit").inc()
    return IpRateLimited("too many failed requests from this address", retry_after_s=wait)
