"""SQL for the gate's facts, consent revocations and the attempts ledger.

`gate_facts` reads, in one statement, everything the gate needs from the database about one
(tenant, number, lead): DNC hits and registry ages, the latest revocation, the attempts of the
last 24 hours, the lead's attempts, the emergency flag and the tenant's pause. Every query
names the tenant.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance.dnc_store import LOOKUP_SQL, DncLookup, lookup_from_rows
from leadwire.compliance.models import ConsentRevocation
from leadwire.platform.flags import EMERGENCY


@dataclass(frozen=True, slots=True)
class StoredFacts:
    dnc: DncLookup
    revoked_at: dt.datetime | None
    number_attempts: tuple[dt.datetime, ...]  # this tenant's attempts to the number, last 24 h
    lead_attempts: int  # the lead's attempts in the ledger, over its life
    emergency: dict[str, Any] | None  # the raw `platform_flags` value, when set
    paused_until: dt.datetime | None
    pause_reason: str | None
    tenant_status: str | None


_FACTS = text(
    f"""
WITH dnc AS ({LOOKUP_SQL})
SELECT
  (SELECT coalesce(json_agg(json_build_array(kind, name, data_as_of, hit)), '[]'::json)
     FROM dnc) AS dnc,
  (SELECT max(r.revoked_at) FROM consent_revocations r
    WHERE r.tenant_id = :tenant_id AND r.phone = :phone) AS revoked_at,
  (SELECT coalesce(json_agg(a.at ORDER BY a.at), '[]'::json) FROM contact_attempts a
    WHERE a.tenant_id = :tenant_id AND a.phone = :phone AND a.at > :since) AS attempts,
  (SELECT count(*) FROM contact_attempts a
    WHERE a.tenant_id = :tenant_id AND a.lead_id = :lead_id) AS lead_attempts,
  (SELECT f.value FROM platform_flags f WHERE f.key = :emergency_key) AS emergency,
  (SELECT json_build_array(t.paused_until, t.pause_reason, t.status) FROM tenants t
    WHERE t.id = :tenant_id) AS tenant
"""  # noqa: S608 - LOOKUP_SQL is a constant
)


async def gate_facts(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone: int | None,
    lead_id: uuid.UUID | None,
    cross_tenant: bool,
    now: dt.datetime,
) -> StoredFacts:
    """Everything stored that the gate needs, in one round trip."""
    row = (
        await session.execute(
            _FACTS,
            {
                "tenant_id": tenant_id,
                "phone": phone,
                "lead_id": lead_id,
                "cross_tenant": cross_tenant,
                "since": now - dt.timedelta(hours=24),
                "emergency_key": EMERGENCY,
            },
        )
    ).one()
    dnc_rows, revoked_at, attempts, lead_attempts, emergency, tenant = row
    paused_until, pause_reason, status = _loads(tenant) or (None, None, None)
    return StoredFacts(
        dnc=lookup_from_rows(_loads(dnc_rows), now=now),
        revoked_at=revoked_at,
        number_attempts=tuple(dt.datetime.fromisoformat(at) for at in _loads(attempts)),
        lead_attempts=int(lead_attempts),
        emergency=_loads(emergency),
        paused_until=dt.datetime.fromisoformat(paused_until) if paused_until else None,
        pause_reason=pause_reason,
        tenant_status=status,
    )


def _loads(value: Any) -> Any:
    # asyncpg hands `json` columns over as text.
    return json.loads(value) if isinstance(value, str) else value


async def add_revocation(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone: int,
    channel: str,
    detail: dict[str, Any],
) -> None:
    session.add(ConsentRevocation(tenant_id=tenant_id, phone=phone, channel=channel, detail=detail))
    await session.flush()


_ATTEMPT = text(
    "INSERT INTO contact_attempts (tenant_id, lead_id, phone, at) "
    "VALUES (:tenant_id, :lead_id, :phone, :at) ON CONFLICT (lead_id, at) DO NOTHING"
)


async def add_attempt(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    phone: int,
    at: dt.datetime,
) -> None:
    """Record one attempt; the same (lead, instant) twice is recorded once."""
    await session.execute(
        _ATTEMPT, {"tenant_id": tenant_id, "lead_id": lead_id, "phone": phone, "at": at}
    )
