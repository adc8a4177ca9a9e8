"""Rate limits on the real Redis: exact moving windows shared by every client."""

from __future__ import annotations

import asyncio

from leadwire.platform.ratelimit import RateLimiter
from leadwire.platform.state import AppState


async def test_moving_window_is_exact_under_concurrency(clean: AppState) -> None:
    assert clean.settings.redis_url
    limiters = [RateLimiter(clean.settings.redis_url) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(limiters[i % 3].hit("5/minute", "tenant_calls", "t1") for i in range(20))
        )
    finally:
        for limiter in limiters:
            await limiter.close()
    allowed = [r for r in results if r.allowed]
    assert len(allowed) == 5
    refused = [r for r in results if not r.allowed]
    assert all(0 < r.retry_after_s <= 60 for r in refused)


async def test_identifiers_are_separate_windows(clean: AppState) -> None:
    limiter = clean.limiter
    assert (await limiter.hit("1/minute", "x", "a")).allowed
    assert not (await limiter.hit("1/minute", "x", "a")).allowed
    assert (await limiter.hit("1/minute", "x", "b")).allowed
    assert not (await limiter.test("1/minute", "x", "b")).allowed
    await limiter.clear("1/minute", "x", "b")
    assert (await limiter.test("1/minute", "x", "b")).allowed
