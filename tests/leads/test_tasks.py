"""`leads.process`: completing ids-only deliveries (respx stands in for Meta Graph and the
HubSpot CRM), enrichment and priority, the hand-off to `dialer.route`, idempotency."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
import respx

from leadwire.leads.canonical import Urgency
from leadwire.leads.tasks import decide_priority, process, retry_job_key, route_job_key
from leadwire.leads.urgency import UrgencyResult
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.leads.checks import events_of, intake_job_pending, stored_leads
from tests.leads.deliveries import PAGE_TOKEN, direct, hubspot_events, meta

GRAPH = "https://graph.facebook.com/v25.0/{}"
CRM = "https://api.hubapi.com/crm/v3/objects/contacts/{}"


def graph_lead(leadgen_id: str, *, phone: str = "+15128675309") -> dict[str, Any]:
    """Graph's lead read (integrations.md 1.6)."""
    return {
        "created_time": "2026-11-21T08:49:14+0000",
        "id": leadgen_id,
        "ad_id": "12312312312",
        "form_id": "12312312312",
        "field_data": [
            {"name": "full_name", "values": ["Joe Example"]},
            {"name": "email", "values": ["joe@example.com"]},
            {"name": "phone_number", "values": [phone]},
            {"name": "what_service_do_you_need", "values": ["Burst pipe in the basement"]},
        ],
        "custom_disclaimer_responses": [{"checkbox_key": "optional_1", "is_checked": "1"}],
    }


async def _one_lead(state: AppState) -> Any:
    [lead] = await stored_leads(state)
    return lead


async def test_meta_with_the_graph_api_down_is_stored_at_once_and_completed_later(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    delivery = meta(1)
    assert (await delivery.send(intake)).status_code == 202  # stored before any Graph call
    lead = await _one_lead(intake_state)
    assert lead.status == "pending_fetch" and lead.phone_e164 is None
    ctx = {"state": intake_state}
    with respx.mock(assert_all_called=True) as graph:
        route = graph.get(GRAPH.format(lead.external_id)).mock(
            side_effect=[
                httpx.Response(503, json={"error": {"code": 2, "message": "Service unavailable"}}),
                httpx.Response(200, json=graph_lead(lead.external_id)),
            ]
        )
        before = dt.datetime.now(dt.UTC)
        assert await process(ctx, tenant_id=str(lead.tenant_id), lead_id=str(lead.id)) == (
            "fetch_failed"
        )
        waiting = await _one_lead(intake_state)
        assert waiting.status == "pending_fetch"
        assert waiting.next_action_at is not None and waiting.next_action_at > before
        assert await intake_job_pending(
            intake_state, retry_job_key(lead.id, waiting.next_action_at)
        )
        failed = [e for e in await events_of(intake_state, lead.id) if e.kind.endswith("failed")]
        assert failed[0].data["http_status"] == 503 and failed[0].data["attempt"] == 1
        # The retry (run here directly instead of waiting for its scheduled time).
        assert await process(ctx, tenant_id=str(lead.tenant_id), lead_id=str(lead.id)) == "ready"
        assert route.call_count == 2
        assert route.calls.last.request.url.params["access_token"] == PAGE_TOKEN
    done = await _one_lead(intake_state)
    assert done.status == "ready"
    assert done.phone_e164 == "+15128675309"
    assert done.name == "Joe Example"
    assert done.service == "Burst pipe in the basement"  # the tenant's field_map
    assert done.priority == "emergency"  # "burst" in the lead's own words
    assert done.consent is not None and done.consent["disclaimer_responses"][0]["is_checked"]
    assert [e.kind for e in await events_of(intake_state, lead.id)] == [
        "lead.received",
        "lead.fetch_failed",
        "lead.fetched",
        "lead.ready",
    ]
    assert await intake_job_pending(intake_state, route_job_key(lead.id))


async def test_hubspot_contacts_are_fetched_from_the_crm(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    assert (await hubspot_events(2).send(intake)).status_code == 202
    lead = await _one_lead(intake_state)
    contact = {
        "id": lead.external_id,
        "properties": {
            "firstname": "Ada",
            "lastname": "Lovelace",
            "email": "ADA@example.com",
            "phone": None,
            "mobilephone": "512-867-5310",
            "zip": "78701",
            "hs_object_id": lead.external_id,
        },
        "archived": False,
    }
    ctx = {"state": intake_state}
    with respx.mock(assert_all_called=True) as crm:
        route = crm.get(CRM.format(lead.external_id)).respond(200, json=contact)
        result = await process(ctx, tenant_id=str(lead.tenant_id), lead_id=str(lead.id))
    # Nothing urgent in the contact: the fetch lane stores the fields and hands the rest of
    # the work to the bulk lane, under the key the sweeper derives from `next_action_at`.
    assert result == "fetched"
    assert route.calls.last.request.headers["authorization"] == "Bearer pat-na1-hubspot-token"
    fetched = await _one_lead(intake_state)
    assert fetched.status == "accepted" and fetched.next_action_at is not None
    assert (fetched.phone_e164, fetched.email, fetched.first_name) == (
        "+15128675310",
        "ada@example.com",
        "Ada",
    )
    assert await intake_state.queues.job_pending(
        "intake", retry_job_key(lead.id, fetched.next_action_at)
    )
    # The bulk lane's run finishes it from the stored fields, without asking HubSpot again.
    assert await process(ctx, tenant_id=str(lead.tenant_id), lead_id=str(lead.id)) == "ready"
    done = await _one_lead(intake_state)
    assert (done.status, done.phone_e164, done.email) == (
        "ready",
        "+15128675310",
        "ada@example.com",
    )
    assert [e.kind for e in await events_of(intake_state, lead.id)] == [
        "lead.received",
        "lead.fetched",
        "lead.ready",
    ]


async def test_a_fetched_lead_with_an_unusable_phone_is_rejected(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    await meta(3).send(intake)
    lead = await _one_lead(intake_state)
    with respx.mock() as graph:
        graph.get(GRAPH.format(lead.external_id)).respond(
            200, json=graph_lead(lead.external_id, phone="12")
        )
        result = await process(
            {"state": intake_state}, tenant_id=str(lead.tenant_id), lead_id=str(lead.id)
        )
    assert result == "rejected"
    done = await _one_lead(intake_state)
    assert (done.status, done.reject_reason, done.next_action_at) == (
        "rejected",
        "invalid_phone",
        None,
    )
    assert not await intake_job_pending(intake_state, route_job_key(lead.id))


async def test_without_a_page_token_the_lead_waits_for_the_tenant(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    await meta(4).send(intake)
    await intake.patch(
        "/v1/settings",
        json={"sources": {"meta": {"page_access_token": None}}},
        headers={"Authorization": f"Bearer {acme[1]}"},
    )
    lead = await _one_lead(intake_state)
    with respx.mock(assert_all_called=False) as graph:
        graph.route(host="graph.facebook.com").respond(500)
        result = await process(
            {"state": intake_state}, tenant_id=str(lead.tenant_id), lead_id=str(lead.id)
        )
        assert not graph.calls
    assert result == "fetch_failed"
    [failed] = [e for e in await events_of(intake_state, lead.id) if e.kind == "lead.fetch_failed"]
    assert failed.data["code"] == "source_not_configured"
    assert (await _one_lead(intake_state)).status == "pending_fetch"


class StubEnricher:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.seen: list[dict[str, Any]] = []

    async def enrich(self, lead_data: dict[str, Any]) -> Any:
        self.seen.append(lead_data)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("explicit", "answer", "priority", "enricher_used"),
    [
        (None, {"urgency": "high", "intent": "buy"}, "high", True),
        (None, {"priority": "low"}, "low", True),
        ("emergency", {"urgency": "low"}, "emergency", True),  # explicit is never lowered
        ("low", {"urgency": "emergency"}, "emergency", True),  # but may be raised
        (None, {"urgency": "unknown"}, "medium", True),  # no level: the rules decide
        (None, RuntimeError("model down"), "medium", False),
        (None, ["not", "a", "dict"], "medium", False),
    ],
)
async def test_enrichment_sets_the_priority(
    intake: httpx.AsyncClient,
    intake_state: AppState,
    acme: tuple[Tenant, str],
    explicit: str | None,
    answer: Any,
    priority: str,
    enricher_used: bool,
) -> None:
    enricher = StubEnricher(answer)
    intake_state.services["enricher"] = enricher
    body = {"phone": "+15128670042", "service": "tune-up", "email": "x@example.com"}
    if explicit:
        body["urgency"] = explicit
    await intake.post("/v1/leads", json=body, headers={"Authorization": f"Bearer {acme[1]}"})
    lead = await _one_lead(intake_state)
    await process({"state": intake_state}, tenant_id=str(lead.tenant_id), lead_id=str(lead.id))
    done = await _one_lead(intake_state)
    assert (done.status, done.priority) == ("ready", priority)
    assert ("enricher" in done.enrichment) is enricher_used
    # The enricher reads the lead's words, never its phone or email.
    assert enricher.seen and "phone" not in enricher.seen[0] and "email" not in enricher.seen[0]


async def test_process_is_idempotent(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    await direct(5, acme[1]).send(intake)
    lead = await _one_lead(intake_state)
    ctx = {"state": intake_state}
    assert await process(ctx, tenant_id=str(lead.tenant_id), lead_id=str(lead.id)) == "ready"
    await intake_state.redis.flushdb()  # the hand-off was lost
    assert await process(ctx, tenant_id=str(lead.tenant_id), lead_id=str(lead.id)) == "ready"
    assert await intake_job_pending(intake_state, route_job_key(lead.id))
    kinds = [e.kind for e in await events_of(intake_state, lead.id)]
    assert kinds == ["lead.received", "lead.ready"]
    other_tenant = "00000000-0000-0000-0000-000000000000"
    assert await process(ctx, tenant_id=other_tenant, lead_id=str(lead.id)) == "missing"


@pytest.mark.parametrize(
    ("rules", "explicit", "enrichment", "expected"),
    [
        (Urgency.HIGH, None, None, Urgency.HIGH),
        (Urgency.HIGH, None, {"urgency": "low"}, Urgency.LOW),
        (Urgency.EMERGENCY, Urgency.EMERGENCY, {"priority": "low"}, Urgency.EMERGENCY),
        (Urgency.MEDIUM, Urgency.MEDIUM, {"urgency": "HIGH"}, Urgency.HIGH),
        (Urgency.MEDIUM, None, {"urgency": 3}, Urgency.MEDIUM),
        (Urgency.LOW, None, {"priority": "nope", "urgency": "high"}, Urgency.HIGH),
    ],
)
def test_decide_priority(
    rules: Urgency,
    explicit: Urgency | None,
    enrichment: dict[str, Any] | None,
    expected: Urgency,
) -> None:
    result = UrgencyResult(level=rules, source="detected", signals=())
    decision = decide_priority(rules=result, explicit=explicit, enrichment=enrichment)
    assert decision.priority is expected
