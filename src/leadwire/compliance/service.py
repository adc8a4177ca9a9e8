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

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance import dnc_store, repository
from leadwire.compliance.consent import ConsentEvidence
from leadwire.compliance.decision import Decision, rfc3339
from leadwire.compliance.dnc_store import DncTarget, age_days
from leadwire.compliance.errors import NotOnDncList
from leadwire.compliance.facts import (
    Budget,
    DncListKind,
    DncSource,
    GateFacts,
    GatePolicy,
    Hold,
    TenantPolicy,
)
from leadwire.compliance.gate import decide
from leadwire.compliance.locate import PhoneFacts, locate, phone_facts
from leadwire.compliance.repository import StoredFacts
from leadwire.compliance.schemas import CheckRequest, parse_phone, phone_digits
from leadwire.compliance.windows import CallingHours
from leadwire.leads import repository as leads_repository
from leadwire.leads.models import Lead
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from leadwire.tenants.plans import PLANS
from leadwire.tenants.settings_schema import TenantSettings

log = logging.getLogger("leadwire.compliance")

DECISION_EVENT = "compliance.decision"
REGISTRY_MAX_AGE_DAYS = GatePolicy().registry_max_age_days
_NO_PHONE = PhoneFacts(e164=None, valid=False, number_type="UNKNOWN", region=None)
_RULE_FILES = (
    "area_codes.csv",
    "holidays.csv",
    "state_rules.csv",
    "state_zones.csv",
    "zip_prefixes.csv",
)


@dataclass(frozen=True, slots=True)
class UsageFacts:
    """Today's usage as the dialer's counters know it (the tenant's own day)."""

    spent_usd: float
    calls_today: int


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
    facts, inputs = _gather(
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
    settings = _settings(tenant)
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
    facts, _ = _gather(
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


# ---- gathering the facts -----------------------------------------------------------------------


def _gather(
    *,
    tenant: Tenant,
    phone: PhoneFacts,
    lead_state: str | None,
    postal_code: str | None,
    consent: Any,
    stored: StoredFacts,
    lead_attempts: int,
    usage: UsageFacts | None,
    queue_paused: bool,
    cross_tenant: bool,
    now: dt.datetime,
) -> tuple[GateFacts, dict[str, Any]]:
    """GateFacts from the lead, the tenant and the stored facts, plus the inputs to record."""
    settings = _settings(tenant)
    plan = PLANS.get(tenant.plan)
    business_name = settings.agent.business_name or tenant.name
    status = stored.tenant_status or tenant.status
    policy = TenantPolicy(
        business_name=business_name,
        seller_aliases=tuple(n for n in (tenant.name,) if n and n != business_name),
        enabled=status == "active",
        ai_voice_allowed=plan is not None and "ai_voice" in plan.features,
        calling_hours=CallingHours.from_settings(settings.calling_hours.model_dump()),
        consent_required=settings.consent.required,
        max_attempts_per_lead=settings.limits.max_attempts_per_lead,
        has_caller_id=bool(settings.caller_ids),
        # The platform speaks the fixed disclosure (identity, AI voice, opt-out) itself; it
        # needs the business's name to do so.
        has_disclosure_script=bool(settings.agent.business_name),
    )
    evidence = _consent(consent, revoked_at=stored.revoked_at, now=now)
    resets_at = _next_midnight(now, ZoneInfo(settings.timezone))
    budget = (
        Budget(resets_at=resets_at)
        if usage is None
        else Budget(
            resets_at=resets_at,
            spent_usd=usage.spent_usd,
            daily_budget_usd=settings.limits.daily_budget_usd,
            calls_today=usage.calls_today,
            calls_per_day=min(
                settings.limits.calls_per_day,
                plan.max_calls_per_day if plan else settings.limits.calls_per_day,
            ),
        )
    )
    sources = _relevant_sources(
        stored.dnc.sources, phone=phone, lead_state=lead_state, postal_code=postal_code
    )
    facts = GateFacts(
        phone=phone,
        tenant=policy,
        budget=budget,
        lead_state=lead_state,
        lead_postal_code=postal_code,
        consent=evidence,
        dnc_hits=stored.dnc.hits,
        dnc_sources=sources,
        number_attempts=stored.number_attempts,
        lead_attempts=lead_attempts,
        emergency=_emergency(stored.emergency),
        tenant_pause=(
            Hold(active=True, until=stored.paused_until, reason=stored.pause_reason)
            if stored.paused_until is not None or stored.pause_reason is not None
            else Hold()
        ),
        queue_paused=queue_paused,
    )
    inputs = {
        "rules_version": rules_version(),
        "tenant": {"plan": tenant.plan, "status": status, "business_name": business_name},
        "phone": {"area_code": phone.area_code, "number_type": phone.number_type},
        "lead": {"state": lead_state, "postal_code": postal_code, "attempts": lead_attempts},
        "consent": {
            "present": evidence is not None,
            "latest_revocation_at": rfc3339(stored.revoked_at),
            "revocation_applies": evidence is not None and evidence.revoked_at is not None,
        },
        "dnc": {
            "cross_tenant_optout": cross_tenant,
            "hits": [
                {"kind": hit.list_kind.value, "name": hit.list_name} for hit in stored.dnc.hits
            ],
            "lists": [
                {
                    "kind": source.list_kind.value,
                    "name": source.list_name,
                    "data_as_of": rfc3339(
                        stored.dnc.as_of.get(f"{source.list_kind.value}:{source.list_name}")
                    ),
                    "data_age_days": source.data_age_days,
                }
                for source in sources
            ],
        },
        "number_attempts_24h": [rfc3339(at) for at in stored.number_attempts],
        "usage": dataclasses.asdict(usage) if usage is not None else None,
    }
    return facts, inputs


def _settings(tenant: Tenant) -> TenantSettings:
    return TenantSettings.model_validate(tenant.settings or {})


def _consent(
    payload: Any, *, revoked_at: dt.datetime | None, now: dt.datetime
) -> ConsentEvidence | None:
    """The lead's consent, revoked by a revocation recorded at or after it was given."""
    if not isinstance(payload, Mapping):
        return None
    evidence = ConsentEvidence.from_payload(_consent_fields(payload))
    if evidence is None or revoked_at is None:
        return evidence
    if evidence.timestamp is not None and revoked_at < evidence.timestamp:
        return evidence  # consent given again after the revocation
    # A recorded revocation is in force now, whatever instant the caller decides for.
    return dataclasses.replace(evidence, revoked_at=min(revoked_at, now))


def _consent_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Map the lead's consent keys (leads.canonical) onto what `ConsentEvidence` reads."""
    fields = dict(payload)
    if not fields.get("text") and isinstance(fields.get("disclaimer_text"), str):
        fields["text"] = fields["disclaimer_text"]
    seller = fields.get("seller")
    if isinstance(seller, str) and seller:
        fields["seller_names"] = [*(fields.get("seller_names") or []), seller]
    return fields


def _relevant_sources(
    sources: tuple[DncSource, ...],
    *,
    phone: PhoneFacts,
    lead_state: str | None,
    postal_code: str | None,
) -> tuple[DncSource, ...]:
    """The national list and the state lists of the lead's candidate states (their age can
    hold a call); other states' lists were searched for hits but do not hold calls."""
    states = {
        candidate.state
        for candidate in locate(phone=phone, state=lead_state, postal_code=postal_code).candidates
        if candidate.state
    }
    return tuple(
        source
        for source in sources
        if source.list_kind is DncListKind.NATIONAL
        or (source.list_kind is DncListKind.STATE and source.list_name in states)
    )


def _emergency(value: Mapping[str, Any] | None) -> Hold:
    if not value:
        return Hold()
    until = value.get("until")
    return Hold(
        active=True,
        until=dt.datetime.fromisoformat(until) if until else None,
        reason=value.get("reason"),
    )


def _next_midnight(now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The start of the tenant's next calendar day, when daily counters reset."""
    tomorrow = now.astimezone(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _digits_or_none(phone: PhoneFacts) -> int | None:
    if phone.e164 is None or not phone.valid:
        return None
    return phone_digits(phone.e164)


def _aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(dt.UTC)


@functools.cache
def rules_version() -> str:
    """A short hash of the shipped rule tables: which rules a stored decision was made with."""
    digest = hashlib.sha256()
    folder = resources.files("leadwire.compliance.data")
    for name in _RULE_FILES:
        digest.update(name.encode())
        digest.update(folder.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]
