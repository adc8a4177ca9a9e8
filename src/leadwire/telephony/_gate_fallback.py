"""TEMPORARY stand-in for `compliance.service` until the compliance area's module is on main.

Same signatures as the cross-area contract (PHASE2.md): `evaluate`, `UsageFacts`,
`record_attempt`. It gathers the facts this area can see and calls the pure
`compliance.gate.decide`:

* the lead's phone, state, ZIP and consent; the tenant's status, plan, calling hours,
  consent policy, attempt cap, caller IDs and business name;
* emergency mode and queue pauses (platform flags) and the tenant's pause;
* attempts to the number in the last 24 h and the lead's attempts, from the `calls` table;
* budget and daily call count from the dialer's counters (`usage`).

What it cannot see, because the compliance area owns it: DNC lists, consent revocations,
reassigned-number answers. `gate.py` switches to `compliance.service` by itself as soon as
that module exists; then this file is deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance.consent import ConsentEvidence
from leadwire.compliance.decision import Decision
from leadwire.compliance.facts import Budget, GateFacts, Hold, TenantPolicy
from leadwire.compliance.gate import decide
from leadwire.compliance.locate import phone_facts
from leadwire.compliance.windows import CallingHours
from leadwire.leads import repository as leads_repo
from leadwire.leads.models import Lead
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.flags import read_flags
from leadwire.platform.state import AppState
from leadwire.telephony import repository
from leadwire.telephony.gate import clock_offset
from leadwire.telephony.limits import next_midnight
from leadwire.tenants.models import Tenant
from leadwire.tenants.plans import PLANS
from leadwire.tenants.service import effective_settings

FOREVER = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class UsageFacts:
    spent_usd: float
    calls_today: int


async def record_attempt(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    phone_e164: str,
    at: dt.datetime,
) -> None:
    """The `calls` row the dialer writes is this stand-in's attempts ledger: nothing to add."""


def _consent(lead: Lead) -> ConsentEvidence | None:
    try:
        return ConsentEvidence.from_payload(lead.consent)
    except InvalidPayload:
        return None


async def evaluate(
    session: AsyncSession,
    *,
    state: AppState,
    tenant: Tenant,
    lead: Lead,
    stage: Literal["queue", "dial"],
    now: dt.datetime,
    usage: UsageFacts | None = None,
    queue_paused: bool = False,
) -> Decision:
    offset = clock_offset(state.settings)
    real_now = now - offset
    settings = effective_settings(tenant)
    plan = PLANS.get(tenant.plan)
    flags = await read_flags(session, now=real_now)
    limits = settings.limits
    paused_until = tenant.paused_until
    tenant_paused = paused_until is not None and paused_until > real_now
    number_attempts = await repository.attempts_to_number(
        session,
        tenant_id=tenant.id,
        phone_e164=lead.phone_e164 or "",
        since=real_now - dt.timedelta(hours=24),
    )
    calls_per_day = limits.calls_per_day
    if plan is not None:
        calls_per_day = min(calls_per_day, plan.max_calls_per_day)
    facts = GateFacts(
        phone=phone_facts(lead.phone_e164 or lead.phone_raw or "", default_region="US"),
        tenant=TenantPolicy(
            business_name=settings.agent.business_name or tenant.name,
            enabled=tenant.status == "active",
            ai_voice_allowed=plan is not None and "ai_voice" in plan.features,
            calling_hours=CallingHours.from_settings(settings.calling_hours.model_dump()),
            consent_required=settings.consent.required,
            max_attempts_per_lead=limits.max_attempts_per_lead,
            has_caller_id=bool(settings.caller_ids),
            has_disclosure_script=bool(settings.agent.business_name),
        ),
        budget=Budget(
            resets_at=next_midnight(settings.timezone, real_now) + offset,
            spent_usd=usage.spent_usd if usage else 0.0,
            daily_budget_usd=limits.daily_budget_usd if usage else None,
            calls_today=usage.calls_today if usage else 0,
            calls_per_day=calls_per_day if usage else None,
        ),
        lead_state=lead.state,
        lead_postal_code=lead.postal_code,
        consent=_consent(lead),
        number_attempts=tuple(at + offset for at in number_attempts),
        lead_attempts=lead.attempts,
        emergency=Hold(
            active=flags.emergency is not None,
            until=flags.emergency.until + offset
            if flags.emergency and flags.emergency.until
            else None,
            reason=flags.emergency.reason if flags.emergency else None,
        ),
        tenant_pause=Hold(
            active=tenant_paused,
            until=paused_until + offset if paused_until and paused_until < FOREVER else None,
            reason=tenant.pause_reason,
        ),
        queue_paused=queue_paused,
    )
    decision = decide(facts, now=now)
    await leads_repo.add_event(
        session,
        tenant_id=tenant.id,
        lead_id=lead.id,
        kind="compliance.decision",
        data={"stage": stage, "gate": "telephony._gate_fallback", **decision.to_json()},
    )
    return decision
