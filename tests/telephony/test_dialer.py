"""The dial pipeline in process: route, dial, callbacks, outcomes, pauses, limits, recovery."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from leadwire.leads.models import Lead, LeadEvent, LeadStatus
from leadwire.platform import flags, opsstats
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.jobs import job_key
from leadwire.platform.state import AppState
from leadwire.telephony import calls, dialer, simulator, tasks
from leadwire.telephony.board import ticket
from leadwire.telephony.dialer import dispatch
from leadwire.telephony.models import Call
from leadwire.telephony.providers.simulated import SimulatedCarrier
from leadwire.telephony.runtime import board_of
from tests.telephony.helpers import dial_tenant, make_lead, phone

pytestmark = pytest.mark.usefixtures("daytime")


async def lead_row(state: AppState, lead_id: uuid.UUID) -> Lead:
    async with state.sessions() as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        return lead


async def calls_of(state: AppState, lead_id: uuid.UUID) -> list[Call]:
    async with state.sessions() as session:
        rows = await session.execute(
            select(Call).where(Call.lead_id == lead_id).order_by(Call.attempt)
        )
        return list(rows.scalars().all())


async def timeline(state: AppState, lead_id: uuid.UUID) -> list[str]:
    async with state.sessions() as session:
        rows = await session.execute(
            select(LeadEvent.kind).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)
        )
        return list(rows.scalars().all())


async def wait_for(predicate: Any, *, within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_ready_lead_is_routed_dialed_and_closed(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(1)
    await simulator.set_override(clean, e164=number, outcome="answered", duration_s=60)
    lead_id = await make_lead(clean, tenant, number=number, priority="high")

    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.SCHEDULED
    # Due now: on the board at once with a dispatcher wake-up, no dial job in between.
    assert await board_of(clean).has(ticket(lead_id, 1))
    assert not await clean.queues.job_pending("high", job_key("lead.dial", lead_id, 1))
    assert await clean.queues[calls.DISPATCH_QUEUE].count("queued") >= 1

    await tasks.dispatch(ctx)
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id is not None and call.provider_call_id.startswith("CA")
    assert call.from_number == "+14045550100"
    assert call.dispatch["priority"] == "high"

    await carrier.idle()
    lead = await lead_row(clean, lead_id)
    [call] = await calls_of(clean, lead_id)
    assert call.status == "completed"
    assert call.outcome == "connected"
    assert call.duration_s == 60
    assert call.finalized_at is not None
    assert lead.status == LeadStatus.CLOSED and lead.outcome == "connected"
    kinds = await timeline(clean, lead_id)
    for kind in ("compliance.decision", "dialer.scheduled", "call.dialing", "call.placed"):
        assert kind in kinds
    assert kinds[-2:] == ["call.ended", "lead.closed"]
    assert await board_of(clean).slots_in_use(tenant.id) == 0


async def test_dials_answers_and_outcomes_reach_the_platform_wide_figures(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    """What the dashboard and `call-stats` read (Redis, every process) and the histogram."""
    tenant = await dial_tenant(clean)
    answered, busy = phone(11), phone(12)
    await simulator.set_override(clean, e164=answered, outcome="answered", duration_s=30)
    await simulator.set_override(clean, e164=busy, outcome="busy")
    histogram = "leadwire_speed_to_lead_seconds_count"
    before = clean.metrics.registry.get_sample_value(histogram, {"priority": "high"}) or 0.0
    for number in (answered, busy):
        lead_id = await make_lead(clean, tenant, number=number, priority="high")
        await route_and_dial(ctx, tenant.id, lead_id)
    await carrier.idle()

    minutes = opsstats.minutes_in(dt.timedelta(minutes=2), now=time.time())
    mine = {"minutes": minutes, "tenant_id": str(tenant.id)}
    dials = await opsstats.counts(clean.redis, opsstats.DIALS, **mine)
    outcomes = await opsstats.counts(clean.redis, opsstats.CALL_OUTCOMES, **mine)
    assert opsstats.totals(dials) == {"high": 2}
    assert opsstats.totals(outcomes) == {"busy": 1, "connected": 1}
    to_dial = await opsstats.samples(clean.redis, opsstats.SPEED_TO_DIAL, **mine)
    to_answer = await opsstats.samples(clean.redis, opsstats.SPEED_TO_ANSWER, **mine)
    assert len([v for row in to_dial.values() for v in row]) == 2
    [answer_s] = [v for row in to_answer.values() for v in row]  # the busy line never answered
    assert 0 <= answer_s < 30
    after = clean.metrics.registry.get_sample_value(histogram, {"priority": "high"})
    assert after == before + 2


async def route_and_dial(ctx: dict[str, Any], tenant_id: uuid.UUID, lead_id: uuid.UUID) -> None:
    await tasks.route(ctx, tenant_id=str(tenant_id), lead_id=str(lead_id))
    await tasks.dial(ctx, tenant_id=str(tenant_id), lead_id=str(lead_id))


async def test_a_lead_without_consent_is_blocked_at_the_queue_and_never_dialed(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    lead_id = await make_lead(clean, tenant, number=phone(2), with_consent=False)
    await route_and_dial(ctx, tenant.id, lead_id)
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.BLOCKED and lead.next_action_at is None
    assert not await clean.queues.job_pending("medium", job_key("lead.dial", lead_id, 1))
    assert await calls_of(clean, lead_id) == []
    assert await simulator.carrier_calls(clean.redis) == []
    assert "dialer.blocked" in await timeline(clean, lead_id)


async def test_the_dial_delay_of_the_priority_schedules_the_first_dial(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean, dial_delays_s={"low": 1800})
    lead_id = await make_lead(clean, tenant, number=phone(3), priority="low")
    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    lead = await lead_row(clean, lead_id)
    assert lead.next_action_at == lead.received_at + dt.timedelta(seconds=1800)
    job = await clean.queues["low"].job(job_key("lead.dial", lead_id, 1))
    assert job is not None and job.scheduled == int(lead.next_action_at.timestamp())
    # A dial job that runs early leaves the lead for its time, and dials nothing.
    await tasks.dial(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    assert await calls_of(clean, lead_id) == []


@pytest.mark.parametrize("pause", ["emergency", "tenant", "queue"])
async def test_pauses_hold_work_at_the_dial_step_and_it_resumes_when_lifted(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any], pause: str
) -> None:
    tenant = await dial_tenant(clean)
    lead_id = await make_lead(clean, tenant, number=phone(4), priority="high")
    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    async with session_scope(clean.sessions) as session:
        if pause == "emergency":
            await flags.set_emergency(
                session, reason="drill", actor="test", duration_s=None, hangup_active=False
            )
        elif pause == "queue":
            await flags.pause_queue(session, priority="high", actor="test", reason="drill")
        else:
            row = await session.get(type(tenant), tenant.id)
            assert row is not None
            row.paused_until = utcnow() + dt.timedelta(hours=1)
    await tasks.dial(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.SCHEDULED and lead.attempts == 0
    assert lead.next_action_at is not None and lead.next_action_at > utcnow()
    redial = job_key("lead.redial", lead_id, 1, int(lead.next_action_at.timestamp()))
    assert await clean.queues.job_pending("high", redial)  # held, not dropped
    assert await calls_of(clean, lead_id) == []

    async with session_scope(clean.sessions) as session:
        await flags.clear_emergency(session)
        await flags.resume_queue(session, priority="all")
        row = await session.get(type(tenant), tenant.id)
        assert row is not None
        row.paused_until = None
        held = await session.get(Lead, lead_id)
        assert held is not None
        held.next_action_at = utcnow()  # the redial's time has come
    await tasks.dial(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id is not None
    await carrier.idle()


async def test_a_pause_switched_on_after_the_ticket_was_posted_stops_the_dial(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    lead_id = await make_lead(clean, tenant, number=phone(5))
    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    await dialer.make_eligible(clean, tenant_id=tenant.id, lead_id=lead_id)
    async with session_scope(clean.sessions) as session:
        await flags.set_emergency(
            session, reason="drill", actor="test", duration_s=None, hangup_active=False
        )
    await dialer.drain(clean)
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.SCHEDULED and lead.attempts == 0
    assert await calls_of(clean, lead_id) == []
    assert not await board_of(clean).has(f"{lead_id}:1")
    assert await board_of(clean).slots_in_use(tenant.id) == 0


async def test_an_emergency_with_a_duration_holds_the_dial_whatever_the_gate_clock_says(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any], daytime: float
) -> None:
    """The gate's clock is shifted (simulated carrier), an emergency's end is a real instant:
    a week ahead, the gate alone would find a 2 s emergency long over and let the dial go."""
    clean.settings.simulator_clock_offset_s = daytime + 7 * 86_400  # same weekday and hour
    tenant = await dial_tenant(clean)
    lead_id = await make_lead(clean, tenant, number=phone(8))
    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    await dialer.make_eligible(clean, tenant_id=tenant.id, lead_id=lead_id)
    async with session_scope(clean.sessions) as session:
        emergency = await flags.set_emergency(
            session, reason="drill", actor="test", duration_s=2, hangup_active=False
        )
    assert emergency.until is not None
    await dialer.drain(clean)
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.SCHEDULED and lead.attempts == 0
    assert await calls_of(clean, lead_id) == []
    # Looked at again right after the emergency's own end (SAQ's whole seconds: a job may run
    # up to a second early, so at least a second after it), not ~15 s later.
    assert lead.next_action_at is not None
    after_end = (lead.next_action_at - emergency.until).total_seconds()
    assert 1.0 <= after_end <= 2.0
    redial = job_key("lead.redial", lead_id, 1, int(lead.next_action_at.timestamp()))
    assert await clean.queues.job_pending("medium", redial)

    await asyncio.sleep((lead.next_action_at - utcnow()).total_seconds())
    await tasks.dial(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id is not None
    await carrier.idle()


async def test_a_switch_turned_on_while_a_decided_call_waits_stops_it_before_the_carrier(
    clean: AppState,
    carrier: SimulatedCarrier,
    ctx: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dial transaction said call; emergency mode comes on during the send-time wait. The
    call must not reach the carrier; it goes out once, after the emergency, through recovery."""
    tenant = await dial_tenant(clean)
    number = phone(9)
    lead_id = await make_lead(clean, tenant, number=number)
    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    await dialer.make_eligible(clean, tenant_id=tenant.id, lead_id=lead_id)
    wait_for_send = dispatch._wait_for_send
    switched: list[flags.Emergency] = []

    async def switch_during_the_wait(state: AppState, send_ms: int) -> None:
        async with session_scope(clean.sessions) as session:
            switched.append(
                await flags.set_emergency(
                    session, reason="drill", actor="test", duration_s=2, hangup_active=False
                )
            )
        await wait_for_send(state, send_ms)

    monkeypatch.setattr(dispatch, "_wait_for_send", switch_during_the_wait)
    await dialer.drain(clean)
    monkeypatch.setattr(dispatch, "_wait_for_send", wait_for_send)
    [emergency] = switched
    assert emergency.until is not None
    assert await simulator.carrier_calls(clean.redis) == []
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id is None  # the attempt stays recorded, not placed
    assert call.dial_lease_until is not None
    assert 1.0 <= (call.dial_lease_until - emergency.until).total_seconds() <= 2.0
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.DIALING and lead.next_action_at == call.dial_lease_until
    assert "dialer.held" in await timeline(clean, lead_id)

    # The sweeper finds it when its lease has passed, after the emergency: placed, once.
    await dialer.sweep(clean)
    await dialer.drain(clean)
    assert await simulator.carrier_calls(clean.redis) == []  # not before the lease
    await asyncio.sleep((call.dial_lease_until - utcnow()).total_seconds())
    await dialer.sweep(clean)
    await dialer.drain(clean)
    [placed] = await simulator.carrier_calls(clean.redis)
    assert placed.to == number
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id == placed.sid and call.attempt == 1
    await carrier.idle()


async def test_a_rate_limited_dial_is_put_back_not_failed_and_not_an_attempt(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean, limits={"calls_per_minute": 1})
    first = await make_lead(clean, tenant, number=phone(6))
    second = await make_lead(clean, tenant, number=phone(7))
    for lead_id in (first, second):
        await route_and_dial(ctx, tenant.id, lead_id)
    assert len(await calls_of(clean, first)) == 1
    assert await calls_of(clean, second) == []
    waiting = await lead_row(clean, second)
    assert waiting.status == LeadStatus.SCHEDULED and waiting.attempts == 0
    assert await board_of(clean).has(f"{second}:1")  # rescheduled on the board
    # The board wakes a dialer when the minute frees up.
    jobs = await clean.queues["emergency"].count("incomplete")
    assert jobs >= 1


async def test_the_daily_budget_holds_calls_until_it_resets(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    # One call may cost up to 10 minutes at $0.014: $0.14 reserved; $0.20 allows one.
    tenant = await dial_tenant(clean, limits={"daily_budget_usd": 0.20})
    # The first call is still live (its reservation not yet settled) when the second comes.
    await simulator.set_override(clean, e164=phone(8), outcome="answered", duration_s=3600)
    first = await make_lead(clean, tenant, number=phone(8))
    second = await make_lead(clean, tenant, number=phone(9))
    for lead_id in (first, second):
        await route_and_dial(ctx, tenant.id, lead_id)
    assert len(await calls_of(clean, first)) == 1
    assert await calls_of(clean, second) == []
    assert (await lead_row(clean, second)).attempts == 0


async def test_the_provider_refusing_an_invalid_number_closes_the_lead(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(12)
    await simulator.set_override(clean, e164=number, outcome="failed", error_code=21211)
    lead_id = await make_lead(clean, tenant, number=number)
    await route_and_dial(ctx, tenant.id, lead_id)
    [call] = await calls_of(clean, lead_id)
    assert (call.status, call.error_code, call.error_class) == ("failed", 21211, "validation")
    assert call.outcome == "invalid_number" and call.provider_call_id is None
    lead = await lead_row(clean, lead_id)
    assert (lead.status, lead.outcome) == (LeadStatus.CLOSED, "invalid_number")
    assert await board_of(clean).slots_in_use(tenant.id) == 0


async def test_a_throttled_create_is_retried_for_the_same_attempt(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(13)
    await simulator.set_override(clean, e164=number, outcome="failed", error_code=20429)
    lead_id = await make_lead(clean, tenant, number=number)
    await route_and_dial(ctx, tenant.id, lead_id)
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id is None and call.finalized_at is None
    assert call.dial_lease_until is not None and call.dial_lease_until > utcnow()
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.DIALING and lead.attempts == 1
    # Twilio takes it later: the sweeper finds the lease passed, asks, and dials once.
    await simulator.clear_override(clean, e164=number)
    async with session_scope(clean.sessions) as session:
        row = await session.get(Call, call.id)
        held = await session.get(Lead, lead_id)
        assert row is not None and held is not None
        row.dial_lease_until = held.next_action_at = utcnow() - dt.timedelta(seconds=1)
    report = await dialer.sweep(clean)
    assert report.recovered == 1
    await dialer.drain(clean)
    [call] = await calls_of(clean, lead_id)
    assert call.provider_call_id is not None
    assert len(await simulator.carrier_calls(clean.redis)) == 1


@pytest.mark.parametrize("carrier_has_it", [True, False])
async def test_a_dial_that_died_without_its_call_sid_is_dialed_exactly_once(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any], carrier_has_it: bool
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(14)
    await simulator.set_override(clean, e164=number, outcome="answered", duration_s=600)
    lead_id = await make_lead(clean, tenant, number=number)
    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(lead_id))
    await dialer.make_eligible(clean, tenant_id=tenant.id, lead_id=lead_id)
    claim = await board_of(clean).claim()
    assert not isinstance(claim, type(None)) and hasattr(claim, "member")
    # The worker records the attempt and (maybe) reaches the carrier, then dies.
    from leadwire.telephony.dialer import dispatch

    reservation = dispatch._Reservation()
    prepared = await dispatch._prepare(clean, claim, reservation)  # type: ignore[arg-type]
    assert prepared is not None
    await board_of(clean).done(claim.member, release_slot=False)  # type: ignore[union-attr]
    if carrier_has_it:
        await carrier.create_call(
            to=prepared.to, from_=prepared.from_, voice_url="https://leadwire.test/v",
            status_callback_url="https://leadwire.test/s", amd_callback_url="https://leadwire.test/a",
            timeout_s=30, idempotency_ref=str(prepared.call_id),
        )  # fmt: skip
        await carrier.close()  # its callbacks die with the worker
    async with session_scope(clean.sessions) as session:
        row = await session.get(Call, prepared.call_id)
        held = await session.get(Lead, lead_id)
        assert row is not None and held is not None
        row.dial_lease_until = held.next_action_at = utcnow() - dt.timedelta(seconds=1)
    assert (await dialer.sweep(clean)).recovered == 1
    await dialer.drain(clean)
    [call] = await calls_of(clean, lead_id)
    created = await simulator.carrier_calls(clean.redis)
    assert len(created) == 1
    assert call.provider_call_id == created[0].sid
    assert call.dispatch.get("recovered", False) is carrier_has_it
    assert (await dialer.sweep(clean)).recovered == 0


async def test_machine_gets_the_voicemail_and_the_lead_is_closed(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(15)
    await simulator.set_override(clean, e164=number, outcome="machine", duration_s=40)
    lead_id = await make_lead(clean, tenant, number=number)
    await route_and_dial(ctx, tenant.id, lead_id)
    await carrier.idle()
    [call] = await calls_of(clean, lead_id)
    assert call.answered_by is not None and call.answered_by.startswith("machine")
    assert call.voicemail_left and call.outcome == "voicemail_left"
    dropped = await clean.redis.get(simulator.TWIML + (call.provider_call_id or ""))
    assert dropped is not None and b"Acme HVAC" in dropped and b"<Hangup" in dropped
    assert (await lead_row(clean, lead_id)).status == LeadStatus.CLOSED


async def test_machine_with_retry_handling_hangs_up_and_schedules_another_attempt(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean, call_retry={"machine_handling": "retry"})
    number = phone(16)
    await simulator.set_override(clean, e164=number, outcome="machine", duration_s=600)
    lead_id = await make_lead(clean, tenant, number=number, priority="high")
    await route_and_dial(ctx, tenant.id, lead_id)
    await carrier.idle()
    [call] = await calls_of(clean, lead_id)
    assert (call.status, call.outcome, call.voicemail_left) == ("completed", "machine", False)
    assert call.duration_s is not None and call.duration_s < 600  # we hung up
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.SCHEDULED and lead.attempts == 1
    assert lead.next_action_at is not None
    assert lead.next_action_at - utcnow() > dt.timedelta(minutes=50)
    assert await clean.queues.job_pending("high", job_key("lead.dial", lead_id, 2))


@pytest.mark.parametrize(("outcome", "retried"), [("busy", True), ("no-answer", True)])
async def test_busy_and_no_answer_are_retried_later(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any], outcome: str, retried: bool
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(17)
    await simulator.set_override(clean, e164=number, outcome=outcome)
    lead_id = await make_lead(clean, tenant, number=number)
    await route_and_dial(ctx, tenant.id, lead_id)
    await carrier.idle()
    lead = await lead_row(clean, lead_id)
    assert lead.status == LeadStatus.SCHEDULED and lead.attempts == 1
    kinds = await timeline(clean, lead_id)
    assert kinds[-1] == "call.retry_scheduled"
    assert await board_of(clean).slots_in_use(tenant.id) == 0


async def test_hangup_active_calls_ends_live_calls_and_their_leads_come_back(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    from leadwire.telephony import service

    tenant = await dial_tenant(clean)
    other = await dial_tenant(clean, slug="other")
    leads = []
    for i, owner in enumerate((tenant, tenant, other)):
        number = phone(20 + i)
        await simulator.set_override(clean, e164=number, outcome="answered", duration_s=3600)
        lead_id = await make_lead(clean, owner, number=number)
        await route_and_dial(ctx, owner.id, lead_id)
        leads.append(lead_id)

    async def answered() -> bool:
        rows = [call for lid in leads for call in await calls_of(clean, lid)]
        return len(rows) == 3 and all(call.status == "in-progress" for call in rows)

    await wait_for(answered)
    async with clean.sessions() as session:
        ended = await service.hangup_active_calls(session, state=clean, tenant_id=tenant.id)
    assert ended == 2
    await wait_for(lambda: _all_final(clean, leads[:2]))
    for lead_id in leads[:2]:
        [call] = await calls_of(clean, lead_id)
        assert call.status == "completed" and call.finalized_at is not None
    [still] = await calls_of(clean, leads[2])
    assert still.status == "in-progress"
    async with clean.sessions() as session:
        assert await service.hangup_active_calls(session, state=clean, tenant_id=None) == 1
    await wait_for(lambda: _all_final(clean, leads))


async def _all_final(state: AppState, leads: list[uuid.UUID]) -> bool:
    for lead_id in leads:
        for call in await calls_of(state, lead_id):
            if call.finalized_at is None:
                return False
    return True


async def test_the_sweeper_requeues_due_work_whose_job_went_missing(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    tenant = await dial_tenant(clean)
    ready = await make_lead(clean, tenant, number=phone(30))
    scheduled = await make_lead(clean, tenant, number=phone(31), priority="high")
    await tasks.route(ctx, tenant_id=str(tenant.id), lead_id=str(scheduled))
    await clean.redis.flushdb()  # Redis lost every job
    report = await dialer.sweep(clean)
    assert (report.routed, report.requeued) == (1, 1)
    assert await clean.queues.job_pending("intake", job_key("lead.route", ready))
    assert await clean.queues.job_pending("high", job_key("lead.dial", scheduled, 1))
    again = await dialer.sweep(clean)  # the jobs are there now: nothing twice
    assert (again.routed, again.requeued) == (0, 0)


async def test_calls_for_lead_lists_the_attempts(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    from leadwire.telephony import service

    tenant = await dial_tenant(clean)
    number = phone(32)
    await simulator.set_override(clean, e164=number, outcome="busy")
    lead_id = await make_lead(clean, tenant, number=number)
    await route_and_dial(ctx, tenant.id, lead_id)
    await carrier.idle()
    async with clean.sessions() as session:
        views = await service.calls_for_lead(session, tenant_id=tenant.id, lead_id=lead_id)
        assert await service.calls_for_lead(session, tenant_id=uuid.uuid4(), lead_id=lead_id) == []
    [view] = views
    assert {"id", "status", "provider_call_id", "outcome", "started_at", "ended_at"} <= set(view)
    assert (view["status"], view["outcome"]) == ("busy", "busy")


async def test_carrier_failures_cut_the_tenants_rate_and_escalate(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    from leadwire.telephony.limits import ADAPT_FACTOR
    from leadwire.telephony.metrics import dialer_metrics
    from leadwire.telephony.runtime import limits_of

    tenant = await dial_tenant(clean)
    for i in range(10):
        number = phone(40 + i)
        await simulator.set_override(clean, e164=number, outcome="failed", error_code=13224)
        lead_id = await make_lead(clean, tenant, number=number)
        await route_and_dial(ctx, tenant.id, lead_id)
    await carrier.idle()
    assert await limits_of(clean).rate_factor(tenant.id) == ADAPT_FACTOR
    escalations = dialer_metrics(clean).escalations.labels("adaptive_rate_cut")._value.get()
    assert escalations >= 1


async def test_settings_changes_take_effect_on_the_next_dial(
    clean: AppState, carrier: SimulatedCarrier, ctx: dict[str, Any]
) -> None:
    from leadwire.tenants import service as tenants_service
    from leadwire.tenants.models import Tenant

    tenant = await dial_tenant(clean)
    first = await make_lead(clean, tenant, number=phone(60))
    await route_and_dial(ctx, tenant.id, first)
    async with session_scope(clean.sessions) as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        await tenants_service.update_settings(
            session,
            tenant=row,
            patch={"caller_ids": ["+17065550111"], "limits": {"calls_per_minute": 2}},
            secret_box=clean.secret_box,
        )
    second = await make_lead(clean, tenant, number=phone(61))
    third = await make_lead(clean, tenant, number=phone(62))
    for lead_id in (second, third):
        await route_and_dial(ctx, tenant.id, lead_id)
    [before] = await calls_of(clean, first)
    [after] = await calls_of(clean, second)
    assert (before.from_number, after.from_number) == ("+14045550100", "+17065550111")
    assert await calls_of(clean, third) == []  # the new limit: two calls this minute
    await carrier.idle()


async def test_the_sweeper_reaches_every_due_lead_however_many_wait(
    clean: AppState, carrier: SimulatedCarrier
) -> None:
    from leadwire.telephony.dialer.common import post_ticket
    from leadwire.tenants.models import Tenant

    tenant = await dial_tenant(clean)
    start = utcnow() - dt.timedelta(minutes=10)
    waiting = []
    for i in range(5):  # on the board, waiting for capacity
        lead_id = await make_lead(
            clean, tenant, number=phone(70 + i), status=LeadStatus.SCHEDULED,
            received_at=start + dt.timedelta(seconds=i),
        )  # fmt: skip
        waiting.append(lead_id)
    lost = await make_lead(
        clean, tenant, number=phone(79), status=LeadStatus.SCHEDULED,
        received_at=start + dt.timedelta(seconds=30),
    )  # fmt: skip
    async with clean.sessions() as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        for lead_id in waiting:
            lead = await session.get(Lead, lead_id)
            assert lead is not None
            await post_ticket(clean, lead=lead, tenant=row, attempt=1, due=utcnow())
    requeued = 0
    for _ in range(3):  # two due leads a sweep: the third sweep reaches the lost one
        requeued += (await dialer.sweep(clean, page=2, pages=1)).requeued
    assert requeued == 1
    assert await clean.queues.job_pending("medium", job_key("lead.dial", lost, 1))
