"""Builders for the dialer tests: tenants that may call, leads as intake stores them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from leadwire.leads.models import LeadStatus
from leadwire.leads.repository import FINGERPRINT_WINDOW, _json_default
from leadwire.platform.jobs import job_key
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.helpers import make_tenant

BUSINESS = "Acme HVAC"
CALLER_ID = "+14045550100"
CONSENT_TEXT = (
    f"By clicking Submit, I agree that {BUSINESS} may call me at the number above about my "
    "request, including calls made with an artificial or prerecorded voice or an AI voice. "
    "Consent is not a condition of purchase."
)
# Every day, all day in the callee's time (the federal and state windows still apply; the
# tests move the gate's clock to daytime in Georgia, see `daytime_offset_s`).
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def dial_settings(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "agent": {"business_name": BUSINESS, "voicemail": "Please call us back."},
        "caller_ids": [CALLER_ID],
        "calling_hours": {"start": "08:00", "end": "21:00", "days": ALL_DAYS},
        "dial_delays_s": {"emergency": 0, "high": 0, "medium": 0, "low": 0},
        "limits": {
            "calls_per_minute": 1000,
            "calls_per_hour": 10000,
            "calls_per_day": 10000,
            "concurrent_calls": 100,
            "daily_budget_usd": 1000.0,
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


async def dial_tenant(
    state: AppState, *, slug: str = "acme", plan: str = "enterprise", **overrides: Any
) -> Tenant:
    tenant, _ = await make_tenant(state, slug=slug, plan=plan, settings=dial_settings(**overrides))
    return tenant


def phone(n: int) -> str:
    """A valid Atlanta (GA) number: 8:00-21:00 every day, no state caps."""
    return f"+1404555{n:04d}"


def daytime_offset_s(now: dt.datetime | None = None) -> float:
    """Seconds to add to now so that the gate's clock reads 18:00 UTC (14:00 in Atlanta)."""
    now = now or dt.datetime.now(dt.UTC)
    target = now.replace(hour=18, minute=0, second=0, microsecond=0)
    return (target - now).total_seconds() % 86_400


def consent(now: dt.datetime | None = None) -> dict[str, Any]:
    at = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)
    return {
        "granted": True,
        "text": CONSENT_TEXT,
        "timestamp": at.isoformat(),
        "ip": "203.0.113.7",
        "page_url": "https://acme.example/quote",
    }


_INGEST = text(
    "SELECT lead_id, created FROM leadwire_ingest("
    "CAST(:lead AS jsonb), CAST(:event AS jsonb), :window)"
)


async def ingest(
    conn: AsyncConnection, *, row: dict[str, Any], event: dict[str, Any]
) -> tuple[uuid.UUID, bool]:
    """`leads.repository.ingest`, with the window passed as an interval.

    The function on main passes the window as the text '86400 seconds', which asyncpg refuses
    for an interval parameter (it wants a timedelta); reported to the leads area. Same SQL
    function (`leadwire_ingest`, migration 0002), same row.
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


async def make_lead(
    state: AppState,
    tenant: Tenant,
    *,
    number: str,
    priority: str = "medium",
    status: str = LeadStatus.READY,
    with_consent: bool = True,
    received_at: dt.datetime | None = None,
) -> uuid.UUID:
    """Store a lead the way intake does (`leads.repository.ingest`)."""
    now = received_at or dt.datetime.now(dt.UTC)
    lead_id = uuid.uuid4()
    row: dict[str, Any] = {
        "id": lead_id,
        "tenant_id": tenant.id,
        "source": "api",
        "dedupe_key": f"test:{lead_id}",
        "fingerprint": None,
        "external_id": None,
        "status": status,
        "reject_reason": None,
        "priority": priority,
        "urgency": priority,
        "phone_raw": number,
        "phone_e164": number,
        "phone_info": {},
        "name": "Sarah Johnson",
        "first_name": "Sarah",
        "last_name": "Johnson",
        "email": None,
        "service": "HVAC repair",
        "postal_code": "30303",
        "state": "GA",
        "campaign_id": None,
        "message": None,
        "consent": consent(now) if with_consent else None,
        "custom_fields": {},
        "enrichment": None,
        "raw": None,
        "outcome": None,
        "attempts": 0,
        "next_action_at": now,
        "received_at": now,
        "updated_at": now,
    }
    async with state.engine.begin() as conn:
        stored, created = await ingest(conn, row=row, event={"kind": "lead.received", "data": {}})
    assert created and stored == lead_id
    return lead_id


async def route_job(state: AppState, lead_id: uuid.UUID, tenant: Tenant) -> None:
    """Enqueue `dialer.route` as `leads.process` does once the lead is ready."""
    await state.queues.enqueue(
        "intake",
        "dialer.route",
        job_key=job_key("lead.route", lead_id),
        tenant_id=str(tenant.id),
        lead_id=str(lead_id),
    )


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]
