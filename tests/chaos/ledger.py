"""Reconciling what was acknowledged with what PostgreSQL holds, and what the carrier saw.

"Nothing lost" is checked lead by lead: every lead id a 2xx named is in the database, no lead
is there twice, and each one reached a final state. "No double call" is checked at the carrier:
one call per (lead, attempt) in our records, and exactly as many calls at the carrier to each
number as our records hold attempts for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import select

from leadwire.leads.models import Lead, LeadEvent
from leadwire.platform.queues import intake_queue
from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.models import Call

FINAL = frozenset({"closed", "blocked", "rejected"})


@dataclass(frozen=True)
class LeadRow:
    id: str
    external_id: str | None
    status: str
    outcome: str | None
    attempts: int
    phone: str | None
    next_action_at: dt.datetime | None


async def lead_rows(state: AppState) -> dict[str, LeadRow]:
    async with state.sessions() as session:
        leads = (await session.execute(select(Lead))).scalars().all()
    return {
        str(lead.id): LeadRow(
            str(lead.id),
            lead.external_id,
            lead.status,
            lead.outcome,
            lead.attempts,
            lead.phone_e164,
            lead.next_action_at,
        )
        for lead in leads
    }


async def call_rows(state: AppState) -> list[Call]:
    async with state.sessions() as session:
        return list((await session.execute(select(Call).order_by(Call.started_at))).scalars())


async def describe(state: AppState, ids: Iterable[str]) -> str:
    """Each lead's row, timeline and calls, for a failure message."""
    wanted = [uuid.UUID(i) for i in ids][:10]
    now = dt.datetime.now(dt.UTC)
    lines = []
    async with state.sessions() as session:
        for lead_id in wanted:
            lead = await session.get(Lead, lead_id)
            if lead is None:
                lines.append(f"{lead_id}: missing")
                continue
            due = (lead.next_action_at - now).total_seconds() if lead.next_action_at else None
            lines.append(
                f"{lead_id} {lead.status} attempts={lead.attempts} outcome={lead.outcome} "
                f"due_in={due if due is None else round(due, 1)} s"
            )
            events = await session.execute(
                select(LeadEvent.created_at, LeadEvent.kind, LeadEvent.data)
                .where(LeadEvent.lead_id == lead_id)
                .order_by(LeadEvent.id)
            )
            for at, kind, data in events:
                lines.append(f"   {at:%H:%M:%S.%f} {kind} {str(data)[:160]}")
            lane = intake_queue(lead.priority)
            for queue, key in (
                (lane, f"lead.process:{lead_id}"),
                (lane, f"lead.route:{lead_id}"),
                (lead.priority or "medium", f"lead.dial:{lead_id}:{lead.attempts + 1}"),
            ):
                job = await state.queues[queue].job(key)
                if job is not None:
                    lines.append(
                        f"   job {key}: {job.status} attempts={job.attempts} "
                        f"heartbeat={job.heartbeat} touched_ago={_ago(job.touched)} "
                        f"started_ago={_ago(job.started)} error={(job.error or '')[-80:]!r}"
                    )
            calls = await session.execute(select(Call).where(Call.lead_id == lead_id))
            for call in calls.scalars():
                lines.append(
                    f"   call attempt={call.attempt} status={call.status} "
                    f"sid={call.provider_call_id} lease={call.dial_lease_until} "
                    f"finalized={call.finalized_at}"
                )
    return "\n".join(lines)


def _ago(ms: int) -> float | None:
    return round(time.time() - ms / 1000, 1) if ms else None


def not_final(rows: dict[str, LeadRow], ids: Iterable[str]) -> dict[str, str]:
    """lead id -> status, for the ids that are missing or not final."""
    return {
        lead_id: rows[lead_id].status if lead_id in rows else "missing"
        for lead_id in ids
        if lead_id not in rows or rows[lead_id].status not in FINAL
    }


async def wait_until_final(
    state: AppState,
    ids: Iterable[str],
    *,
    timeout_s: float,
    diagnose: Callable[[], str] = lambda: "",
) -> dict[str, LeadRow]:
    """Poll until every lead in `ids` is final; fail with what is left (and `diagnose()`)."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await lead_rows(state)
        left = not_final(rows, wanted)
        if not left:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(left)} of {len(wanted)} leads not final after {timeout_s:.0f} s: "
                f"{Counter(left.values())}\n{await describe(state, left)}\n{diagnose()}"
            )
        await asyncio.sleep(0.25)


def assert_nothing_lost(acknowledged: dict[str, str], rows: dict[str, LeadRow]) -> None:
    """Every acknowledged lead is stored once, under the id its 2xx named, and nothing else is.

    `acknowledged` maps external_id -> lead_id.
    """
    assert len(set(acknowledged.values())) == len(acknowledged), "two leads acknowledged as one"
    missing = [lead_id for lead_id in acknowledged.values() if lead_id not in rows]
    assert not missing, f"acknowledged but not stored: {missing}"
    by_external = Counter(row.external_id for row in rows.values())
    twice = {ext: n for ext, n in by_external.items() if n > 1}
    assert not twice, f"stored more than once: {twice}"
    extra = {row.external_id for row in rows.values()} - set(acknowledged)
    assert not extra, f"stored but never acknowledged: {sorted(map(str, extra))}"
    for external_id, lead_id in acknowledged.items():
        assert rows[lead_id].external_id == external_id


async def assert_one_call_per_attempt(state: AppState, redis: Redis) -> list[Call]:
    """Our records hold one call per (lead, attempt), each with the carrier's CallSid, and the
    carrier placed exactly those calls: none twice, none we do not know about."""
    calls = await call_rows(state)
    attempts = Counter((call.lead_id, call.attempt) for call in calls)
    assert all(n == 1 for n in attempts.values()), attempts
    placed = await simulator.carrier_calls(redis)
    at_carrier = Counter(call.to for call in placed)
    ours = Counter(call.to_number for call in calls)
    assert at_carrier == ours, f"carrier {at_carrier} vs ours {ours}"
    sids = {call.sid for call in placed}
    assert {call.provider_call_id for call in calls} == sids
    return calls


def ids_of(values: Iterable[str]) -> set[uuid.UUID]:
    return {uuid.UUID(v) for v in values}
