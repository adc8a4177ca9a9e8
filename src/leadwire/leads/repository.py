"""SQL for leads and their timeline. Every query names the tenant."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
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
            "window": FINGERPRINT_WINDOW,
        },
    )
    lead_id, created = result.one()
    return lead_id, created


# Sent straight to asyncpg (see `ingest_many`): parameters are text, cast by the server.
_INGEST_ONE = (
    "SELECT lead_id, created, status FROM leadwire_ingest($1::text::jsonb, $2::text::jsonb, $3)"
)
_INGEST_BATCH = (
    "SELECT ord, lead_id, created, status FROM leadwire_ingest_batch("
    "$1::text::jsonb, $2::text::jsonb, $3)"
)
# asyncpg infers `CAST(:window AS interval)` as an interval parameter: it takes a timedelta.
_WINDOW = FINGERPRINT_WINDOW


@dataclass(frozen=True, slots=True)
class Ingested:
    """What `leadwire_ingest` answered for one lead: its id (the first lead's on a
    redelivery), whether this call stored it, and its current status."""

    lead_id: uuid.UUID
    created: bool
    status: str


def _scrub(value: Any) -> Any:
    """JSON data PostgreSQL can store: no NUL characters (jsonb and text refuse them) and no
    lone UTF-16 surrogates (not encodable as UTF-8), which a JSON body may legally carry."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def dumps_for_postgres(value: Any) -> str:
    """`value` as JSON text PostgreSQL's jsonb accepts (see `_scrub`); the common case costs
    one `json.dumps` and two scans of its output."""
    encoded = json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)
    if "\\u0000" in encoded or not _utf8_encodable(encoded):
        encoded = json.dumps(
            _scrub(value), default=_json_default, separators=(",", ":"), ensure_ascii=False
        )
    return encoded


def _utf8_encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def ingest_many(
    conn: AsyncConnection, *, rows: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]]
) -> list[Ingested]:
    """Store several leads (each with its first event) or find their duplicates, in one
    statement: one round trip and one transaction (`conn` must have no transaction open).

    Each row follows `leadwire_ingest` (migration 0400): keys are columns of `leads`; missing
    ones take the function's defaults. Results come back in the order of `rows`.
    """
    if len(rows) != len(events):
        raise ValueError("one event per row")
    # The intake's one round trip goes to the driver directly: SQLAlchemy's execute machinery
    # (compilation cache, greenlet hop, result wrapping) costs about as much CPU as building
    # the lead, for a statement that never changes. The pool, the connection and its
    # transaction state stay SQLAlchemy's (no transaction is open: the statement autocommits).
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if len(rows) == 1:
        record = await driver.fetchrow(
            _INGEST_ONE, dumps_for_postgres(rows[0]), dumps_for_postgres(events[0]), _WINDOW
        )
        return [Ingested(record["lead_id"], record["created"], record["status"])]
    records = await driver.fetch(
        _INGEST_BATCH, dumps_for_postgres(list(rows)), dumps_for_postgres(list(events)), _WINDOW
    )
    found = sorted(records, key=lambda r: int(r["ord"]))
    return [Ingested(r["lead_id"], r["created"], r["status"]) for r in found]


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
    """Add a timeline event; it is written with the transaction's next flush (at commit at the
    latest), in the order events were added (sessions do not autoflush: a query in the same
    transaction does not see it)."""
    session.add(LeadEvent(tenant_id=tenant_id, lead_id=lead_id, kind=kind, data=data or {}))


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


async def count_events(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID, kind: str
) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(LeadEvent)
        .where(
            LeadEvent.tenant_id == tenant_id, LeadEvent.lead_id == lead_id, LeadEvent.kind == kind
        )
    )
    return int(result.scalar_one())


async def update_if_status(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    status: str,
    new_status: str | None = None,
    **values: Any,
) -> bool:
    """Set columns of a lead (and its status to `new_status`, if given) only while it has
    `status`: one statement, and the row stays locked for the rest of the transaction. True
    if it had."""
    if new_status is not None:
        values["status"] = new_status
    result = await session.execute(
        update(Lead)
        .where(Lead.tenant_id == tenant_id, Lead.id == lead_id, Lead.status == status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def update_lead(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID, **values: Any
) -> None:
    """Set columns of one of the tenant's leads (and `updated_at`)."""
    await session.execute(
        update(Lead)
        .where(Lead.tenant_id == tenant_id, Lead.id == lead_id)
        .values(updated_at=text("now()"), **values)
    )


async def due_leads(
    session: AsyncSession,
    *,
    statuses: Sequence[str],
    before: dt.datetime,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
) -> Sequence[tuple[uuid.UUID, uuid.UUID, str, str, dt.datetime | None]]:
    """(tenant id, lead id, status, priority, next_action_at) of leads whose work is due,
    oldest due first; `after` is the (next_action_at, id) of the last row of the previous page.

    Used by the sweeper across tenants (it is the only cross-tenant read, by design)."""
    query = select(Lead.tenant_id, Lead.id, Lead.status, Lead.priority, Lead.next_action_at).where(
        Lead.status.in_(statuses), Lead.next_action_at <= before
    )
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(Lead.next_action_at > at, and_(Lead.next_action_at == at, Lead.id > last_id))
        )
    result = await session.execute(query.order_by(Lead.next_action_at, Lead.id).limit(limit))
    return [tuple(row) for row in result.all()]  # type: ignore[misc]
