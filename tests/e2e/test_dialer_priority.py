"""Must show: with 2 worker processes and a backlog of 200 low and 20 emergency leads, all 20
emergency leads are dialed before any further low lead (the board's order, across tenants)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from leadwire.platform.state import AppState
from leadwire.telephony.models import Call
from tests.e2e.cluster import Cluster
from tests.telephony.helpers import dial_tenant, make_lead, phone, route_job

pytestmark = pytest.mark.slow


async def dispatched(state: AppState) -> list[dict[str, Any]]:
    async with state.sessions() as session:
        rows = await session.execute(select(Call.tenant_id, Call.dispatch))
        return [
            {
                "tenant": tenant_id,
                "priority": info["priority"],
                "seq": info["seq"],
                "posted": dt.datetime.fromisoformat(info["posted_at"]),
                "claimed": dt.datetime.fromisoformat(info["claimed_at"]),
            }
            for tenant_id, info in rows.all()
        ]


async def wait_until(check: Callable[[], Any], *, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} within {within_s} s")


async def test_every_emergency_lead_is_dialed_before_any_further_low_lead(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    backlog = await dial_tenant(clean, slug="backlog")
    urgent = await dial_tenant(clean, slug="urgent", dial_delays_s={"emergency": 3})
    # The account's calls per second are the capacity both tenants share, and it is short.
    nodes = cluster(LEADWIRE_TWILIO_CPS="2", LEADWIRE_SIMULATOR_TIME_SCALE="0.02")
    nodes.start_api()
    nodes.start_worker("worker-1")
    nodes.start_worker("worker-2")
    for i in range(200):
        lead_id = await make_lead(clean, backlog, number=phone(1000 + i), priority="low")
        await route_job(clean, lead_id, backlog)

    async def low_calls_started() -> bool:
        return len(await dispatched(clean)) >= 6

    await wait_until(low_calls_started, within_s=90, what="the low backlog was not dialing")
    emergency: list[uuid.UUID] = []
    for i in range(20):
        lead_id = await make_lead(clean, urgent, number=phone(3000 + i), priority="emergency")
        await route_job(clean, lead_id, urgent)
        emergency.append(lead_id)

    async def emergencies_dialed() -> bool:
        return sum(d["tenant"] == urgent.id for d in await dispatched(clean)) == 20

    await wait_until(emergencies_dialed, within_s=90, what="the emergency leads were not dialed")
    await asyncio.sleep(2)  # a few more low dials after them
    calls = sorted(await dispatched(clean), key=lambda d: d["seq"])
    urgent_calls = [d for d in calls if d["tenant"] == urgent.id]
    low_calls = [d for d in calls if d["tenant"] == backlog.id]
    assert {d["priority"] for d in urgent_calls} == {"emergency"}
    assert {d["priority"] for d in low_calls} == {"low"}
    first, last = urgent_calls[0]["seq"], urgent_calls[-1]["seq"]
    # All 20 emergency dials came one after another: no low dial between the first and the last.
    between = [d for d in low_calls if first < d["seq"] < last]
    assert between == [], between
    # The exact property: once every emergency lead was eligible (posted to the board), no low
    # lead was handed out before the last emergency lead.
    all_eligible = max(d["posted"] for d in urgent_calls)
    assert all(d["seq"] > last for d in low_calls if d["claimed"] > all_eligible)
    assert any(d["seq"] > last for d in low_calls)  # the backlog went on afterwards
    print(
        f"low dials before the emergencies: {sum(d['seq'] < first for d in low_calls)}, "
        f"emergency seq {first}..{last}, low dials after: {sum(d['seq'] > last for d in low_calls)}"
    )
    assert nodes.errors() == []
