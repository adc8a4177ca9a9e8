"""A call's life in the database: fold events into it, store its CallSid, and finalize it.

`finalize` runs exactly once per call (`calls.finalized_at`), in the transaction that applied
the final status: it frees the concurrency slot, settles the budget reservation with the real
cost, feeds adaptive limiting, decides the outcome (`telephony.outcomes.decide_outcome`) and
moves the lead: scheduled again with the next attempt's dial job (enqueued after commit),
closed with its outcome, or held (a tenant setting or our side must be fixed first).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.leads import repository as leads_repo
from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform import opsstats
from leadwire.platform.classify import classify_provider_error
from leadwire.platform.errors import ErrorClass, InvalidPayload
from leadwire.platform.jobs import enqueue_after_commit, job_key
from leadwire.platform.queues import DIAL_QUEUES
from leadwire.platform.state import AppState
from leadwire.telephony import repository, snapshot
from leadwire.telephony.board import ticket
from leadwire.telephony.call_status import CallStatus
from leadwire.telephony.callbacks import parse_amd_callback, parse_status_callback
from leadwire.telephony.metrics import dialer_metrics
from leadwire.telephony.models import Call, CallEvent
from leadwire.telephony.outcomes import (
    CallOutcomeDecision,
    FinalCall,
    OutcomeAction,
    OutcomeSettings,
    decide_outcome,
)
from leadwire.telephony.providers.base import ProviderCall
from leadwire.telephony.runtime import board_of, limits_of
from leadwire.telephony.state_machine import CallbackEvent, CallState, Transition, apply
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants.service import effective_settings
from leadwire.tenants.settings_schema import TenantSettings

log = logging.getLogger("leadwire.telephony.calls")

RING_TIMEOUT_S = 30
# After this long past its placement a live call is asked about (the sweeper's reconcile).
RECONCILE_MARGIN_S = 300
_RNG = random.Random()
_CARRIER_FAILURES = frozenset({ErrorClass.EXTERNAL, ErrorClass.TEMPORARY})
# Wake-ups go to the emergency queue: every dial worker serves it.
DISPATCH_QUEUE = "emergency"


def dial_priority(lead: Lead) -> str:
    return lead.priority if lead.priority in DIAL_QUEUES else "medium"


def outcome_settings(settings: TenantSettings) -> OutcomeSettings:
    raw = settings.model_dump(mode="json")
    if raw["call_retry"].get("machine_handling") is None:
        raw["call_retry"]["machine_handling"] = settings.agent.machine_handling
    return OutcomeSettings.from_tenant_settings(raw)


def call_cost(call_state: CallState, *, rate_per_minute: Decimal) -> Decimal:
    """What the budget is charged: the provider's price when known, else billed minutes."""
    if call_state.price is not None:
        return abs(call_state.price)
    if call_state.status is not CallStatus.COMPLETED:
        return Decimal(0)
    minutes = call_state.billed_minutes
    if minutes is None:
        minutes = math.ceil((call_state.duration_s or 0) / 60)
    return (rate_per_minute * minutes).quantize(Decimal("0.00001"))


def reconcile_at(placed: dt.datetime, max_call_s: int) -> dt.datetime:
    longest = RING_TIMEOUT_S + max_call_s + RECONCILE_MARGIN_S
    return placed + dt.timedelta(seconds=longest)


def wake_dispatcher(session: AsyncSession, *, at: dt.datetime) -> None:
    """Ask a dialer to look at the board after commit (a slot was freed, a ticket returned)."""
    enqueue_after_commit(
        session,
        queue=DISPATCH_QUEUE,
        task="dialer.dispatch",
        job_key=job_key("dialer.dispatch", int(at.timestamp())),
        timeout_s=90,
    )


async def apply_event(
    session: AsyncSession, *, call: Call, event: CallbackEvent, now: dt.datetime
) -> Transition:
    """Fold one event into the call's state machine and mirror it on the row."""
    transition = apply(snapshot.from_json(call.state), event)
    if not transition.changed:
        return transition
    new = transition.state
    call.state = snapshot.to_json(new)
    call.status = new.status.value
    call.answered_by = new.answered_by.value if new.answered_by else None
    call.duration_s = new.duration_s
    call.error_code = new.error_code
    if new.price is not None:
        call.price = abs(new.price)
        call.price_unit = new.price_unit
    # The callbacks' own timestamps win over arrival times, whatever order they came in.
    if new.was_answered or new.answered_at is not None:
        call.answered_at = new.answered_at or call.answered_at or now
    if new.status.is_final:
        call.ended_at = new.ended_at or call.ended_at or now
    call.updated_at = now
    return transition


def parse_stored(event: CallEvent) -> CallbackEvent | None:
    form = {str(name): str(value) for name, value in event.params}
    try:
        if event.kind == "amd":
            return parse_amd_callback(form).event
        return parse_status_callback(form).event
    except InvalidPayload:
        return None


async def store_placed(
    session: AsyncSession,
    *,
    state: AppState,
    call: Call,
    placed: ProviderCall,
    now: dt.datetime,
    recovered: bool = False,
    max_call_s: int | None = None,
) -> None:
    """Record the provider's CallSid and apply what it already said (callbacks that arrived
    first, or the Call resource itself when a crashed dial was found again). `max_call_s`: the
    tenant's `agent.max_call_seconds` when the caller has it (else it is read here)."""
    await repository.lock_sid(session, placed.sid)
    call.provider_call_id = placed.sid
    call.placed_at = call.placed_at or now
    call.dial_lease_until = None
    if recovered:
        call.dispatch = {**call.dispatch, "recovered": True}
    await apply_event(session, call=call, event=placed.to_event(), now=now)
    for stored in await repository.unlinked_events(session, placed.sid):
        stored.call_id = call.id
        stored.tenant_id = call.tenant_id
        event = parse_stored(stored)
        if event is not None:
            stored.effect = (await apply_event(session, call=call, event=event, now=now)).effect
    if max_call_s is None:
        tenant = await tenants_repo.get_by_id(session, call.tenant_id)
        max_call_s = effective_settings(tenant).agent.max_call_seconds if tenant else None
    if max_call_s is not None:
        # Asked about if no final status has come by then (one statement, no lead loaded).
        await leads_repo.update_if_status(
            session,
            tenant_id=call.tenant_id,
            lead_id=call.lead_id,
            status=LeadStatus.DIALING,
            next_action_at=reconcile_at(now, max_call_s),
            updated_at=now,
        )
    await leads_repo.add_event(
        session,
        tenant_id=call.tenant_id,
        lead_id=call.lead_id,
        kind="call.recovered" if recovered else "call.placed",
        data={"call_id": str(call.id), "provider_call_id": placed.sid, "attempt": call.attempt},
    )
    if CallStatus(call.status).is_final:
        await finalize(session, state=state, call=call, now=now)


async def finalize(session: AsyncSession, *, state: AppState, call: Call, now: dt.datetime) -> None:
    """Apply the final status once: slot, cost, budget, adaptive limiting, outcome, lead."""
    status = CallStatus(call.status)
    if call.finalized_at is not None or not status.is_final:
        return
    call.finalized_at = now
    tenant = await tenants_repo.get_by_id(session, call.tenant_id)
    settings = effective_settings(tenant) if tenant is not None else TenantSettings()
    call_state = snapshot.from_json(call.state)
    await board_of(state).release_slot(call.tenant_id, ticket(call.lead_id, call.attempt))
    wake_dispatcher(session, at=now)
    cost = call_cost(
        call_state, rate_per_minute=Decimal(str(state.settings.call_cost_per_minute_usd))
    )
    call.cost_usd = cost
    limits = limits_of(state)
    if call.budget_day:
        await limits.settle(
            tenant_id=call.tenant_id,
            day=call.budget_day,
            member=str(call.id),
            cost_usd=cost,
            placed=call.provider_call_id is not None,
        )
    if status is CallStatus.FAILED:
        classification = classify_provider_error(provider="twilio", provider_code=call.error_code)
        call.error_class = classification.error_class.value
        failed_at_carrier = classification.error_class in _CARRIER_FAILURES
    else:
        failed_at_carrier = False
    change = await limits.record_carrier_result(call.tenant_id, failed=failed_at_carrier)
    if change is not None:
        _report_adaptive_change(
            state, call.tenant_id, degraded=change.degraded, share=change.failure_share
        )

    decision = decide_outcome(
        FinalCall(
            status=status,
            attempt=call.attempt,
            answered_by=call_state.answered_by,
            error_code=call.error_code,
            duration_s=call.duration_s,
            voicemail_left=call.voicemail_left,
        ),
        settings=outcome_settings(settings),
        now=now,
        rng=_RNG,
    )
    call.outcome = decision.outcome.value
    call.outcome_reason = decision.reason[:64]
    await leads_repo.add_event(
        session,
        tenant_id=call.tenant_id,
        lead_id=call.lead_id,
        kind="call.ended",
        data={
            "call_id": str(call.id),
            "attempt": call.attempt,
            "status": call.status,
            "outcome": call.outcome,
            "reason": call.outcome_reason,
            "duration_s": call.duration_s,
            "cost_usd": str(cost),
            "error_code": call.error_code,
        },
    )
    lead = await leads_repo.lock_lead(session, tenant_id=call.tenant_id, lead_id=call.lead_id)
    await _record_figures(state, call, call_state, lead)
    if lead is None or lead.status != LeadStatus.DIALING or lead.attempts != call.attempt:
        return  # the lead moved on (a late reconciliation); the call alone is recorded
    await _move_lead(session, state=state, lead=lead, call=call, decision=decision, now=now)


async def _record_figures(
    state: AppState, call: Call, call_state: CallState, lead: Lead | None
) -> None:
    """The platform-wide figures the dashboard and `call-stats` read: the outcome, and for a
    call a person answered, the time from the lead's receipt to the answer."""
    tenant_id = str(call.tenant_id)
    outcome = call.outcome or "unknown"
    await opsstats.record_call_outcome(state.redis, outcome=outcome, tenant_id=tenant_id)
    answered_by = call_state.answered_by
    if call.answered_at is None or lead is None or (answered_by and answered_by.is_machine):
        return
    await opsstats.record_answer(
        state.redis,
        received_to_answer_s=max(0.0, (call.answered_at - lead.received_at).total_seconds()),
        tenant_id=tenant_id,
    )


async def _move_lead(
    session: AsyncSession,
    *,
    state: AppState,
    lead: Lead,
    call: Call,
    decision: CallOutcomeDecision,
    now: dt.datetime,
) -> None:
    lead.updated_at = now
    if decision.action is OutcomeAction.RETRY and decision.not_before is not None:
        lead.status = LeadStatus.SCHEDULED
        lead.next_action_at = decision.not_before
        priority = dial_priority(lead)
        enqueue_after_commit(
            session,
            queue=priority,
            task="dialer.dial",
            job_key=job_key("lead.dial", lead.id, call.attempt + 1),
            run_at=decision.not_before,
            timeout_s=90,
            tenant_id=str(lead.tenant_id),
            lead_id=str(lead.id),
        )
        kind = "call.retry_scheduled"
        data: dict[str, Any] = {
            "attempt": call.attempt + 1,
            "not_before": decision.not_before.isoformat(),
        }
    elif decision.action is OutcomeAction.CLOSE:
        lead.status = LeadStatus.CLOSED
        lead.outcome = decision.outcome.value
        lead.next_action_at = None
        kind, data = "lead.closed", {"outcome": decision.outcome.value}
    else:
        # HOLD (the tenant must fix a setting) or DEAD_LETTER (our side failed): the lead waits,
        # not due, until someone acts. TODO(platform.deadletters, platform.escalation): record
        # and escalate there once they exist; until then a log line and a counter.
        lead.status = LeadStatus.SCHEDULED
        lead.outcome = decision.outcome.value
        lead.next_action_at = None
        kind, data = "call.held", {"action": decision.action.value}
        dialer_metrics(state).escalations.labels(decision.action.value).inc()
        log.warning(
            "call outcome needs a person",
            extra={
                "action": decision.action.value,
                "reason": decision.reason,
                "tenant": str(lead.tenant_id),
                "lead": str(lead.id),
            },
        )
    await leads_repo.add_event(
        session,
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        kind=kind,
        data={**data, "call_id": str(call.id), "reason": decision.reason},
    )


def _report_adaptive_change(
    state: AppState, tenant_id: uuid.UUID, *, degraded: bool, share: float
) -> None:
    # TODO(platform.escalation): raise_escalation(...) once it exists on main.
    kind = "adaptive_rate_cut" if degraded else "adaptive_rate_restored"
    dialer_metrics(state).escalations.labels(kind).inc()
    log.warning(
        "carrier failures: tenant rate cut"
        if degraded
        else "carrier failures: tenant rate restored",
        extra={"tenant": str(tenant_id), "failure_share": round(share, 2)},
    )
