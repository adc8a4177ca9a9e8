"""Rate-limit layers on Redis with the `limits` library (moving window, exact).

Every limit lives in Redis, so any number of API and worker processes share it. Callers name
the layer and the identifiers (always the tenant where one applies); a refusal carries the
seconds until capacity returns, which becomes `Retry-After` for HTTP or the reschedule time
for a job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True, slots=True)
class LimitResult:
    allowed: bool
    remaining: int
    retry_after_s: float


class RateLimiter:
    def __init__(self, redis_url: str, *, key_prefix: str = "leadwire:limits") -> None:
        self.storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
        )
        self._limiter = MovingWindowRateLimiter(self.storage)

    @staticmethod
    def item(limit: str | RateLimitItem) -> RateLimitItem:
        return parse(limit) if isinstance(limit, str) else limit

    async def hit(
        self, limit: str | RateLimitItem, *identifiers: str, cost: int = 1
    ) -> LimitResult:
        """Consume `cost` if the window allows it; otherwise say when it will."""
        item = self.item(limit)
        if await self._limiter.hit(item, *identifiers, cost=cost):
            stats = await self._limiter.get_window_stats(item, *identifiers)
            return LimitResult(True, stats.remaining, 0.0)
        return await self._refusal(item, identifiers)

    async def test(
        self, limit: str | RateLimitItem, *identifiers: str, cost: int = 1
    ) -> LimitResult:
        """Would `cost` fit now? Consumes nothing."""
        item = self.item(limit)
        if await self._limiter.test(item, *identifiers, cost=cost):
            stats = await self._limiter.get_window_stats(item, *identifiers)
            return LimitResult(True, stats.remaining, 0.0)
        return await self._refusal(item, identifiers)

    async def _refusal(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> LimitResult:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        wait = max(0.0, stats.reset_time - time.time())
        return LimitResult(False, stats.remaining, wait)

    async def clear(self, limit: str | RateLimitItem, *identifiers: str) -> None:
        await self._limiter.clear(self.item(limit), *identifiers)

    async def close(self) -> None:
        # The redis-py bridge keeps a connection pool; release it with the process.
        bridge = getattr(self.storage, "bridge", None)
        storage = getattr(bridge, "storage", None)
        if storage is not None and hasattr(storage, "aclose"):
            await storage.aclose()
