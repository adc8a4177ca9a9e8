"""Intake end to end with real SAQ workers on the intake lanes: a Meta delivery is acknowledged,
fetched on `intake_fetch` from the Graph API (respx), prioritized and handed to `dialer.route`
by name on `intake_urgent` (it is an emergency)."""

from __future__ import annotations

import asyncio
from typing import Any

import respx
from saq import Worker

from leadwire.leads import tenancy
from leadwire.leads.tasks import ROUTER, process
from leadwire.platform.queues import INTAKE_QUEUES
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

    workers = [
        Worker(
            state.queues[lane],
            functions=[("leads.process", process), ("dialer.route", route)],
            startup=startup,
            dequeue_timeout=0.2,
        )
        for lane in INTAKE_QUEUES
    ]
    for worker in workers:
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
        runs = [asyncio.create_task(worker.start()) for worker in workers]
        try:
            async with client_for(state) as client:
                # Hand off by task name, as the leads area does on its own (the composition
                # root's inline router is tested in tests/test_services.py).
                state.services.pop(ROUTER, None)
                assert (await meta(1).send(client)).status_code == 202
            await asyncio.wait_for(arrived.wait(), 15)
        finally:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
    [lead] = await stored_leads(state)
    assert (lead.status, lead.priority, lead.phone_e164) == ("ready", "emergency", "+15128675309")
    assert routed == [{"tenant_id": str(tenant.id), "lead_id": str(lead.id)}]
    # An emergency: its route job ran on the urgent lane.
    assert await state.queues["intake_urgent"].job(f"lead.route:{lead.id}") is not None
    tenancy.forget()
