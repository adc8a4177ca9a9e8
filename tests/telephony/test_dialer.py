"""The dial pipeline in process: route, dial, callbacks, outcomes, pauses, limits, recovery."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from leadwire.leads.models import Lead, LeadEvent, LeadStatus
from leadwire.platform.jobs import job_key
from leadwire.platform.state import AppState
from leadwire.telephony import simulator, tasks
from leadwire.telephony.models import Call
from leadwire.telephony.providers.simulated import SimulatedCarrier
from leadwire.telephony.runtime import board_of
from tests.telephony.helpers import dial_tenant, make_lead, phone

pytestmark = pytest.mark.usefixtures("daytime")


async def lead_row(state: AppState, lead_id: uuid.UUID) -> Lead:
    async with state.sessions() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        return lead


async def calls_of(state: AppState, lead_id: uuid.UUID) -> list[Call]:
    async with state.sessions() as session:
        rows = await session.execute(
            select(Call).where(Call.lead_id == lead_id).order_by(Call.attempt)
        )
        return list(rows.scalars().all())


async def timeline(state: AppState, lead_id: uuid.UUID) -> list[str]:
    async with state.sessions() as session:
        rows = await session.execute(
            select(LeadEvent.kind).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)
        )
        return list(rows.scalars().all())


async def wait_for(predicate: Any, *, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_ready_lead_is_routed_dialed_and_closed(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(1)
    await simulator.set_override(clean, e164=number, outcome="answered", duration_s=60)
    lead_id = await make_lead(clean, tenant, number=number, priority="high")

    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.SCHEDULED
    assert await clean.queues.job_pending("high", job_key("lead.dial", lead_id, 1))

    await tasks.dial(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id is not None and call.provider_call_id.startswith("CA")
    assert call.from_number == "+14045550100"
    assert call.dispatch["priority"] == "high"

    await carrier.idle()
    lead = await lead_row(clean, lead_id)
    [call] = await calls_of(clean, lead_id)
    assert call.status == "completed"
    assert call.outcome == "connected"
    assert call.duration_s == 60
    assert call.finalized_at is not None
    assert lead.status == LeadStatus.CLOSED and lead.outcome == "connected"
    kinds = await timeline(clean, lead_id)
    for kind in ("compliance.decision", "dialer.scheduled", "call.dialing", "call.placed"):
        assert kind in kinds
    assert kinds[-2:] == ["call.ended", "lead.closed"]
    assert await board_of(clean).slots_in_use(tenant.id) == 0
