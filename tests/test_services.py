"""The composition root: the lead view shows the last gate decision; the intake job gets the
AI enricher through its plain-dict hook."""

from __future__ import annotations

import uuid

import httpx

from leadwire.compliance import service as compliance_service
from leadwire.leads import repository
from leadwire.leads.enrichment import LocalEnricher
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.state import AppState
from leadwire.services import IntakeEnricher, register_services
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
