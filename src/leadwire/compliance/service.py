"""The compliance service: gathers the facts, asks the pure gate, keeps the evidence.

`evaluate` runs before a lead is queued and again right before each dial. It reads what the
gate needs in one statement (`repository.gate_facts`: DNC hits and list ages, the latest
revocation, the attempts ledger, the emergency flag, the tenant's pause), builds `GateFacts`
with the lead, the tenant's plan and settings and the dialer's usage counters, calls
`gate.decide`, and stores the decision with its checks and inputs as a `compliance.decision`
event on the lead's timeline: two statements in all.

Policies decided here (documented in README.md):

* **Opt-outs** (`record_opt_out`, used by the AI agent and `POST /v1/dnc`) put the number on
  the tenant's DNC list and record an append-only revocation at once. A revocation revokes
  every consent given to that tenant before it; a later consent (a new lead with a newer
  consent timestamp) is not revoked, but the number stays blocked while it is on the list.
* **Cross-tenant opt-outs** (`LEADWIRE_CROSS_TENANT_OPTOUT`, default false): every opt-out is
  also written to the platform list; when the setting is on, a number on it is blocked for
  every tenant (`platform_optout`), and switching it on covers past opt-outs too.
* **State lists** consulted for freshness are those of the lead's candidate states; a hit on
  any state list blocks.
* **Tenant pause**: the tenant is paused while `paused_until` is in the future, or when it has
  a `pause_reason` and no `paused_until` (until resumed).
* **Retention**: decision events, revocations and attempts are kept at least 5 years after the
  last call to the number (reference 6.1: TCPA's 4-year limitation period, TSR's 5 years);
  nothing here deletes them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance import dnc_store, repository
from leadwire.compliance.decision import Decision, rfc3339
from leadwire.compliance.dnc_store import DncTarget, age_days
from leadwire.compliance.errors import NotOnDncList
from leadwire.compliance.facts import DncListKind, GatePolicy
from leadwire.compliance.gate import decide
from leadwire.compliance.gather import UsageFacts, gather, tenant_settings
from leadwire.compliance.locate import PhoneFacts, phone_facts
from leadwire.compliance.schemas import CheckRequest, parse_phone, phone_digits
from leadwire.leads import repository as leads_repository
from leadwire.leads.models import Lead, LeadEvent
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant

log = logging.getLogger("leadwire.compliance")

DECISION_EVENT = "compliance.decision"
REGISTRY_MAX_AGE_DAYS = GatePolicy().registry_max_age_days
_NO_PHONE = PhoneFacts(e164=None, valid=False, number_type="UNKNOWN", region=None)


async def evaluate(
    session: AsyncSession,
    *,
    state: AppState,
    tenant: Tenant,
    lead: Lead,
    stage: Literal["queue", "dial"],
    now: dt.datetime,
    usage: UsageFacts | None = None,
    queue_paused: bool = False,
) -> Decision:
    """Decide whether to call `lead` now and store the decision on its timeline.

    `usage` None (stage "queue") skips the budget and daily-cap checks."""
    now = _aware(now)
    phone = phone_facts(lead.phone_e164) if lead.phone_e164 else _NO_PHONE
    cross_tenant = state.settings.cross_tenant_optout
    stored = await repository.gate_facts(
        session,
        tenant_id=tenant.id,
        phone=_digits_or_none(phone),
        lead_id=lead.id,
        cross_tenant=cross_tenant,
        now=now,
    )
    facts, inputs = gather(
        tenant=tenant,
        phone=phone,
        lead_state=lead.state,
        postal_code=lead.postal_code,
        consent=lead.consent,
        stored=stored,
        lead_attempts=max(lead.attempts or 0, stored.lead_attempts),
        usage=usage,
        queue_paused=queue_paused,
        cross_tenant=cross_tenant,
        now=now,
    )
    decision = decide(facts, now=now)
    await leads_repository.add_event(
        session,
        tenant_id=tenant.id,
        lead_id=lead.id,
        kind=DECISION_EVENT,
        data={
            "stage": stage,
            "evaluated_at": rfc3339(now),
            **decision.to_json(),
            "inputs": inputs,
        },
    )
    log.info(
        "compliance decision",
        extra={
            "lead_id": str(lead.id),
            "tenant_id": str(tenant.id),
            "stage": stage,
            "decision": decision.verdict.value,
            "reason": decision.reason,
        },
    )
    return decision


async def check(
    session: AsyncSession,
    *,
    state: AppState,
    tenant: Tenant,
    request: CheckRequest,
    now: dt.datetime,
) -> Decision:
    """The gate as a dry run for a number (`POST /v1/compliance/check`): stores nothing.

    Decides at `request.at` (default `now`) with the tenant's stored facts for the number: its
    DNC lists, revocations and attempts; no lead, so no lead attempts and no budget."""
    at = _aware(request.at or now)
    settings = tenant_settings(tenant)
    e164 = parse_phone(request.phone, region=settings.default_region)
    phone = phone_facts(e164)
    cross_tenant = state.settings.cross_tenant_optout
    stored = await repository.gate_facts(
        session,
        tenant_id=tenant.id,
        phone=phone_digits(e164),
        lead_id=None,
        cross_tenant=cross_tenant,
        now=at,
    )
    facts, _ = gather(
        tenant=tenant,
        phone=phone,
        lead_state=request.state,
        postal_code=request.postal_code,
        consent=(
            request.consent.model_dump(mode="json", exclude_none=True) if request.consent else None
        ),
        stored=stored,
        lead_attempts=0,
        usage=None,
        queue_paused=False,
        cross_tenant=cross_tenant,
        now=at,
    )
    return decide(facts, now=at)


async def record_attempt(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    lead_id: uuid.UUID,
    phone_e164: str,
    at: dt.datetime,
) -> None:
    """Ledger one dial attempt (before the provider is called); idempotent per (lead, at)."""
    await repository.add_attempt(
        session,
        tenant_id=tenant_id,
        lead_id=lead_id,
        phone=phone_digits(phone_e164),
        at=_aware(at),
    )


async def record_opt_out(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone_e164: str,
    source: str,
    detail: dict[str, Any],
) -> None:
    """The person asked not to be called: revoke consent and add the number to the tenant's
    DNC list (and the platform list) at once, in the caller's transaction.

    `source` is the channel (`call`, `dtmf`, `sms`, `api`, ...); `detail` what was said or
    pressed, the call id, ... (kept as evidence, so never anything secret)."""
    await opt_out(session, tenant_id=tenant_id, phone_e164=phone_e164, source=source, detail=detail)


async def opt_out(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone_e164: str,
    source: str,
    detail: dict[str, Any],
) -> bool:
    """`record_opt_out`, answering whether the number was new to the tenant's list."""
    if not source or len(source) > 32:
        raise ValueError("source must be 1-32 characters")
    phone = phone_digits(phone_e164)
    await repository.add_revocation(
        session,
        tenant_id=tenant_id,
        phone=phone,
        channel=source,
        detail=json.loads(json.dumps(detail, default=str)),
    )
    added = await dnc_store.add_number(session, target=DncTarget.tenant(tenant_id), phone=phone)
    await dnc_store.add_number(session, target=DncTarget.platform_optout(), phone=phone)
    log.info("opt-out recorded", extra={"tenant_id": str(tenant_id), "source": source})
    return added


async def remove_from_dnc(session: AsyncSession, *, tenant_id: uuid.UUID, phone_e164: str) -> None:
    """Take a number off the tenant's list (`DELETE /v1/dnc/{phone}`); 404 when it is not on it.

    Revocations stay: consent given before an opt-out remains revoked."""
    removed = await dnc_store.remove_number(
        session, target=DncTarget.tenant(tenant_id), phone=phone_digits(phone_e164)
    )
    if not removed:
        raise NotOnDncList("this number is not on your Do-Not-Call list", field="phone")


async def dnc_health(session: AsyncSession, *, now: dt.datetime) -> dict[str, Any]:
    """Age and freshness of the shared DNC lists, for `/v1/admin/metrics/system-health`.

    A registry list (national or state) is `stale` when its data is more than 31 days old
    (reference 2.1); the gate then holds calls that rely on it."""
    now = _aware(now)
    lists, (tenant_lists, tenant_numbers) = await dnc_store.shared_lists(session)
    entries: list[dict[str, Any]] = []
    for info in lists:
        registry = info.kind in (DncListKind.NATIONAL, DncListKind.STATE)
        age = age_days(info.data_as_of, now)
        entries.append(
            {
                "kind": info.kind.value,
                "name": info.name,
                "source": info.source,
                "loaded_at": rfc3339(info.loaded_at),
                "data_as_of": rfc3339(info.data_as_of),
                "age_days": age,
                "numbers": info.row_count,
                "stale": registry and (age is None or age > REGISTRY_MAX_AGE_DAYS),
            }
        )
    return {
        "max_age_days": REGISTRY_MAX_AGE_DAYS,
        "national_registry_loaded": any(
            entry["kind"] == DncListKind.NATIONAL.value for entry in entries
        ),
        "stale": any(entry["stale"] for entry in entries),
        "lists": entries,
        "tenant_lists": {"lists": tenant_lists, "numbers": tenant_numbers},
    }


def _digits_or_none(phone: PhoneFacts) -> int | None:
    if phone.e164 is None or not phone.valid:
        return None
    return phone_digits(phone.e164)


def _aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(dt.UTC)


async def last_decision(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> dict[str, Any] | None:
    """The lead's most recent gate decision as stored on its timeline (None before the gate)."""
    result = await session.execute(
        select(LeadEvent.data)
        .where(
            LeadEvent.tenant_id == tenant_id,
            LeadEvent.lead_id == lead_id,
            LeadEvent.kind == DECISION_EVENT,
        )
        .order_by(LeadEvent.id.desc())
        .limit(1)
    )
    data = result.scalar_one_or_none()
    return dict(data) if data is not None else None
