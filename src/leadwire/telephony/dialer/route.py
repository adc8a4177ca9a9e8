"""Steps 1 and 2: route a ready lead through the gate; make a due attempt eligible."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance.decision import Verdict
from leadwire.leads import repository as leads_repo
from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform.db import utcnow
from leadwire.platform.flags import read_flags
from leadwire.platform.jobs import AfterCommit, enqueue_after_commit, job_key, unit_of_work
from leadwire.platform.state import AppState
from leadwire.telephony import calls
from leadwire.telephony.dialer.common import (
    DIAL_JOB_TIMEOUT_S,
    DIRECT_POST_WITHIN,
    EARLY_TOLERANCE_S,
    enqueue_redial,
    evaluate,
    hold_reason,
    next_time,
    post_ticket,
    recheck_at,
    schedule_dispatch,
)
from leadwire.telephony.metrics import dialer_metrics
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants.models import Tenant
from leadwire.tenants.service import effective_settings

log = logging.getLogger("leadwire.telephony.dialer")

# ---- 1. route ---------------------------------------------------------------------------------


async def route_lead(state: AppState, *, tenant_id: uuid.UUID, lead_id: uuid.UUID) -> None:
    """The `dialer.route` job: route a ready lead in a transaction of its own."""
    async with unit_of_work(state) as session:
        lead = await leads_repo.lock_lead(session, tenant_id=tenant_id, lead_id=lead_id)
        if lead is None:
            return
        after_commit = await route_locked(state, session, lead, now=utcnow())
    if after_commit is not None:
        await after_commit()


async def route_locked(
    state: AppState, session: AsyncSession, lead: Lead, *, now: dt.datetime
) -> AfterCommit | None:
    """Route a ready lead the caller has row-locked, in the caller's transaction: the gate's
    queue-stage decision, then blocked, or scheduled (with its dial job, or to be posted to the
    board at once). Returns what to run once the transaction has committed, if anything.

    The intake job calls this in its own transaction (`state.services["lead_router"]`): the
    lead turns ready and is routed in one commit."""
    if lead.status != LeadStatus.READY:
        return None
    tenant_id, lead_id = lead.tenant_id, lead.id
    tenant = await tenants_repo.get_by_id(session, tenant_id)
    if tenant is None:
        return None
    settings = effective_settings(tenant)
    flags = await read_flags(session, now=now)
    decision = await evaluate(
        session, state=state, tenant=tenant, lead=lead, stage="queue", now=now,
        flags=flags, usage=None,
    )  # fmt: skip
    lead.updated_at = now
    if decision.verdict is Verdict.BLOCK:
        lead.status = LeadStatus.BLOCKED
        lead.next_action_at = None
        await leads_repo.add_event(
            session,
            tenant_id=tenant_id,
            lead_id=lead_id,
            kind="dialer.blocked",
            data={"stage": "queue", "reason": decision.reason},
        )
        return None
    priority = calls.dial_priority(lead)
    delay = dt.timedelta(seconds=getattr(settings.dial_delays_s, priority))
    gate_at = now if decision.verdict is Verdict.CALL else next_time(state, decision, now)
    at = max(lead.received_at + delay, gate_at, now)
    attempt = lead.attempts + 1
    lead.status = LeadStatus.SCHEDULED
    lead.next_action_at = at
    post: AfterCommit | None = None
    if at - now <= DIRECT_POST_WITHIN:
        post = functools.partial(_post_now, state, lead, tenant, attempt, at)
    else:
        enqueue_after_commit(
            session,
            queue=priority,
            task="dialer.dial",
            job_key=job_key("lead.dial", lead.id, attempt),
            run_at=at if at > now else None,
            timeout_s=DIAL_JOB_TIMEOUT_S,
            tenant_id=str(tenant_id),
            lead_id=str(lead_id),
        )
    await leads_repo.add_event(
        session,
        tenant_id=tenant_id,
        lead_id=lead_id,
        kind="dialer.scheduled",
        data={
            "attempt": attempt,
            "priority": priority,
            "at": at.isoformat(),
            "decision": decision.verdict.value,
            "reason": decision.reason,
        },
    )
    return post


async def _post_now(
    state: AppState, lead: Lead, tenant: Tenant, attempt: int, at: dt.datetime
) -> None:
    """Put a committed attempt due within `DIRECT_POST_WITHIN` on the board at once, and wake
    a dialer for its due time: no dial job and no second transaction stand between an
    emergency lead and its call. Pauses are still read by the dial transaction. If Redis
    fails here, the lead is scheduled and due: the sweeper queues its dial job."""
    try:
        await post_ticket(state, lead=lead, tenant=tenant, attempt=attempt, due=at)
        await schedule_dispatch(state, delay_s=(at - utcnow()).total_seconds(), per_s=10)
    except Exception as exc:
        log.warning("posting a routed attempt failed; the sweeper re-queues it", exc_info=exc)


# ---- 2. make eligible ------------------------------------------------------------------------


async def make_eligible(state: AppState, *, tenant_id: uuid.UUID, lead_id: uuid.UUID) -> None:
    """Post the lead's due attempt to the board, or hold it while a pause is on."""
    now = utcnow()
    async with unit_of_work(state) as session:
        lead = await leads_repo.get_lead(session, tenant_id=tenant_id, lead_id=lead_id)
        if lead is None or lead.status != LeadStatus.SCHEDULED or lead.next_action_at is None:
            return
        attempt = lead.attempts + 1
        if lead.next_action_at > now + dt.timedelta(seconds=EARLY_TOLERANCE_S):
            enqueue_redial(session, lead, attempt=attempt, at=lead.next_action_at)
            return
        tenant = await tenants_repo.get_by_id(session, tenant_id)
        if tenant is None:
            return
        flags = await read_flags(session, now=now)
        reason = hold_reason(flags, tenant, lead.priority, now)
        if reason is not None:
            locked = await leads_repo.lock_lead(session, tenant_id=tenant_id, lead_id=lead_id)
            if locked is not None and locked.status == LeadStatus.SCHEDULED:
                locked.next_action_at = recheck_at(flags, tenant, now)
                enqueue_redial(session, locked, attempt=attempt, at=locked.next_action_at)
            dialer_metrics(state).held.labels(reason).inc()
            return
        await post_ticket(
            state, lead=lead, tenant=tenant, attempt=attempt, due=max(lead.next_action_at, now)
        )
