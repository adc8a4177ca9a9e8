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

from leadwire.compliance.dnc_store import (
    LOOKUP_SQL,
    DncLookup,
    driver_connection,
    lookup_from_rows,
)
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


# $1-$3 as in LOOKUP_SQL; $4 start of the 24 h window, $5 lead id, $6 the emergency flag's key.
_FACTS = f"""
WITH dnc AS ({LOOKUP_SQL})
SELECT
  (SELECT coalesce(json_agg(json_build_array(kind, name, data_as_of, hit)), '[]'::json)
     FROM dnc) AS dnc,
  (SELECT max(r.revoked_at) FROM consent_revocations r
    WHERE r.tenant_id = $2 AND r.phone = $1) AS revoked_at,
  (SELECT coalesce(json_agg(a.at ORDER BY a.at), '[]'::json) FROM contact_attempts a
    WHERE a.tenant_id = $2 AND a.phone = $1 AND a.at > $4) AS attempts,
  (SELECT count(*) FROM contact_attempts a
    WHERE a.tenant_id = $2 AND a.lead_id = $5) AS lead_attempts,
  (SELECT f.value FROM platform_flags f WHERE f.key = $6) AS emergency,
  (SELECT json_build_array(t.paused_until, t.pause_reason, t.status) FROM tenants t
    WHERE t.id = $2) AS tenant
"""  # noqa: S608 - LOOKUP_SQL is a constant


async def gate_facts(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone: int | None,
    lead_id: uuid.UUID | None,
    cross_tenant: bool,
    now: dt.datetime,
) -> StoredFacts:
    """Everything stored that the gate needs, in one round trip (on the driver's cached
    prepared statement, like `dnc_store.lookup`: it runs before every dial)."""
    raw = await driver_connection(session)
    row = await raw.fetchrow(
        _FACTS, phone, tenant_id, cross_tenant, now - dt.timedelta(hours=24), lead_id, EMERGENCY
    )
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
    # asyncpg hands `json` and `jsonb` columns over as text.
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
