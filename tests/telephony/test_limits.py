"""The dialer's rate layers: pure decisions, and the real `limits` windows and budget script."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.platform.state import AppState
from leadwire.telephony.limits import (
    ADAPT_FACTOR,
    DialLimits,
    TenantLimits,
    adapt,
    budget_day,
    effective_limits,
    next_midnight,
    reservation_usd,
    with_headroom,
)
from leadwire.tenants.settings_schema import TenantSettings

UTC = dt.UTC


def tenant_limits(**changes: object) -> TenantLimits:
    values: dict[str, object] = {
        "calls_per_minute": 10,
        "calls_per_hour": 100,
        "calls_per_day": 1000,
        "concurrent_calls": 5,
        "daily_budget_usd": Decimal("100"),
        "headroom_pct": 20,
        "max_call_seconds": 600,
    }
    values.update(changes)
    return TenantLimits(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "pct", "expected"),
    [(10, 20, 12), (3, 20, 4), (1, 20, 2), (100, 20, 120), (10, 0, 10), (0, 20, 0), (7, 100, 14)],
)
def test_headroom_rounds_up(amount: int, pct: int, expected: int) -> None:
    assert with_headroom(amount, pct) == expected


def test_emergency_and_high_get_headroom_medium_and_low_do_not() -> None:
    base = tenant_limits()
    for priority in ("emergency", "high"):
        assert base.for_priority(priority).calls_per_minute == 12
        assert base.for_priority(priority).concurrent_calls == 6
    for priority in ("medium", "low"):
        assert base.for_priority(priority) == base


def test_the_plan_caps_the_tenants_settings() -> None:
    settings = TenantSettings.model_validate(
        {"limits": {"concurrent_calls": 50, "calls_per_day": 5000}}
    )
    starter = effective_limits(settings, "starter")
    assert (starter.concurrent_calls, starter.calls_per_day) == (2, 200)
    enterprise = effective_limits(settings, "enterprise")
    assert (enterprise.concurrent_calls, enterprise.calls_per_day) == (50, 5000)


def test_adaptive_cut_halves_rates_but_never_to_zero() -> None:
    cut = tenant_limits(calls_per_minute=3, calls_per_hour=1).adapted(ADAPT_FACTOR)
    assert (cut.calls_per_minute, cut.calls_per_hour) == (1, 1)
    assert tenant_limits().adapted(1.0) == tenant_limits()


def test_reservation_is_the_longest_billed_call() -> None:
    assert reservation_usd(600, 0.014) == Decimal("0.14000")
    assert reservation_usd(61, 0.014) == Decimal("0.02800")


def test_budget_day_and_reset_follow_the_tenants_time_zone() -> None:
    late_evening_ny = dt.datetime(2026, 3, 10, 3, 30, tzinfo=UTC)  # 23:30 on the 9th in NY
    assert budget_day("America/New_York", late_evening_ny) == "2026-03-09"
    assert next_midnight("America/New_York", late_evening_ny) == dt.datetime(
        2026, 3, 10, 4, 0, tzinfo=UTC
    )


FAIL, OK = True, False


@pytest.mark.parametrize(
    ("history", "degraded", "expected"),
    [
        ([FAIL] * 9, False, False),  # too few samples to judge
        ([FAIL] * 5 + [OK] * 5, False, True),  # half failed: cut
        ([FAIL] * 4 + [OK] * 6, False, False),
        ([FAIL] * 3 + [OK] * 7, True, True),  # still above the recovery share: stay cut
        ([FAIL] * 2 + [OK] * 8, True, False),  # recovered
        ([OK] * 20 + [FAIL] * 20, False, False),  # only the last 20 count (newest first)
    ],
)
def test_adapt_cuts_at_half_and_recovers_at_a_fifth(
    history: list[bool], degraded: bool, expected: bool
) -> None:
    assert adapt(history, degraded=degraded).degraded is expected


@given(st.lists(st.booleans(), min_size=10, max_size=20), st.booleans())
def test_adapt_never_flaps_inside_the_band(history: list[bool], degraded: bool) -> None:
    share = sum(history) / len(history)
    result = adapt(history, degraded=degraded)
    if 0.2 < share < 0.5:
        assert result.degraded is degraded


# ---- Redis --------------------------------------------------------------------------------------


def dial_limits(state: AppState, *, per_number: int = 100) -> DialLimits:
    return DialLimits(state.limiter, state.redis, per_number_24h=per_number)


async def test_three_a_minute_is_exactly_three_with_many_concurrent_dialers(
    clean: AppState,
) -> None:
    layers = dial_limits(clean)
    tenant = uuid.uuid4()
    limits = tenant_limits(calls_per_minute=3)
    results = await asyncio.gather(
        *(
            layers.take_windows(tenant_id=tenant, limits=limits, phone_e164=f"+1404555{i:04d}")
            for i in range(40)
        )
    )
    allowed = [r for r in results if r is None]
    refused = [r for r in results if r is not None]
    assert len(allowed) == 3
    assert {r.layer for r in refused} == {"calls_per_minute"}
    assert all(r.tenant_wide and 55 < r.retry_after_s <= 60 for r in refused)


async def test_priority_headroom_shares_the_same_window(clean: AppState) -> None:
    layers = dial_limits(clean)
    tenant = uuid.uuid4()
    base = tenant_limits(calls_per_minute=10)
    for i in range(10):
        assert (
            await layers.take_windows(tenant_id=tenant, limits=base, phone_e164=f"+14045551{i:03d}")
            is None
        )
    refused = await layers.take_windows(tenant_id=tenant, limits=base, phone_e164="+14045559000")
    assert refused is not None and refused.layer == "calls_per_minute"
    emergency = base.for_priority("emergency")
    for i in range(2):
        assert (
            await layers.take_windows(
                tenant_id=tenant, limits=emergency, phone_e164=f"+14045552{i:03d}"
            )
            is None
        )
    assert await layers.take_windows(tenant_id=tenant, limits=emergency, phone_e164="+14045559001")
    # The low window still sees the emergency calls: nothing more for anyone this minute.
    assert await layers.take_windows(tenant_id=tenant, limits=base, phone_e164="+14045559002")


async def test_each_tenant_has_its_own_windows(clean: AppState) -> None:
    layers = dial_limits(clean)
    limits = tenant_limits(calls_per_minute=1)
    first, second = uuid.uuid4(), uuid.uuid4()
    assert (
        await layers.take_windows(tenant_id=first, limits=limits, phone_e164="+14045550001") is None
    )
    assert (
        await layers.take_windows(tenant_id=second, limits=limits, phone_e164="+14045550002")
        is None
    )
    assert await layers.take_windows(tenant_id=first, limits=limits, phone_e164="+14045550003")


async def test_attempts_per_number_refuse_the_number_not_the_tenant(clean: AppState) -> None:
    layers = dial_limits(clean, per_number=2)
    tenant = uuid.uuid4()
    number = "+14045550042"
    for _ in range(2):
        assert (
            await layers.take_windows(tenant_id=tenant, limits=tenant_limits(), phone_e164=number)
            is None
        )
    refused = await layers.take_windows(tenant_id=tenant, limits=tenant_limits(), phone_e164=number)
    assert refused is not None
    assert (refused.layer, refused.tenant_wide) == ("calls_per_number_24h", False)
    assert (
        await layers.take_windows(
            tenant_id=tenant, limits=tenant_limits(), phone_e164="+14045550043"
        )
        is None
    )


async def test_a_zero_limit_refuses(clean: AppState) -> None:
    refused = await dial_limits(clean).take_windows(
        tenant_id=uuid.uuid4(), limits=tenant_limits(calls_per_day=0), phone_e164="+14045550001"
    )
    assert refused is not None and refused.layer == "calls_per_day"


async def test_budget_reservations_never_pass_the_cap_and_settle_to_the_real_cost(
    clean: AppState,
) -> None:
    layers = dial_limits(clean)
    tenant, day = uuid.uuid4(), "2026-06-10"
    cap, amount = Decimal("1.00"), Decimal("0.14")
    members = [str(uuid.uuid4()) for _ in range(20)]
    granted = await asyncio.gather(
        *(
            layers.reserve(tenant_id=tenant, day=day, member=m, amount_usd=amount, cap_usd=cap)
            for m in members
        )
    )
    held = [m for m, ok in zip(members, granted, strict=True) if ok]
    assert len(held) == 7  # 7 x 0.14 = 0.98; an eighth would pass 1.00
    usage = await layers.usage(tenant_id=tenant, day=day)
    assert (usage.reserved_usd, usage.spent_usd, usage.calls) == (Decimal("0.98"), 0, 7)
    # Settling is idempotent; the real cost replaces the reservation.
    assert await layers.settle(
        tenant_id=tenant, day=day, member=held[0], cost_usd=Decimal("0.028"), placed=True
    )
    assert not await layers.settle(
        tenant_id=tenant, day=day, member=held[0], cost_usd=Decimal("0.028"), placed=True
    )
    # A dial that never happened gives its call back too.
    assert await layers.settle(
        tenant_id=tenant, day=day, member=held[1], cost_usd=Decimal(0), placed=False
    )
    usage = await layers.usage(tenant_id=tenant, day=day)
    assert usage.spent_usd == Decimal("0.028")
    assert usage.reserved_usd == Decimal("0.70")
    assert usage.calls == 6
    # Room again for one more reservation: 0.028 + 0.70 + 0.14 <= 1.00.
    assert await layers.reserve(
        tenant_id=tenant, day=day, member="again", amount_usd=amount, cap_usd=cap
    )
    # Reserving twice for one call holds one reservation.
    assert await layers.reserve(
        tenant_id=tenant, day=day, member="again", amount_usd=amount, cap_usd=cap
    )
    assert (await layers.usage(tenant_id=tenant, day=day)).calls == 7


async def test_carrier_failures_cut_the_rate_once_and_successes_restore_it(
    clean: AppState,
) -> None:
    layers = dial_limits(clean)
    tenant = uuid.uuid4()
    changes = [await layers.record_carrier_result(tenant, failed=True) for _ in range(12)]
    cuts = [c for c in changes if c is not None]
    assert len(cuts) == 1 and cuts[0].degraded
    assert await layers.rate_factor(tenant) == ADAPT_FACTOR
    restored = [await layers.record_carrier_result(tenant, failed=False) for _ in range(16)]
    assert [c.degraded for c in restored if c is not None] == [False]
    assert await layers.rate_factor(tenant) == 1.0
