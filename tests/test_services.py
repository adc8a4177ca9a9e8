"""The composition root: the lead view shows the last gate decision; the intake job gets the
AI enricher through its plain-dict hook."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import event

from leadwire.compliance import service as compliance_service
from leadwire.leads import repository
from leadwire.leads.enrichment import LocalEnricher
from leadwire.leads.tasks import ROUTER, process
from leadwire.leads.tenancy import tenant_by_id
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.state import AppState
from leadwire.services import IntakeEnricher, register_services
from leadwire.telephony.dialer import route_locked
from tests.helpers import bearer, make_tenant


async def test_lead_view_carries_the_last_compliance_decision(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    tenant, key = await make_tenant(clean, settings={"agent": {"business_name": "Acme"}})
    posted = await client.post("/v1/leads", json={"phone": "+15128670101"}, headers=bearer(key))
    lead_id = uuid.UUID(posted.json()["leads"][0]["lead_id"])
    before = (await client.get(f"/v1/leads/{lead_id}", headers=bearer(key))).json()
    assert before["compliance"] is None
    async with session_scope(clean.sessions) as session:
        lead = await repository.get_lead(session, tenant_id=tenant.id, lead_id=lead_id)
        assert lead is not None
        decision = await compliance_service.evaluate(
            session, state=clean, tenant=tenant, lead=lead, stage="queue", now=utcnow()
        )
    view = (await client.get(f"/v1/leads/{lead_id}", headers=bearer(key))).json()
    assert view["compliance"]["decision"] == decision.verdict.value
    assert view["compliance"]["reason"] == decision.reason
    assert view["compliance"]["stage"] == "queue"
    assert view["compliance"]["checks"]


async def test_intake_enricher_adapts_the_ai_enricher(clean: AppState) -> None:
    register_services(clean)
    enricher = clean.services["enricher"]
    assert isinstance(enricher, IntakeEnricher)
    assert isinstance(enricher.inner, LocalEnricher)  # no GEMINI_API_KEY in tests
    answer = await enricher.enrich(
        {"message": "Burst pipe, water everywhere, emergency", "service": "plumbing"}
    )
    assert answer["priority"] == "emergency"
    assert answer["source"] == "local"


async def test_the_intake_job_routes_the_lead_it_made_ready(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    """With the composition root's router, `leads.process` runs the dialer's route step in the
    transaction that makes the lead ready: the gate has decided and no `dialer.route` job was
    needed; the timeline keeps the order of the steps."""
    register_services(clean)
    assert clean.services[ROUTER] is route_locked
    _, key = await make_tenant(clean, settings={"agent": {"business_name": "Acme"}})
    posted = await client.post(
        "/v1/leads",
        json={"phone": "+15128670102", "message": "Emergency: no heat"},
        headers=bearer(key),
    )
    entry = posted.json()["leads"][0]
    lead_id = entry["lead_id"]
    lead_job = await clean.queues["intake_urgent"].job(f"lead.process:{lead_id}")
    assert lead_job is not None
    assert (
        await process(
            {"state": clean}, tenant_id=str(lead_job.kwargs["tenant_id"]), lead_id=lead_id
        )
        == "ready"
    )
    view = (await client.get(f"/v1/leads/{lead_id}", headers=bearer(key))).json()
    # No consent was given: the gate blocked it, in the same job.
    assert view["status"] == "blocked"
    assert view["compliance"]["stage"] == "queue"
    assert not await clean.queues.job_pending("intake_urgent", f"lead.route:{lead_id}")
    kinds = [event["kind"] for event in view["timeline"]]
    assert kinds[-3:] == ["lead.ready", "compliance.decision", "dialer.blocked"]


async def test_a_failing_router_leaves_the_lead_ready_with_its_route_job(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    """The router fails inside the transaction: nothing it wrote stays, the lead is stored
    ready and its `dialer.route` job is queued instead."""
    register_services(clean)

    async def broken(state: AppState, session: Any, lead: Any, *, now: object) -> None:
        lead.status = "blocked"
        await repository.add_event(
            session, tenant_id=lead.tenant_id, lead_id=lead.id, kind="dialer.blocked"
        )
        raise RuntimeError("router bug")

    clean.services[ROUTER] = broken
    _, key = await make_tenant(clean, settings={"agent": {"business_name": "Acme"}})
    posted = await client.post(
        "/v1/leads",
        json={"phone": "+15128670103", "message": "Emergency: no heat"},
        headers=bearer(key),
    )
    lead_id = posted.json()["leads"][0]["lead_id"]
    lead_job = await clean.queues["intake_urgent"].job(f"lead.process:{lead_id}")
    assert lead_job is not None
    tenant_id = str(lead_job.kwargs["tenant_id"])
    assert await process({"state": clean}, tenant_id=tenant_id, lead_id=lead_id) == "ready"
    view = (await client.get(f"/v1/leads/{lead_id}", headers=bearer(key))).json()
    assert view["status"] == "ready"
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.count("lead.ready") == 1
    assert "dialer.blocked" not in kinds
    assert await clean.queues.job_pending("intake_urgent", f"lead.route:{lead_id}")


async def test_an_accepted_lead_is_processed_and_routed_in_one_transaction(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    """With enrichment that asks nobody outside (the local enricher), a lead that came with its
    fields is read, decided, made ready and routed under one row lock, in one transaction."""
    register_services(clean)
    assert clean.services["enricher"].in_process
    _, key = await make_tenant(clean, settings={"agent": {"business_name": "Acme"}})
    posted = await client.post(
        "/v1/leads", json={"phone": "+15128670104", "message": "Need a quote"}, headers=bearer(key)
    )
    lead_id = posted.json()["leads"][0]["lead_id"]
    lead_job = await clean.queues["intake"].job(f"lead.process:{lead_id}")
    assert lead_job is not None
    # The intake tenant cache is warm, as it is after a tenant's first lead.
    assert await tenant_by_id(clean, uuid.UUID(lead_job.kwargs["tenant_id"]))
    begins: list[object] = []
    listener = lambda *args: begins.append(args)  # noqa: E731
    event.listen(clean.engine.sync_engine, "begin", listener)
    try:
        result = await process(
            {"state": clean}, tenant_id=str(lead_job.kwargs["tenant_id"]), lead_id=lead_id
        )
    finally:
        event.remove(clean.engine.sync_engine, "begin", listener)
    assert result == "ready"
    assert len(begins) == 1
    view = (await client.get(f"/v1/leads/{lead_id}", headers=bearer(key))).json()
    assert view["status"] == "blocked"  # no consent: the gate decided in the same transaction
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds[-3:] == ["lead.ready", "compliance.decision", "dialer.blocked"]
