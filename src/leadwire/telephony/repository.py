"""SQL for calls and call events. Every tenant query names the tenant.

Callbacks identify a call by its CallSid only (Twilio knows nothing of our tenants); those
lookups go through `lock_call_by_sid` under a transaction-scoped advisory lock on the CallSid,
which also serializes them with the dialer storing that CallSid, so a callback that arrives
before the CallSid is stored is either applied by the dialer or finds the call itself.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.leads.models import Lead, LeadStatus
from leadwire.telephony.models import Call, CallEvent

_LOCK_SID = text("SELECT pg_advisory_xact_lock(hashtextextended(:sid, 5200))")


async def lock_sid(session: AsyncSession, sid: str) -> None:
    await session.execute(_LOCK_SID, {"sid": sid})


async def get_call(
    session: AsyncSession, *, tenant_id: uuid.UUID, call_id: uuid.UUID
) -> Call | None:
    result = await session.execute(
        select(Call).where(Call.tenant_id == tenant_id, Call.id == call_id)
    )
    return result.scalar_one_or_none()


async def lock_call(session: AsyncSession, call_id: uuid.UUID) -> Call | None:
    """A call by id alone (Twilio's voice URL carries our call id, signed), row-locked."""
    result = await session.execute(select(Call).where(Call.id == call_id).with_for_update())
    return result.scalar_one_or_none()


async def lock_call_by_sid(session: AsyncSession, sid: str) -> Call | None:
    result = await session.execute(
        select(Call).where(Call.provider_call_id == sid).with_for_update()
    )
    return result.scalar_one_or_none()


async def call_for_attempt(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID, attempt: int
) -> Call | None:
    result = await session.execute(
        select(Call)
        .where(Call.tenant_id == tenant_id, Call.lead_id == lead_id, Call.attempt == attempt)
        .with_for_update()
    )
    return result.scalar_one_or_none()


async def calls_for_lead(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> Sequence[Call]:
    result = await session.execute(
        select(Call)
        .where(Call.tenant_id == tenant_id, Call.lead_id == lead_id)
        .order_by(Call.attempt)
    )
    return result.scalars().all()


async def add_event(
    session: AsyncSession,
    *,
    call_id: uuid.UUID | None,
    tenant_id: uuid.UUID | None,
    provider_call_id: str | None,
    kind: str,
    params: list[list[str]],
    signature_valid: bool,
    sequence_number: int | None = None,
    effect: str | None = None,
) -> None:
    """Store one callback as received: one INSERT, no ORM object (a callback's transaction
    writes the call's row and this one, thousands of times a minute at scale)."""
    await session.execute(
        insert(CallEvent).values(
            call_id=call_id,
            tenant_id=tenant_id,
            provider_call_id=provider_call_id,
            kind=kind,
            params=params,
            signature_valid=signature_valid,
            sequence_number=sequence_number,
            effect=effect,
        )
    )


async def unlinked_events(session: AsyncSession, sid: str) -> Sequence[CallEvent]:
    """Callbacks stored before their CallSid was known to us, oldest first."""
    result = await session.execute(
        select(CallEvent)
        .where(CallEvent.provider_call_id == sid, CallEvent.call_id.is_(None))
        .order_by(CallEvent.id)
        .with_for_update()
    )
    return result.scalars().all()


async def events_of(session: AsyncSession, *, call_id: uuid.UUID) -> Sequence[CallEvent]:
    result = await session.execute(
        select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
    )
    return result.scalars().all()


async def live_calls(session: AsyncSession, *, tenant_id: uuid.UUID | None) -> Sequence[Call]:
    """Calls the provider has and that have not ended."""
    query = select(Call).where(Call.finalized_at.is_(None), Call.provider_call_id.is_not(None))
    if tenant_id is not None:
        query = query.where(Call.tenant_id == tenant_id)
    result = await session.execute(query.order_by(Call.started_at))
    return result.scalars().all()


async def attempts_to_number(
    session: AsyncSession, *, tenant_id: uuid.UUID, phone_e164: str, since: dt.datetime
) -> list[dt.datetime]:
    result = await session.execute(
        select(Call.started_at).where(
            Call.tenant_id == tenant_id,
            Call.to_number == phone_e164,
            Call.started_at >= since,
        )
    )
    return list(result.scalars().all())


async def due_leads(
    session: AsyncSession,
    *,
    before: dt.datetime,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
) -> Sequence[Any]:
    """Leads whose dialer work is due, across tenants (the sweeper's read, by design),
    in (next_action_at, id) order from just after `after`."""
    query = select(
        Lead.tenant_id,
        Lead.id,
        Lead.status,
        Lead.priority,
        Lead.attempts,
        Lead.next_action_at,
    ).where(
        Lead.status.in_([LeadStatus.READY, LeadStatus.SCHEDULED, LeadStatus.DIALING]),
        Lead.next_action_at <= before,
    )
    if after is not None:
        query = query.where(tuple_(Lead.next_action_at, Lead.id) > tuple_(*after))
    result = await session.execute(query.order_by(Lead.next_action_at, Lead.id).limit(limit))
    return result.all()


async def open_call_counts(session: AsyncSession) -> dict[uuid.UUID, int]:
    result = await session.execute(
        select(Call.tenant_id, func.count())
        .where(Call.finalized_at.is_(None))
        .group_by(Call.tenant_id)
    )
    return {tenant_id: int(count) for tenant_id, count in result.all()}
