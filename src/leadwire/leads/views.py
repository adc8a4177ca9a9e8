"""How a lead reads in the tenant API: list entries, the full view, and the list cursor.

The full view has parts owned by areas above leads (compliance's last decision, telephony's
calls). Leads cannot import them, so they plug in at start-up: `state.services["lead_view_parts"]`
is a list of `ViewPart`s, async callables `(session, *, tenant_id, lead_id) -> dict` whose
results are merged into the view. Without them the view says `compliance: null, calls: []`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.leads import repository
from leadwire.leads.models import Lead, LeadEvent, LeadStatus
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.state import AppState

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "VIEW_PARTS",
    "ViewPart",
    "decode_cursor",
    "encode_cursor",
    "lead_detail",
    "lead_list",
    "lead_summary",
    "lead_view",
    "parse_list_query",
]

VIEW_PARTS = "lead_view_parts"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_MAX_CURSOR = 200
_STATUSES = frozenset(s.value for s in LeadStatus)


class ViewPart(Protocol):
    def __call__(
        self, session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
    ) -> Awaitable[dict[str, Any]]: ...


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def lead_summary(lead: Lead) -> dict[str, Any]:
    return {
        "id": str(lead.id),
        "source": lead.source,
        "status": lead.status,
        "reject_reason": lead.reject_reason,
        "priority": lead.priority,
        "phone": lead.phone_e164,
        "name": lead.name,
        "service": lead.service,
        "received_at": _iso(lead.received_at),
        "updated_at": _iso(lead.updated_at),
    }


def lead_view(lead: Lead, events: Sequence[LeadEvent]) -> dict[str, Any]:
    """The lead with its timeline, before the higher areas' parts are merged in."""
    return {
        "id": str(lead.id),
        "source": lead.source,
        "external_id": lead.external_id,
        "status": lead.status,
        "reject_reason": lead.reject_reason,
        "priority": lead.priority,
        "urgency": lead.urgency,
        "phone": lead.phone_e164,
        "phone_raw": lead.phone_raw,
        "phone_info": lead.phone_info,
        "name": lead.name,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "service": lead.service,
        "postal_code": lead.postal_code,
        "state": lead.state,
        "campaign_id": lead.campaign_id,
        "message": lead.message,
        "consent": lead.consent,
        "custom_fields": lead.custom_fields,
        "enrichment": lead.enrichment,
        "outcome": lead.outcome,
        "attempts": lead.attempts,
        "next_action_at": _iso(lead.next_action_at),
        "received_at": _iso(lead.received_at),
        "updated_at": _iso(lead.updated_at),
        "compliance": None,
        "calls": [],
        "timeline": [
            {"id": e.id, "kind": e.kind, "data": e.data, "at": _iso(e.created_at)} for e in events
        ],
    }


async def lead_detail(
    session: AsyncSession, *, state: AppState, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> dict[str, Any] | None:
    """The full view of one of the tenant's leads, or None (unknown, or another tenant's)."""
    lead = await repository.get_lead(session, tenant_id=tenant_id, lead_id=lead_id)
    if lead is None:
        return None
    events = await repository.timeline(session, tenant_id=tenant_id, lead_id=lead_id)
    view = lead_view(lead, events)
    parts: Sequence[ViewPart] = state.services.get(VIEW_PARTS, ())
    for part in parts:
        view.update(await part(session, tenant_id=tenant_id, lead_id=lead_id))
    return view


# --- listing -----------------------------------------------------------------------------------
def encode_cursor(lead: Lead) -> str:
    raw = json.dumps([lead.received_at.isoformat(), str(lead.id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    """The (received_at, id) a cursor stands for; 422 naming `cursor` when it is not one."""
    if len(cursor) > _MAX_CURSOR:
        raise InvalidPayload("is not a cursor this API returned", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, id_text = json.loads(raw)
        at = dt.datetime.fromisoformat(at_text)
        lead_id = uuid.UUID(id_text)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidPayload("is not a cursor this API returned", field="cursor") from None
    if at.tzinfo is None:
        raise InvalidPayload("is not a cursor this API returned", field="cursor")
    return at, lead_id


def parse_list_query(
    params: dict[str, str],
) -> tuple[str | None, tuple[dt.datetime, uuid.UUID] | None, int]:
    """(status, after, limit) from `?status=&cursor=&limit=`; 422 naming the parameter."""
    status = params.get("status") or None
    if status is not None and status not in _STATUSES:
        raise InvalidPayload(
            f"must be one of {', '.join(sorted(_STATUSES))}", field="status", code="invalid_query"
        )
    cursor = params.get("cursor") or None
    after = decode_cursor(cursor) if cursor is not None else None
    limit_text = params.get("limit")
    limit = DEFAULT_LIMIT
    if limit_text:
        if not limit_text.isdecimal() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise InvalidPayload(
                f"must be a whole number from 1 to {MAX_LIMIT}", field="limit", code="invalid_query"
            )
        limit = int(limit_text)
    return status, after, limit


async def lead_list(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    status: str | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> dict[str, Any]:
    rows = await repository.list_leads(
        session, tenant_id=tenant_id, status=status, after=after, limit=limit + 1
    )
    page = list(rows[:limit])
    more = len(rows) > limit
    return {
        "leads": [lead_summary(lead) for lead in page],
        "next_cursor": encode_cursor(page[-1]) if more and page else None,
    }
