"""Must show: a tenant limited to 3 calls a minute with 20 eligible leads: exactly 3 dials in
the first minute, the rest scheduled, none lost, none errored (real limits, a real worker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.models import Call
from tests.e2e.cluster import Cluster
from tests.telephony.helpers import dial_tenant, make_lead, phone, route_job

pytestmark = pytest.mark.slow


async def count_calls(state: AppState) -> int:
    async with state.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Call))).scalar_one())


async def lead_statuses(state: AppState) -> dict[str, int]:
    async with state.sessions() as session:
        rows = await session.execute(select(Lead.status, func.count()).group_by(Lead.status))
        return {status: int(n) for status, n in rows.all()}


async def test_three_calls_a_minute_with_twenty_eligible_leads(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    tenant = await dial_tenant(clean, limits={"calls_per_minute": 3})
    nodes = cluster(LEADWIRE_TWILIO_CPS="5", LEADWIRE_SIMULATOR_TIME_SCALE="0.02")
    nodes.start_api()
    nodes.start_worker("worker-1")
    for i in range(20):
        # A person answers every call, so no lead comes back for a retry within the test.
        await simulator.set_override(clean, e164=phone(100 + i), outcome="answered", duration_s=30)
        lead_id = await make_lead(clean, tenant, number=phone(100 + i))
        await route_job(clean, lead_id, tenant)

    started = time.monotonic()
    while await count_calls(clean) == 0:
        assert time.monotonic() - started < 60, nodes.tail("worker-1")
        await asyncio.sleep(0.2)
    first_dial = time.monotonic()
    # Through the whole first minute: three dials, the other seventeen waiting their turn.
    while time.monotonic() - first_dial < 58:
        assert await count_calls(clean) <= 3
        await asyncio.sleep(1.0)
    assert await count_calls(clean) == 3
    statuses = await lead_statuses(clean)
    assert statuses.get(LeadStatus.SCHEDULED) == 17, statuses
    assert sum(statuses.values()) == 20  # none lost
    async with clean.sessions() as session:
        waiting = await session.execute(
            select(func.max(Lead.attempts)).where(Lead.status == LeadStatus.SCHEDULED)
        )
        assert waiting.scalar_one() == 0  # being limited is not an attempt
    # The next minute brings the next three.
    while time.monotonic() - first_dial < 75:
        if await count_calls(clean) >= 6:
            break
        await asyncio.sleep(0.5)
    assert await count_calls(clean) == 6
    await asyncio.sleep(3)
    assert await count_calls(clean) == 6
    assert nodes.errors() == []
