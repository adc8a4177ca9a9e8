"""Step 3: dial from the board (claim, the dial transaction, the provider, recovery)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance.decision import Verdict
from leadwire.leads import repository as leads_repo
from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform import opsstats
from leadwire.platform.classify import classify
from leadwire.platform.db import utcnow
from leadwire.platform.errors import ErrorClass, ExternalServiceError
from leadwire.platform.flags import read_flags, read_flags_now
from leadwire.platform.jobs import unit_of_work
from leadwire.platform.queues import DIAL_QUEUES
from leadwire.platform.state import AppState
from leadwire.telephony import calls, repository, snapshot, urls
from leadwire.telephony.board import Claim, NoClaim, lower_or_equal
from leadwire.telephony.call_status import CallStatus
from leadwire.telephony.caller_id import choose_caller_id
from leadwire.telephony.dialer.common import (
    DIAL_LEASE_S,
    DRAIN_BUDGET_S,
    DRAINERS_PER_PROCESS,
    PLACING_PER_DRAIN,
    SHORT_WAIT_MS,
    UNKNOWN_RECHECK_S,
    WAITERS_PER_PROCESS,
    enqueue_redial,
    evaluate,
    from_ms,
    hold_reason,
    next_time,
    recheck_at,
    schedule_dispatch,
)
from leadwire.telephony.gate import (
    gate_time,
    record_attempt_fn,
    usage_facts,
)
from leadwire.telephony.limits import (
    Refusal,
    budget_day,
    effective_limits,
    next_midnight,
    reservation_usd,
)
from leadwire.telephony.metrics import dialer_metrics
from leadwire.telephony.models import Call
from leadwire.telephony.providers import provider_of
from leadwire.telephony.runtime import board_of, limits_of
from leadwire.telephony.state_machine import CallbackEvent, CallState
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants.service import effective_settings
from leadwire.tenants.settings_schema import TenantSettings

log = logging.getLogger("leadwire.telephony.dialer")

# ---- 3. the dispatcher ------------------------------------------------------------------------


async def drain(
    state: AppState,
    *,
    budget_s: float = DRAIN_BUDGET_S,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Claim and dial the board's best tickets until nothing is claimable; returns how many.

    At most `DRAINERS_PER_PROCESS` drains run per process (each holds one database
    transaction at a time); a job that finds them all busy leaves a wake-up. A drain prepares
    its claims one after the other and lets each wait for its send time and call the provider
    in the background (at most `PLACING_PER_DRAIN` at once), so the send waits overlap.
    A short wait for the next send time is slept by at most `WAITERS_PER_PROCESS` drains per
    process; the others leave a `dialer.dispatch` wake-up instead of holding a worker.
    """
    active: int = state.services.get("telephony.drainers", 0)
    if active >= DRAINERS_PER_PROCESS:
        await schedule_dispatch(state, delay_s=1.0)
        return 0
    state.services["telephony.drainers"] = active + 1
    placing: set[asyncio.Task[None]] = set()
    try:
        return await _drain(state, placing, budget_s=budget_s, stopping=stopping)
    finally:
        state.services["telephony.drainers"] -= 1
        if placing:
            await asyncio.gather(*placing, return_exceptions=True)


async def _drain(
    state: AppState,
    placing: set[asyncio.Task[None]],
    *,
    budget_s: float,
    stopping: Callable[[], bool],
) -> int:
    board = board_of(state)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    handled = 0
    while loop.time() < deadline:
        if stopping():  # the worker is shutting down: leave the rest to a wake-up
            break
        while len(placing) >= PLACING_PER_DRAIN:
            await asyncio.wait(placing, return_when=asyncio.FIRST_COMPLETED)
        result = await board.claim()
        if isinstance(result, Claim):
            prepared = await prepare_claim(state, result)
            if prepared is not None:
                task = asyncio.create_task(_place_safely(state, result, prepared))
                placing.add(task)
                task.add_done_callback(placing.discard)
            handled += 1
            continue
        if not await _wait_or_leave(state, result, deadline=deadline):
            return handled
    # The budget is spent with work left: the next drain starts at once (a second's pause here
    # left the send times of that second unused, a tenth of the pace every budget).
    await schedule_dispatch(state, delay_s=0.0, per_s=10)
    return handled


async def _wait_or_leave(state: AppState, result: NoClaim, *, deadline: float) -> bool:
    """Sleep through a short wait (True), or leave a wake-up and stop (False)."""
    if result.wait_ms < 0:
        return False
    wait_s = result.wait_ms / 1000 + 0.005
    loop = asyncio.get_running_loop()
    waiting: int = state.services.get("telephony.waiters", 0)
    if (
        result.wait_ms <= SHORT_WAIT_MS
        and waiting < WAITERS_PER_PROCESS
        and (loop.time() + wait_s < deadline)
    ):
        state.services["telephony.waiters"] = waiting + 1
        try:
            await asyncio.sleep(wait_s)
        finally:
            state.services["telephony.waiters"] = state.services["telephony.waiters"] - 1
        return True
    await schedule_dispatch(state, delay_s=wait_s)
    return False


class Limited(Exception):
    """A rate-limit layer refused after the claim: the ticket goes back (not an attempt)."""

    def __init__(self, refusal: Refusal, *, priorities: tuple[str, ...]) -> None:
        super().__init__(refusal.layer)
        self.refusal = refusal
        self.priorities = priorities


@dataclass
class Prepared:
    """An attempt recorded in the database, ready for the provider."""

    call_id: uuid.UUID
    tenant_id: uuid.UUID
    lead_id: uuid.UUID
    attempt: int
    priority: str
    to: str
    from_: str
    started_at: dt.datetime
    received_at: dt.datetime
    recovery: bool = False
    max_call_s: int | None = None  # the tenant's agent.max_call_seconds, when read


@dataclass
class _Reservation:
    tenant_id: uuid.UUID | None = None
    day: str = ""
    member: str = ""
    committed: bool = False


async def dial_claim(state: AppState, claim: Claim) -> None:
    """Everything after a claim, in line; never raises (a failure gives the ticket back)."""
    prepared = await prepare_claim(state, claim)
    if prepared is not None:
        await _place_safely(state, claim, prepared)


async def prepare_claim(state: AppState, claim: Claim) -> Prepared | None:
    """The dial transaction for a claim; never raises. A limited claim goes back to the
    board (not an error, not an attempt); a recorded attempt leaves the board, owned by the
    database from then on (its dial lease covers a crash)."""
    board = board_of(state)
    reservation = _Reservation()
    try:
        prepared = await _prepare(state, claim, reservation)
    except Limited as limited:
        refusal = limited.refusal
        dialer_metrics(state).limited.labels(refusal.layer).inc()
        wait_ms = max(50, int(refusal.retry_after_s * 1000))
        await board.give_back(
            claim,
            delay_ms=0 if refusal.tenant_wide else wait_ms,
            block_ms=wait_ms if refusal.tenant_wide else 0,
            block_priorities=limited.priorities if refusal.tenant_wide else (),
        )
        return None
    except Exception:
        log.exception("dial step failed; the attempt goes back to the board")
        await _release_reservation(state, reservation)
        await board.give_back(claim, delay_ms=5_000)
        return None
    if prepared is not None:
        await board.done(claim.member, release_slot=False)
    return prepared


async def _place_safely(state: AppState, claim: Claim, prepared: Prepared) -> None:
    try:
        await _place(state, claim, prepared)
    except Exception:
        log.exception("placing the call failed; recovery will ask the provider")


async def _release_reservation(state: AppState, reservation: _Reservation) -> None:
    if reservation.tenant_id is not None and not reservation.committed:
        await limits_of(state).settle(
            tenant_id=reservation.tenant_id,
            day=reservation.day,
            member=reservation.member,
            cost_usd=Decimal(0),
            placed=False,
        )


async def _prepare(state: AppState, claim: Claim, reservation: _Reservation) -> Prepared | None:
    """The dial transaction. None: nothing to dial (the ticket is settled here)."""
    now = utcnow()
    async with unit_of_work(state) as session:
        result = await _dial_transaction(state, session, claim, now, reservation)
    if isinstance(result, Prepared):
        reservation.committed = True
        return result
    reason, release_slot = result
    await board_of(state).done(claim.member, release_slot=release_slot)
    if reason != "gone":
        dialer_metrics(state).held.labels(reason).inc()
    return None


async def _dial_transaction(
    state: AppState,
    session: AsyncSession,
    claim: Claim,
    now: dt.datetime,
    reservation: _Reservation,
) -> Prepared | tuple[str, bool]:
    lead = await leads_repo.lock_lead(session, tenant_id=claim.tenant_id, lead_id=claim.lead_id)
    if (
        lead is not None
        and lead.status == LeadStatus.SCHEDULED
        and lead.attempts + 1 == claim.attempt
    ):
        # The common case. No call exists for this attempt: a call is only ever created in
        # the transaction that sets `lead.attempts` to its attempt (`_record_attempt`).
        result = await _decide_and_record(state, session, claim, lead, now, reservation)
        return result if isinstance(result, Prepared) else (result[0], True)
    existing = await repository.call_for_attempt(
        session, tenant_id=claim.tenant_id, lead_id=claim.lead_id, attempt=claim.attempt
    )
    if existing is not None:
        if existing.finalized_at is not None:
            return ("gone", True)
        if existing.provider_call_id is None:
            return _prepared_from(existing, lead, claim, recovery=True)
        return ("gone", False)  # placed: the slot belongs to the live call
    return ("gone", True)


def _prepared_from(
    call: Call, lead: Lead | None, claim: Claim, *, recovery: bool, max_call_s: int | None = None
) -> Prepared:
    return Prepared(
        call_id=call.id,
        tenant_id=call.tenant_id,
        lead_id=call.lead_id,
        attempt=call.attempt,
        priority=claim.priority,
        to=call.to_number,
        from_=call.from_number,
        started_at=call.started_at,
        received_at=lead.received_at if lead is not None else call.started_at,
        recovery=recovery,
        max_call_s=max_call_s,
    )


async def _decide_and_record(
    state: AppState,
    session: AsyncSession,
    claim: Claim,
    lead: Lead,
    now: dt.datetime,
    reservation: _Reservation,
) -> Prepared | tuple[str, dt.datetime]:
    """Gate, limits, caller ID and the attempt's record; or (reason, when) it waits instead."""
    tenant = await tenants_repo.get_by_id(session, claim.tenant_id)
    if tenant is None or not lead.phone_e164:
        lead.status = LeadStatus.BLOCKED
        lead.next_action_at = None
        return ("no_tenant_or_phone", now)
    flags = await read_flags(session, now=now)
    # Pauses are judged here at the real time: the gate's clock may be shifted (simulated
    # carrier), and an emergency, a pause or its end is a real instant.
    held = hold_reason(flags, tenant, claim.priority, now)
    if held is not None:
        at = recheck_at(flags, tenant, now)
        lead.next_action_at, lead.updated_at = at, now
        enqueue_redial(session, lead, attempt=claim.attempt, at=at)
        return (held, at)
    settings = effective_settings(tenant)
    dial_limits = limits_of(state)
    limits = effective_limits(settings, tenant.plan).adapted(
        await dial_limits.rate_factor(tenant.id)
    )
    day = budget_day(settings.timezone, now)
    usage = await dial_limits.usage(tenant_id=tenant.id, day=day)
    decision = await evaluate(
        session,
        state=state,
        tenant=tenant,
        lead=lead,
        stage="dial",
        now=now,
        flags=flags,
        usage=usage_facts(
            spent_usd=float(usage.spent_usd + usage.reserved_usd), calls_today=usage.calls
        ),
    )
    lead.updated_at = now
    if decision.verdict is Verdict.BLOCK:
        lead.status = LeadStatus.BLOCKED
        lead.next_action_at = None
        await leads_repo.add_event(
            session,
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            kind="dialer.blocked",
            data={"stage": "dial", "reason": decision.reason},
        )
        return (decision.reason, now)
    if decision.verdict is Verdict.DEFER:
        at = next_time(state, decision, now)
        lead.next_action_at = at
        enqueue_redial(session, lead, attempt=claim.attempt, at=at)
        return (decision.reason, at)
    caller_id = choose_caller_id(callee=lead.phone_e164, caller_ids=settings.caller_ids)
    if caller_id is None:
        return await _hold_for_tenant(session, lead, now, reason="no_valid_caller_id")

    windows_from = time.time()
    refusal = await dial_limits.take_windows(
        tenant_id=tenant.id, limits=limits.for_priority(claim.priority), phone_e164=lead.phone_e164
    )
    # When the windows counted this call, within these bounds (audits check "no overshoot").
    counted = (int(windows_from * 1000), int(time.time() * 1000))
    if refusal is not None:
        raise Limited(refusal, priorities=lower_or_equal(claim.priority))
    call_id = uuid.uuid4()
    amount = reservation_usd(limits.max_call_seconds, state.settings.call_cost_per_minute_usd)
    reserved = await dial_limits.reserve(
        tenant_id=tenant.id,
        day=day,
        member=str(call_id),
        amount_usd=amount,
        cap_usd=limits.daily_budget_usd,
    )
    if not reserved:
        until = (next_midnight(settings.timezone, now) - now).total_seconds()
        raise Limited(Refusal("daily_budget", until), priorities=DIAL_QUEUES)
    reservation.tenant_id, reservation.day, reservation.member = tenant.id, day, str(call_id)
    return await _record_attempt(
        state, session, claim, lead, settings, call_id=call_id, caller_id=caller_id,
        reserved=amount, day=day, now=now, counted=counted,
    )  # fmt: skip


async def _hold_for_tenant(
    session: AsyncSession, lead: Lead, now: dt.datetime, *, reason: str
) -> tuple[str, dt.datetime]:
    lead.next_action_at = None  # not due: the tenant must fix its settings first
    lead.outcome = "held"
    await leads_repo.add_event(
        session, tenant_id=lead.tenant_id, lead_id=lead.id, kind="call.held",
        data={"reason": reason},
    )  # fmt: skip
    return (reason, now)


async def _record_attempt(
    state: AppState,
    session: AsyncSession,
    claim: Claim,
    lead: Lead,
    settings: TenantSettings,
    *,
    call_id: uuid.UUID,
    caller_id: str,
    reserved: Decimal,
    day: str,
    now: dt.datetime,
    counted: tuple[int, int],
) -> Prepared:
    assert lead.phone_e164
    provider = provider_of(state)
    lease = now + dt.timedelta(seconds=DIAL_LEASE_S)
    call = Call(
        id=call_id,
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        attempt=claim.attempt,
        status=CallStatus.QUEUED.value,
        provider=provider.name,
        from_number=caller_id,
        to_number=lead.phone_e164,
        state=snapshot.to_json(CallState()),
        budget_reserved_usd=reserved,
        budget_day=day,
        dispatch={
            "priority": claim.priority,
            "seq": claim.seq,
            "posted_at": from_ms(claim.posted_ms).isoformat(),
            "claimed_at": from_ms(claim.claimed_ms).isoformat(),
            "send_at": from_ms(claim.send_ms).isoformat(),
            "counted_ms": list(counted),
        },
        dial_lease_until=lease,
        started_at=now,
        updated_at=now,
    )
    session.add(call)
    await session.flush()
    await record_attempt_fn()(
        session,
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        phone_e164=lead.phone_e164,
        at=gate_time(state.settings, now),
    )
    lead.status = LeadStatus.DIALING
    lead.attempts = claim.attempt
    lead.next_action_at = lease
    await leads_repo.add_event(
        session,
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        kind="call.dialing",
        data={
            "call_id": str(call_id),
            "attempt": claim.attempt,
            "priority": claim.priority,
            "seq": claim.seq,
        },
    )
    return _prepared_from(
        call, lead, claim, recovery=False, max_call_s=settings.agent.max_call_seconds
    )


async def _wait_for_send(state: AppState, send_ms: int) -> int:
    """Sleep until the reserved send time; a dialer that missed it by more than half the guard
    reserves a new one, so the carrier never sees two calls closer than 1/cps. Returns the send
    time it waited for."""
    board = board_of(state)
    tolerance_ms = board.tolerance_ms
    for _ in range(5):
        now_ms = time.time() * 1000
        if now_ms < send_ms:
            await asyncio.sleep((send_ms - now_ms) / 1000)
            now_ms = time.time() * 1000
        if now_ms <= send_ms + tolerance_ms:
            return send_ms
        send_ms = await board.reserve_send()
    return send_ms


async def _cleared_to_send(state: AppState, claim: Claim, prepared: Prepared) -> bool:
    """Wait for the send time, then read the switches (`_held_before_placing`); False: held.

    The switches' read is a transaction: under load it can outlast the send tolerance, and a
    late send next to an on-time one would put two calls closer than 1/cps at the carrier. A
    read that ends late takes a new send time and reads again."""
    send_ms = claim.send_ms
    for _ in range(5):
        send_ms = await _wait_for_send(state, send_ms)
        if await _held_before_placing(state, prepared):
            return False
        if time.time() * 1000 <= send_ms + board_of(state).tolerance_ms:
            return True
        send_ms = await board_of(state).reserve_send()
    # Five late reads in a row: send at the next reserved time, on the last read's answer.
    await _wait_for_send(state, send_ms)
    return True


async def _place(state: AppState, claim: Claim, prepared: Prepared) -> None:
    provider = provider_of(state)
    metrics = dialer_metrics(state)
    if prepared.recovery:
        found = await provider.find_call(
            to=prepared.to,
            from_=prepared.from_,
            started_after=prepared.started_at - dt.timedelta(seconds=5),
        )
        if found:
            async with unit_of_work(state) as session:
                call = await repository.lock_call(session, prepared.call_id)
                if call is not None and call.provider_call_id is None:
                    await calls.store_placed(
                        session, state=state, call=call, placed=found[0], now=utcnow(),
                        recovered=True,
                    )  # fmt: skip
            metrics.dials.labels(prepared.priority, "recovered").inc()
            await opsstats.record_dial(
                state.redis, state.metrics, priority=prepared.priority, received_to_dial_s=None,
                tenant_id=str(prepared.tenant_id),
            )  # fmt: skip
            return
    public = state.settings.public_url
    if not await _cleared_to_send(state, claim, prepared):
        return
    try:
        placed = await provider.create_call(
            to=prepared.to,
            from_=prepared.from_,
            voice_url=urls.voice_url(public, str(prepared.call_id)),
            status_callback_url=urls.status_callback_url(public),
            amd_callback_url=urls.amd_callback_url(public),
            timeout_s=calls.RING_TIMEOUT_S,
            idempotency_ref=str(prepared.call_id),
        )
    except ExternalServiceError as exc:
        await _create_failed(state, prepared, exc)
        return
    now = utcnow()
    async with unit_of_work(state) as session:
        call = await repository.lock_call(session, prepared.call_id)
        if call is None:
            return
        if call.provider_call_id not in (None, placed.sid):
            log.error("a second CallSid for one attempt", extra={"call_id": str(call.id)})
            return
        await calls.store_placed(
            session, state=state, call=call, placed=placed, now=now,
            max_call_s=prepared.max_call_s,
        )  # fmt: skip
    metrics.dials.labels(prepared.priority, "placed").inc()
    # The platform-wide figures (dashboard, admin metrics) and the speed-to-lead histogram.
    speed = max(0.0, (now - prepared.received_at).total_seconds())
    await opsstats.record_dial(
        state.redis,
        state.metrics,
        priority=prepared.priority,
        received_to_dial_s=speed if prepared.attempt == 1 else None,
        tenant_id=str(prepared.tenant_id),
    )


async def _held_before_placing(state: AppState, prepared: Prepared) -> bool:
    """Read the platform switches once more, right before the provider is called.

    The dial transaction read them, but the send-time wait and a busy process can put a second
    or more between it and this moment: a call decided before emergency mode (or a pause of its
    queue) must not reach the carrier after the switch. Nothing is awaited between this read
    and the provider's request. A held attempt stays recorded without a CallSid, its dial
    lease moved to when the hold may be over; the sweeper posts it again then, and that dial
    asks the provider first, as after a crash: nobody is called twice.
    """
    now = utcnow()
    flags = await read_flags_now(state.engine, now=now)
    if flags.emergency is not None:
        reason = "emergency_mode"
    elif flags.queue_paused(prepared.priority):
        reason = "queue_paused"
    else:
        return False
    async with unit_of_work(state) as session:
        call = await repository.lock_call(session, prepared.call_id)
        if call is None or call.provider_call_id is not None or call.finalized_at is not None:
            return True
        at = recheck_at(flags, None, now)
        call.dial_lease_until = at
        lead = await leads_repo.lock_lead(
            session, tenant_id=prepared.tenant_id, lead_id=prepared.lead_id
        )
        if lead is not None and lead.status == LeadStatus.DIALING:
            lead.next_action_at, lead.updated_at = at, now
            await leads_repo.add_event(
                session, tenant_id=lead.tenant_id, lead_id=lead.id, kind="dialer.held",
                data={"stage": "place", "reason": reason, "call_id": str(call.id),
                      "until": at.isoformat()},
            )  # fmt: skip
    dialer_metrics(state).held.labels(reason).inc()
    return True


async def _create_failed(state: AppState, prepared: Prepared, exc: ExternalServiceError) -> None:
    """The provider refused or did not answer POST /Calls."""
    classification = classify(exc)
    now = utcnow()
    unknown = exc.http_status is None or exc.http_status >= 500
    async with unit_of_work(state) as session:
        call = await repository.lock_call(session, prepared.call_id)
        if call is None or call.provider_call_id is not None:
            return
        lead = await leads_repo.lock_lead(
            session, tenant_id=prepared.tenant_id, lead_id=prepared.lead_id
        )
        if unknown or classification.error_class is ErrorClass.RATE_LIMIT:
            # Unknown: the call may exist; recovery asks the provider first. Rate limited: the
            # provider did not take it; the same attempt is dialed again after the wait.
            delay = UNKNOWN_RECHECK_S if unknown else (classification.retry_after_s or 30.0)
            call.dial_lease_until = now + dt.timedelta(seconds=delay)
            if lead is not None and lead.status == LeadStatus.DIALING:
                lead.next_action_at = call.dial_lease_until
            dialer_metrics(state).dials.labels(prepared.priority, "unknown").inc()
            return
        code = exc.provider_code if isinstance(exc.provider_code, int) else None
        event = CallbackEvent(status=CallStatus.FAILED, error_code=code, timestamp=now)
        await calls.apply_event(session, call=call, event=event, now=now)
        call.error_class = classification.error_class.value
        call.dial_lease_until = None
        await calls.finalize(session, state=state, call=call, now=now)
    dialer_metrics(state).dials.labels(prepared.priority, "rejected").inc()
