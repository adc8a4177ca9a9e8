"""Per-minute operational series shared by every process (Redis)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.platform import opsstats
from leadwire.platform.state import AppState


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("15m", 900), ("1h", 3600), ("24h", 86400), ("1d", 86400), ("120s", 120)],
)
def test_windows(text: str, seconds: int) -> None:
    assert opsstats.parse_window(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "59s", "25h", "2d", "1w", "-1h", "1.5h"])
def test_bad_windows(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        opsstats.parse_window(text)


def test_minutes_of_a_window_end_with_the_current_one() -> None:
    now = 1_800_000_000.0
    minutes = opsstats.minutes_in(dt.timedelta(minutes=15), now=now)
    assert len(minutes) == 15
    assert minutes[-1] == int(now // 60)
    assert minutes == sorted(minutes)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 0.5, None),
        ([3.0], 0.95, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
        ([4.0, 8.0, 2.0], 0.95, 7.6),
        ([1.0, 2.0], 0.0, 1.0),
        ([1.0, 2.0], 1.0, 2.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert opsstats.percentile(values, q) == (None if expected is None else pytest.approx(expected))


@given(
    st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
)
def test_percentiles_stay_in_range_and_grow_with_q(values: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    p_low = opsstats.percentile(values, low)
    p_high = opsstats.percentile(values, high)
    assert p_low is not None and p_high is not None
    assert min(values) <= p_low <= p_high + 1e-9 <= max(values) + 1e-9


async def test_counts_and_samples_are_kept_per_minute_and_per_tenant(clean: AppState) -> None:
    now = time.time()
    await opsstats.incr(clean.redis, "dials", "high", tenant_id="t1", at=now)
    await opsstats.incr(clean.redis, "dials", "high", n=2, at=now)
    await opsstats.incr(clean.redis, "dials", "low", tenant_id="t2", at=now - 60)
    await opsstats.observe(clean.redis, "stl", 1.5, tenant_id="t1", at=now)
    minutes = opsstats.minutes_in(dt.timedelta(minutes=2), now=now)
    everyone = await opsstats.counts(clean.redis, "dials", minutes=minutes)
    assert everyone == {minutes[0]: {"low": 1}, minutes[1]: {"high": 3}}
    t1 = await opsstats.counts(clean.redis, "dials", minutes=minutes, tenant_id="t1")
    assert opsstats.totals(t1) == {"high": 1}
    samples = await opsstats.samples(clean.redis, "stl", minutes=minutes, tenant_id="t1")
    assert samples[minutes[1]] == [1.5]
    ttl = await clean.redis.ttl(f"{opsstats.PREFIX}:dials:c:{minutes[1]}")
    assert 0 < ttl <= opsstats.RETENTION.total_seconds()


async def test_writes_never_raise_when_redis_is_down(clean: AppState) -> None:
    from redis.asyncio import Redis

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        await opsstats.incr(dead, "dials", "high")
        await opsstats.observe(dead, "stl", 1.0)
    finally:
        await dead.aclose()
