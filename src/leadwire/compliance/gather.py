"""From what is stored to what the gate decides from: `GateFacts`, plus the inputs to record.

Pure: the service reads the rows (`repository.gate_facts`) and the lead; this module turns them,
with the tenant's plan and settings, into the gate's facts. The choices it makes are listed in
`service`'s docstring.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from leadwire.compliance.consent import ConsentEvidence
from leadwire.compliance.decision import rfc3339
from leadwire.compliance.facts import Budget, DncListKind, DncSource, GateFacts, Hold, TenantPolicy
from leadwire.compliance.locate import PhoneFacts, locate
from leadwire.compliance.repository import StoredFacts
from leadwire.compliance.windows import CallingHours
from leadwire.tenants.models import Tenant
from leadwire.tenants.plans import PLANS
from leadwire.tenants.service import effective_settings
from leadwire.tenants.settings_schema import TenantSettings

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


def gather(
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
    settings = tenant_settings(tenant)
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
    evidence = consent_evidence(
        consent, revoked_at=stored.revoked_at, now=now, form_language=settings.consent.language
    )
    resets_at = next_midnight(now, ZoneInfo(settings.timezone))
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


def tenant_settings(tenant: Tenant) -> TenantSettings:
    return effective_settings(tenant)


def consent_evidence(
    payload: Any,
    *,
    revoked_at: dt.datetime | None,
    now: dt.datetime,
    form_language: str | None = None,
) -> ConsentEvidence | None:
    """The lead's consent, revoked by a revocation recorded at or after it was given.

    Ad-platform lead forms (Meta) report only which consent checkboxes were ticked; the words
    next to the box are the disclaimer the tenant configured on its forms, which the tenant
    records as `consent.language`. A ticked box with no text of its own takes that language.
    """
    if not isinstance(payload, Mapping):
        return None
    evidence = ConsentEvidence.from_payload(_consent_fields(payload, form_language))
    if evidence is None or revoked_at is None:
        return evidence
    if evidence.timestamp is not None and revoked_at < evidence.timestamp:
        return evidence  # consent given again after the revocation
    # A recorded revocation is in force now, whatever instant the caller decides for.
    return dataclasses.replace(evidence, revoked_at=min(revoked_at, now))


def _consent_fields(payload: Mapping[str, Any], form_language: str | None) -> dict[str, Any]:
    """Map the lead's consent keys (leads.canonical) onto what `ConsentEvidence` reads."""
    fields = dict(payload)
    if not fields.get("text") and isinstance(fields.get("disclaimer_text"), str):
        fields["text"] = fields["disclaimer_text"]
    ticked = [
        r
        for r in fields.get("disclaimer_responses") or ()
        if isinstance(r, Mapping) and r.get("is_checked") in (True, "1", "true")
    ]
    if ticked and fields.get("granted") is None:
        fields["granted"] = True
        if not fields.get("text") and form_language:
            fields["text"] = form_language
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


def next_midnight(now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The start of the tenant's next calendar day, when daily counters reset."""
    tomorrow = now.astimezone(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


@functools.cache
def rules_version() -> str:
    """A short hash of the shipped rule tables: which rules a stored decision was made with."""
    digest = hashlib.sha256()
    folder = resources.files("leadwire.compliance.data")
    for name in _RULE_FILES:
        digest.update(name.encode())
        digest.update(folder.joinpath(name).read_bytes())
    return digest.hexdigest()[:16]
