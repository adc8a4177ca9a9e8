"""Must show: `kill -9` of a worker in the middle of a dial: the lead is dialed exactly once.

The carrier is made slow to answer POST /Calls (the call already exists at the carrier, as
with a Twilio request whose answer never came back); the worker is killed while it waits.
The sweeper (in the scheduler process) finds the attempt without a CallSid once its dial lease
has passed, posts it again, and the dial that follows asks the carrier first: it finds the
call and adopts it instead of calling the person a second time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.models import Call
from tests.e2e.cluster import Cluster
from tests.telephony.helpers import dial_tenant, make_lead, phone, route_job

pytestmark = pytest.mark.slow


async def the_call(state: AppState) -> Call | None:
    async with state.sessions() as session:
        return (await session.execute(select(Call))).scalar_one_or_none()


async def test_a_worker_killed_mid_dial_leaves_the_lead_dialed_exactly_once(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(7000)
    await simulator.set_override(
        clean, e164=number, outcome="answered", duration_s=30, api_latency_s=90
    )
    nodes = cluster(LEADWIRE_SIMULATOR_TIME_SCALE="0.05")
    nodes.start_api()
    nodes.start_worker("doomed")
    nodes.start_worker("scheduler", queues="maintenance")
    lead_id = await make_lead(clean, tenant, number=number, priority="emergency")
    await route_job(clean, lead_id, tenant)

    started = time.monotonic()
    while True:  # the attempt is recorded and the carrier has the call; no CallSid stored
        call = await the_call(clean)
        placed = await simulator.carrier_calls(clean.redis)
        if call is not None and placed:
            break
        assert time.monotonic() - started < 90, nodes.tail("doomed")
        await asyncio.sleep(0.1)
    assert call.provider_call_id is None
    nodes.kill("doomed")
    nodes.start_worker("survivor")

    while True:
        call = await the_call(clean)
        assert call is not None
        if call.provider_call_id is not None:
            break
        assert time.monotonic() - started < 120, nodes.tail("scheduler") + nodes.tail("survivor")
        await asyncio.sleep(0.25)
    await asyncio.sleep(3)  # time enough for a second dial, if there were one
    placed = await simulator.carrier_calls(clean.redis)
    assert [c.to for c in placed] == [number]  # one call to the person, ever
    call = await the_call(clean)
    assert call is not None
    assert call.provider_call_id == placed[0].sid
    assert call.attempt == 1 and call.dispatch.get("recovered") is True
    assert nodes.errors() == []
