"""The composition root: plugs the areas' services into the shared state.

Lower areas reach higher ones only through `state.services` (a lead's view shows its last
compliance decision and its calls; the intake job enriches with the AI enricher). Both the API's
lifespan and the worker's startup call `register_services`, so a route and a job see the same
providers.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance import service as compliance_service
from leadwire.leads import tasks as lead_tasks
from leadwire.leads import views as lead_views
from leadwire.leads.enrichment import (
    Enricher,
    GeminiEnricher,
    LeadFacts,
    LocalEnricher,
    decide_priority,
    make_gemini_client,
)
from leadwire.leads.enrichment.gemini_client import GeminiFailure
from leadwire.platform.state import AppState
from leadwire.telephony import service as telephony_service
from leadwire.telephony.dialer import route_locked


class IntakeEnricher:
    """Adapts an `Enricher` (typed facts in, `Enrichment` out) to the intake job's plain-dict
    hook, adding the priority the enrichment supports (the job keeps explicit urgency as a
    floor)."""

    def __init__(self, inner: Enricher) -> None:
        self.inner = inner
        # Enrichment that asks nobody outside: the intake job may run it inside its transaction.
        self.in_process = isinstance(inner, LocalEnricher)

    async def enrich(self, lead_data: dict[str, Any]) -> dict[str, Any]:
        enrichment = await self.inner.enrich(LeadFacts.from_lead(lead_data))
        priority = decide_priority(explicit=None, enrichment=enrichment)
        return {
            **enrichment.model_dump(mode="json"),
            "priority": priority.priority.value,
            "priority_reasons": list(priority.reasons),
        }


def _count_ai_failure(state: AppState, component: str) -> Any:
    def hook(failure: GeminiFailure) -> None:
        state.metrics.ai_failures.labels(component, failure.reason.value).inc()
        state.metrics.errors.labels("external", f"gemini.{failure.reason.value}").inc()

    return hook


async def _compliance_part(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> dict[str, Any]:
    return {
        "compliance": await compliance_service.last_decision(
            session, tenant_id=tenant_id, lead_id=lead_id
        )
    }


async def _calls_part(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> dict[str, Any]:
    return {
        "calls": await telephony_service.calls_for_lead(
            session, tenant_id=tenant_id, lead_id=lead_id
        )
    }


def register_services(state: AppState) -> None:
    settings = state.settings
    key = settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None
    client = make_gemini_client(api_key=key, http_client=state.http)
    enricher: Enricher = (
        GeminiEnricher(client=client, on_failure=_count_ai_failure(state, "enricher"))
        if client is not None
        else LocalEnricher()
    )
    state.services[lead_tasks.ENRICHER] = IntakeEnricher(enricher)
    state.services["gemini_client"] = client
    state.services[lead_views.VIEW_PARTS] = [_compliance_part, _calls_part]
    # The telephony provider (Twilio or the simulated carrier) and the calls part of a lead's view.
    telephony_service.install(state)
    # The intake job routes a lead it makes ready in the same transaction (see `leads.tasks`).
    state.services[lead_tasks.ROUTER] = route_locked
