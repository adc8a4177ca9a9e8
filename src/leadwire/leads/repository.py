"""SQL for leads and their timeline. Every query names the tenant."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from leadwire.leads.models import Lead, LeadEvent

FINGERPRINT_WINDOW = dt.timedelta(hours=24)

_INGEST = text(
    "SELECT lead_id, created FROM leadwire_ingest("
    "CAST(:lead AS jsonb), CAST(:event AS jsonb), CAST(:window AS interval))"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


async def ingest(
    conn: AsyncConnection, *, row: dict[str, Any], event: dict[str, Any]
) -> tuple[uuid.UUID, bool]:
    """Store a lead and its first event in one round trip, or find the lead it duplicates.

    `row` names every column of `leads` (see `leadwire_ingest` in migration 0002); returns
    (lead id, created). Runs as one statement, so an AUTOCOMMIT connection commits it.
    """
    result = await conn.execute(
        _INGEST,
        {
            "lead": json.dumps(row, default=_json_default, separators=(",", ":")),
            "event": json.dumps(event, default=_json_default, separators=(",", ":")),
            "window": f"{int(FINGERPRINT_WINDOW.total_seconds())} seconds",
        },
    )
    lead_id, created = result.one()
    return lead_id, created


async def get_lead(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> Lead | None:
    result = await session.execute(
        select(Lead).where(Lead.tenant_id == tenant_id, Lead.id == lead_id)
    )
    return result.scalar_one_or_none()


async def lock_lead(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> Lead | None:
    """The lead, row-locked for this transaction (jobs that change it take this first)."""
    result = await session.execute(
        select(Lead).where(Lead.tenant_id == tenant_id, Lead.id == lead_id).with_for_update()
    )
    return result.scalar_one_or_none()


async def timeline(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID, limit: int = 500
) -> Sequence[LeadEvent]:
    result = await session.execute(
        select(LeadEvent)
        .where(LeadEvent.tenant_id == tenant_id, LeadEvent.lead_id == lead_id)
        .order_by(LeadEvent.id)
        .limit(limit)
    )
    return result.scalars().all()


async def add_event(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    kind: str,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(LeadEvent(tenant_id=tenant_id, lead_id=lead_id, kind=kind, data=data or {}))
    await session.flush()


async def list_leads(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    status: str | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Lead]:
    """Newest first; `after` is the (received_at, id) of the last lead of the previous page."""
    query = select(Lead).where(Lead.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Lead.status == status)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(Lead.received_at < at, and_(Lead.received_at == at, Lead.id < last_id))
        )
    result = await session.execute(
        query.order_by(Lead.received_at.desc(), Lead.id.desc()).limit(limit)
    )
    return result.scalars().all()


async def set_status(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    status: str,
    **values: Any,
) -> None:
    await session.execute(
        update(Lead)
        .where(Lead.tenant_id == tenant_id, Lead.id == lead_id)
        .values(status=status, updated_at=text("now()"), **values)
    )


async def due_leads(
    session: AsyncSession, *, statuses: Sequence[str], before: dt.datetime, limit: int
) -> Sequence[tuple[uuid.UUID, uuid.UUID, str, str, dt.datetime | None]]:
    """(tenant id, lead id, status, priority, next_action_at) of leads whose work is due.

    Used by the sweeper across tenants (it is the only cross-tenant read, by design)."""
    result = await session.execute(
        select(Lead.tenant_id, Lead.id, Lead.status, Lead.priority, Lead.next_action_at)
        .where(Lead.status.in_(statuses), Lead.next_action_at <= before)
        .order_by(Lead.next_action_at)
        .limit(limit)
    )
    return [tuple(row) for row in result.all()]  # type: ignore[misc]
