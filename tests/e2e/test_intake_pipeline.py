"""Intake end to end with a real SAQ worker: a Meta delivery is acknowledged, completed from the
Graph API (respx), prioritized and handed to `dialer.route` by name."""

from __future__ import annotations

import asyncio
from typing import Any

import respx
from saq import Worker

from leadwire.leads import tenancy
from leadwire.leads.tasks import process
from leadwire.platform.state import AppState
from tests.helpers import make_tenant
from tests.leads.checks import client_for, stored_leads, with_settings
from tests.leads.deliveries import TENANT_SETTINGS, meta


async def test_a_meta_lead_reaches_the_dialer_hand_off(clean: AppState) -> None:
    tenancy.forget()
    state = with_settings(clean)
    tenant, _ = await make_tenant(state, slug="acme", settings=TENANT_SETTINGS)
    routed: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def route(ctx: dict[str, Any], *, tenant_id: str, lead_id: str) -> None:
        routed.append({"tenant_id": tenant_id, "lead_id": lead_id})
        arrived.set()

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["state"] = state

    worker = Worker(
        state.queues["intake"],
        functions=[("leads.process", process), ("dialer.route", route)],
        startup=startup,
        dequeue_timeout=0.2,
    )
    worker.SIGNALS = []
    with respx.mock(assert_all_called=True) as graph:
        graph.route(host="graph.facebook.com").respond(
            200,
            json={
                "id": "1",
                "created_time": "2026-11-21T08:49:14+0000",
                "field_data": [
                    {"name": "full_name", "values": ["Joe Example"]},
                    {"name": "phone_number", "values": ["(512) 867-5309"]},
                    {"name": "message", "values": ["no heat at all"]},
                ],
            },
        )
        run = asyncio.create_task(worker.start())
        try:
            async with client_for(state) as client:
                assert (await meta(1).send(client)).status_code == 202
            await asyncio.wait_for(arrived.wait(), 15)
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
    [lead] = await stored_leads(state)
    assert (lead.status, lead.priority, lead.phone_e164) == ("ready", "emergency", "+15128675309")
    assert routed == [{"tenant_id": str(tenant.id), "lead_id": str(lead.id)}]
    tenancy.forget()
