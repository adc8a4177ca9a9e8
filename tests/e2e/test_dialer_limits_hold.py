"""Must show: 4 worker processes hammering one tenant's limits for 60 s: zero overshoot of any
layer, and the account's calls per second never exceeded, measured at the carrier."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.limits import PerMinute
from leadwire.telephony.models import Call
from tests.e2e.cluster import Cluster
from tests.telephony.helpers import dial_tenant, make_lead, phone, route_job

pytestmark = pytest.mark.slow

PER_MINUTE, CONCURRENT, CPS = 25, 2, 1


def window_key(tenant_id: str) -> str:
    """The Redis list where `limits` keeps the tenant's per-minute moving window."""
    item = PerMinute(PER_MINUTE, namespace="dial")
    return "leadwire:limits:" + item.key_for("tenant", tenant_id)


async def test_four_workers_never_overshoot_a_layer_or_the_account_rate(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    tenant = await dial_tenant(
        clean, limits={"calls_per_minute": PER_MINUTE, "concurrent_calls": CONCURRENT}
    )
    nodes = cluster(LEADWIRE_TWILIO_CPS=str(CPS), LEADWIRE_SIMULATOR_TIME_SCALE="0.02")
    nodes.start_api()
    for i in range(4):
        nodes.start_worker(f"worker-{i + 1}")
    for i in range(150):
        lead_id = await make_lead(clean, tenant, number=phone(5000 + i))
        await route_job(clean, lead_id, tenant)

    started = time.monotonic()
    while not await simulator.carrier_calls(clean.redis):
        assert time.monotonic() - started < 90, nodes.tail("worker-1")
        await asyncio.sleep(0.2)
    # Every instant the limiter counted a call stays in its list until the window has moved
    # past it, so sampling the list often enough records all of them.
    counted_at: set[float] = set()
    deadline = time.monotonic() + 62
    while time.monotonic() < deadline:
        counted_at.update(
            float(v) for v in await clean.redis.lrange(window_key(str(tenant.id)), 0, -1)
        )
        await asyncio.sleep(0.25)
    nodes.stop()
    counted_at.update(float(v) for v in await clean.redis.lrange(window_key(str(tenant.id)), 0, -1))

    carrier = await simulator.carrier_calls(clean.redis)
    created = sorted(c.created_ms for c in carrier)
    # The account's calls per second, at the carrier: never two calls in one second.
    gaps = [b - a for a, b in itertools.pairwise(created)]
    assert min(gaps) >= 1000 // CPS, min(gaps)
    # Concurrent calls, at the carrier: a call's slot is freed only by its final callback.
    spans = [(c.created_ms, (c.ended or {}).get("end_ms", c.natural_end_ms)) for c in carrier]
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most <= CONCURRENT
    # Calls per minute, as the limiter counted them: never more than 25 in any 60 s ...
    instants = sorted(counted_at)
    assert all(b - a > 60 for a, b in zip(instants, instants[PER_MINUTE:], strict=False))
    # ... and every call placed was counted (inside the bounds its dialer recorded).
    async with clean.sessions() as session:
        rows = await session.execute(select(Call.dispatch).where(Call.tenant_id == tenant.id))
        bounds = [info["counted_ms"] for info in rows.scalars().all()]
    assert len(bounds) == len(carrier)
    for before, after in bounds:
        assert any(before - 1 <= t * 1000 <= after + 1 for t in instants), (before, after)
    first_minute = [t for t in instants if t < instants[0] + 60]
    print(
        f"{len(carrier)} calls; counted in the first minute {len(first_minute)}/{PER_MINUTE}; "
        f"most concurrent {most}/{CONCURRENT}; smallest gap at the carrier {min(gaps)} ms"
    )
    assert len(first_minute) >= PER_MINUTE - 3  # the limits were used, not just respected
    assert most == CONCURRENT
    assert nodes.errors() == []
