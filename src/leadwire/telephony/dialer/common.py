"""What the dial pipeline's steps share: timings, holds, redials, the gate call, posting."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance.decision import Decision
from leadwire.leads.models import Lead
from leadwire.platform.db import utcnow
from leadwire.platform.flags import Flags
from leadwire.platform.jobs import enqueue_after_commit, job_key
from leadwire.platform.state import AppState
from leadwire.telephony import calls
from leadwire.telephony.board import SlotConfig
from leadwire.telephony.gate import (
    evaluate_fn,
    gate_time,
    real_time,
)
from leadwire.telephony.limits import (
    TenantLimits,
    effective_limits,
)
from leadwire.telephony.runtime import board_of
from leadwire.tenants.models import Tenant
from leadwire.tenants.service import effective_settings

DIAL_JOB_TIMEOUT_S = 90
# A routed attempt due within this long goes on the board at once (with a dispatcher wake-up
# at its due time) instead of through a `dialer.dial` job; later ones keep their job.
DIRECT_POST_WITHIN = dt.timedelta(seconds=5)
HOLD_RECHECK_S = 15.0
# Held work whose hold ends by itself is looked at again this long after the end: SAQ schedules
# whole seconds, so a job may start up to a second early, and would find the hold still on.
HOLD_END_MARGIN_S = 1.0
# ... spread over this long, so that the work held meanwhile does not all go at once.
HOLD_END_SPREAD_S = 1.0
DRAIN_BUDGET_S = 20.0
SHORT_WAIT_MS = 2_000
WAITERS_PER_PROCESS = 2
DRAINERS_PER_PROCESS = 4
PLACING_PER_DRAIN = 8
# From recording an attempt until the provider must have answered POST /Calls: the send wait
# (at most ~1.5 s), the provider request timeout (10 s) and a margin. Past it, recovery runs.
DIAL_LEASE_S = 20.0
UNKNOWN_RECHECK_S = 5.0
EARLY_TOLERANCE_S = 1.5
_RNG = random.Random()


def ms(instant: dt.datetime) -> int:
    return int(instant.timestamp() * 1000)


def from_ms(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC)


def hold_delay() -> dt.timedelta:
    """When held work is looked at again (jittered, so a lifted pause does not stampede)."""
    return dt.timedelta(seconds=HOLD_RECHECK_S * _RNG.uniform(0.8, 1.2))


def hold_reason(flags: Flags, tenant: Tenant, priority: str, now: dt.datetime) -> str | None:
    if flags.emergency is not None:
        return "emergency_mode"
    if tenant.paused_until is not None and tenant.paused_until > now:
        return "tenant_paused"
    if flags.queue_paused(priority):
        return "queue_paused"
    return None


def recheck_at(flags: Flags, tenant: Tenant | None, now: dt.datetime) -> dt.datetime:
    """When held work is looked at again: after the usual ~15 s, or within ~2 s after the hold's
    own end when that comes sooner (an emergency with a duration, a tenant pause with an end), so
    work resumes when a hold expires by itself rather than up to 15 s later."""
    recheck = now + hold_delay()
    ends = [
        until
        for until in (
            flags.emergency.until if flags.emergency is not None else None,
            tenant.paused_until if tenant is not None else None,
        )
        if until is not None and now < until < recheck
    ]
    if not ends:
        return recheck
    spread = _RNG.uniform(0.0, HOLD_END_SPREAD_S)
    return min(ends) + dt.timedelta(seconds=HOLD_END_MARGIN_S + spread)


def slot_config(limits: TenantLimits) -> SlotConfig:
    lease_s = calls.RING_TIMEOUT_S + limits.max_call_seconds + calls.RECONCILE_MARGIN_S
    return SlotConfig(
        standard=limits.concurrent_calls,
        priority=limits.for_priority("emergency").concurrent_calls,
        lease_ms=lease_s * 1000,
    )


def enqueue_redial(session: AsyncSession, lead: Lead, *, attempt: int, at: dt.datetime) -> None:
    """A dial job at `at` for a deferred attempt (the running job still holds the base key)."""
    enqueue_after_commit(
        session,
        queue=calls.dial_priority(lead),
        task="dialer.dial",
        job_key=job_key("lead.redial", lead.id, attempt, int(at.timestamp())),
        run_at=at,
        timeout_s=DIAL_JOB_TIMEOUT_S,
        tenant_id=str(lead.tenant_id),
        lead_id=str(lead.id),
    )


def next_time(state: AppState, decision: Decision, now: dt.datetime) -> dt.datetime:
    if decision.not_before is not None:
        return max(now, real_time(state.settings, decision.not_before))
    return now + hold_delay()


async def evaluate(
    session: AsyncSession,
    *,
    state: AppState,
    tenant: Tenant,
    lead: Lead,
    stage: str,
    now: dt.datetime,
    flags: Flags,
    usage: object | None,
) -> Decision:
    evaluate = evaluate_fn()
    return await evaluate(
        session,
        state=state,
        tenant=tenant,
        lead=lead,
        stage="queue" if stage == "queue" else "dial",
        now=gate_time(state.settings, now),
        usage=usage,
        queue_paused=flags.queue_paused(calls.dial_priority(lead)),
    )


async def post_ticket(
    state: AppState, *, lead: Lead, tenant: Tenant, attempt: int, due: dt.datetime
) -> bool:
    limits = effective_limits(effective_settings(tenant), tenant.plan)
    return await board_of(state).post(
        priority=calls.dial_priority(lead),
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        attempt=attempt,
        due_ms=ms(due),
        slots=slot_config(limits),
    )


async def schedule_dispatch(state: AppState, *, delay_s: float, per_s: int = 1) -> None:
    """A `dialer.dispatch` wake-up after `delay_s`; wake-ups are keyed by their time, `per_s`
    keys a second (a posted attempt asks for a finer one: a wake-up that is running, about to
    find the board empty, refuses another under its key)."""
    at = utcnow() + dt.timedelta(seconds=max(delay_s, 0.0))
    slot = int(at.timestamp() * per_s)
    await state.queues.enqueue(
        calls.DISPATCH_QUEUE,
        "dialer.dispatch",
        job_key=job_key("dialer.dispatch", slot if per_s == 1 else f"{slot}/{per_s}"),
        run_at=at,
        timeout_s=DIAL_JOB_TIMEOUT_S,
    )
