"""Step 4: the sweeper: missing jobs, dials that died without a CallSid, stale calls."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.leads import repository as leads_repo
from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform.db import utcnow
from leadwire.platform.errors import ExternalServiceError
from leadwire.platform.jobs import job_key, unit_of_work
from leadwire.platform.queues import DIAL_QUEUES, INTAKE_QUEUES, intake_queue
from leadwire.platform.state import AppState
from leadwire.telephony import calls, repository
from leadwire.telephony.board import Board, ticket
from leadwire.telephony.call_status import CallStatus
from leadwire.telephony.dialer.common import (
    DIAL_JOB_TIMEOUT_S,
    DIAL_LEASE_S,
    post_ticket,
    schedule_dispatch,
)
from leadwire.telephony.models import Call
from leadwire.telephony.providers import provider_of
from leadwire.telephony.runtime import board_of
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants.models import Tenant

log = logging.getLogger("leadwire.telephony.dialer")

# ---- 4. the sweeper ---------------------------------------------------------------------------


@dataclass
class SweepReport:
    routed: int = 0
    requeued: int = 0
    recovered: int = 0
    reconciled: int = 0
    slots_reclaimed: int = 0


CURSOR_KEY = "leadwire:dial:sweep_cursor"
SWEEP_PAGE = 250
SWEEP_PAGES = 4


async def _due_page(state: AppState, *, now: dt.datetime, limit: int) -> list[Any]:
    """The next page of due leads after the cursor kept in Redis; back to the start at the
    end, so every due lead is looked at even when more are due than one sweep handles."""
    raw = await state.redis.get(CURSOR_KEY)
    after = None
    if raw:
        at, lead = (raw.decode() if isinstance(raw, bytes) else str(raw)).split("|")
        after = (dt.datetime.fromisoformat(at), uuid.UUID(lead))
    async with state.sessions() as session:
        rows = list(await repository.due_leads(session, before=now, limit=limit, after=after))
    if len(rows) < limit:
        await state.redis.delete(CURSOR_KEY)
    else:
        last = rows[-1]
        await state.redis.set(CURSOR_KEY, f"{last[5].isoformat()}|{last[1]}", ex=3600)
    return rows


async def sweep(
    state: AppState, *, page: int = SWEEP_PAGE, pages: int = SWEEP_PAGES
) -> SweepReport:
    """Re-queue due work whose job went missing; recover stuck dials; reclaim slots."""
    report = SweepReport()
    now = utcnow()
    board = board_of(state)
    for _ in range(pages):
        rows = await _due_page(state, now=now, limit=page)
        for row in rows:
            await _sweep_lead(state, board, report, row, now=now)
        if len(rows) < page:
            break
    report.slots_reclaimed = await board.reclaim_slots()
    if await board.pending():
        await schedule_dispatch(state, delay_s=0.0)
    return report


async def _sweep_lead(
    state: AppState, board: Board, report: SweepReport, row: Any, *, now: dt.datetime
) -> None:
    tenant_id, lead_id, status, priority, attempts, next_action_at = row
    queue = priority if priority in DIAL_QUEUES else "medium"
    if status == LeadStatus.READY:
        key = job_key("lead.route", lead_id)
        if not await state.queues.job_pending_on_any(INTAKE_QUEUES, key):
            await state.queues.enqueue(
                intake_queue(priority), "dialer.route", job_key=key,
                tenant_id=str(tenant_id), lead_id=str(lead_id),
            )  # fmt: skip
            report.routed += 1
    elif status == LeadStatus.SCHEDULED:
        attempt = attempts + 1
        if await board.has(ticket(lead_id, attempt)):
            return
        base = job_key("lead.dial", lead_id, attempt)
        redial = job_key("lead.redial", lead_id, attempt, int(next_action_at.timestamp()))
        for key in (base, redial):
            if await state.queues.job_pending(queue, key):
                return
        await state.queues.enqueue(
            queue, "dialer.dial", job_key=base, timeout_s=DIAL_JOB_TIMEOUT_S,
            tenant_id=str(tenant_id), lead_id=str(lead_id),
        )  # fmt: skip
        report.requeued += 1
    elif status == LeadStatus.DIALING:
        outcome = await recover_dialing(
            state, tenant_id=tenant_id, lead_id=lead_id, attempt=attempts, now=now
        )
        if outcome == "recovered":
            report.recovered += 1
        elif outcome == "reconciled":
            report.reconciled += 1


async def recover_dialing(
    state: AppState,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    attempt: int,
    now: dt.datetime,
) -> str | None:
    """A dialing lead past its deadline: re-post a dial that never got a CallSid (its dial
    asks the provider first), or ask the provider about a call that should have ended."""
    repost: tuple[Lead, Tenant] | None = None
    outcome: str | None = None
    async with unit_of_work(state) as session:
        lead = await leads_repo.lock_lead(session, tenant_id=tenant_id, lead_id=lead_id)
        if lead is None or lead.status != LeadStatus.DIALING or lead.attempts != attempt:
            return None
        call = await repository.call_for_attempt(
            session, tenant_id=tenant_id, lead_id=lead_id, attempt=attempt
        )
        tenant = await tenants_repo.get_by_id(session, tenant_id)
        if call is None or tenant is None or call.finalized_at is not None:
            return None
        if call.provider_call_id is None:
            if call.dial_lease_until is not None and call.dial_lease_until > now:
                lead.next_action_at = call.dial_lease_until
                return None
            call.dial_lease_until = now + dt.timedelta(seconds=DIAL_LEASE_S)
            lead.next_action_at = call.dial_lease_until
            repost = (lead, tenant)
            outcome = "recovered"
        else:
            outcome = await _reconcile(state, session, call=call, lead=lead, tenant=tenant, now=now)
    if repost is not None:
        lead, tenant = repost
        await post_ticket(state, lead=lead, tenant=tenant, attempt=attempt, due=now)
        await schedule_dispatch(state, delay_s=0.0)
    return outcome


async def _reconcile(
    state: AppState,
    session: AsyncSession,
    *,
    call: Call,
    lead: Lead,
    tenant: Tenant,
    now: dt.datetime,
) -> str | None:
    assert call.provider_call_id
    try:
        found = await provider_of(state).fetch_call(call.provider_call_id)
    except ExternalServiceError as exc:
        log.warning("reconcile failed", extra={"call_id": str(call.id), "code": exc.provider_code})
        lead.next_action_at = now + dt.timedelta(seconds=calls.RECONCILE_MARGIN_S)
        return None
    await repository.add_event(
        session,
        call_id=call.id,
        tenant_id=call.tenant_id,
        provider_call_id=call.provider_call_id,
        kind="reconcile",
        params=[["status", found.status.value], ["duration", str(found.duration_s or "")]],
        signature_valid=False,
    )
    await calls.apply_event(session, call=call, event=found.to_event(), now=now)
    if CallStatus(call.status).is_final:
        await calls.finalize(session, state=state, call=call, now=now)
        return "reconciled"
    lead.next_action_at = now + dt.timedelta(seconds=calls.RECONCILE_MARGIN_S)
    return None
