"""`leads.process`: complete, enrich and prioritize a stored lead, then hand it to the dialer.

    pending_fetch --fetch ok--> (normalize again) --phone unusable--> rejected / invalid_phone
         |                             |
         +--fetch failed--> pending_fetch, next_action_at = retry time, re-queued at that time
                                       v
    accepted ------------------> enrich, priority --> ready, next_action_at = now
                                                       --> `dialer.route` (queue intake, by name)

Ids-only deliveries (Meta leadgen, HubSpot contact events) are completed from the provider's
API with the tenant's token (`leads.fetchers`). A failed fetch never loses the lead and never
reaches the provider: the lead stays `pending_fetch`, the failure is a timeline event, and the
job runs again after `platform.retry.backoff_delay` (5 s doubling up to 30 min, never giving up:
Meta keeps leads retrievable for 90 days; a token the tenant must fix is retried at the cap).

Enrichment: `state.services["enricher"]`, when an area registered one, is an object with
`async enrich(lead_data: dict) -> dict` (the lead's own words, never its phone or email); its
`priority` (or `urgency`) may raise the priority above an explicit one, never lower it. Without
an enricher, or when it fails, the deterministic `leads.urgency` decides.

The job is idempotent: it re-reads the lead, does nothing unless the lead still waits for it,
and writes under a row lock after re-checking the status. A lead that came with its fields,
when enrichment asks nobody outside (no enricher, or the local one), is read, decided and
written in one transaction under that lock; a fetch, or an enricher that calls out (Gemini),
runs between a read and the locked write instead, so no lock is held across an outside call.

Telephony is above leads: the hand-off is the task NAME `dialer.route`, never an import.
When the composition root registered a router (`state.services["lead_router"]`, the dialer's
`route_locked`), the job routes the ready lead in the same transaction that makes it ready: one
commit, no queue hop and no route job per lead. If the router fails, that transaction is rolled
back and the lead is stored ready with its route job queued, as without a router (if the process
dies after the commit and before the enqueue, the sweeper queues it: the lead is `ready` with
`next_action_at` = now).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.leads import fetchers, repository
from leadwire.leads.batching import PROCESS_TASK, process_lane
from leadwire.leads.canonical import (
    ConsentEvidence,
    InboundLead,
    LeadUpdate,
    Urgency,
    apply_update,
)
from leadwire.leads.models import Lead, LeadStatus
from leadwire.leads.normalize import NormalizedLead, normalize
from leadwire.leads.records import lead_columns
from leadwire.leads.tenancy import IntakeTenant, tenant_by_id
from leadwire.leads.urgency import UrgencyResult, urgency_of
from leadwire.platform.classify import classify
from leadwire.platform.db import utcnow
from leadwire.platform.errors import ErrorClass, ExternalServiceError, LeadwireError
from leadwire.platform.jobs import AfterCommit, enqueue_after_commit, job_key, unit_of_work
from leadwire.platform.observability import lead_id_var, tenant_id_var
from leadwire.platform.queues import intake_queue
from leadwire.platform.retry import backoff_delay
from leadwire.platform.state import AppState

__all__ = [
    "ENRICHER",
    "FETCH_BASE_S",
    "FETCH_CAP_S",
    "ROUTE_TASK",
    "SourceNotConfigured",
    "decide_priority",
    "enrichment_input",
    "fetch_update",
    "inbound_of",
    "process",
    "retry_job_key",
    "route_job_key",
]

log = logging.getLogger("leadwire.leads")

ROUTE_TASK = "dialer.route"
ENRICHER = "enricher"
ROUTER = "lead_router"


class LeadRouter(Protocol):
    """The dialer's route step for a lead the caller made ready and holds row-locked, in the
    caller's transaction; returns what to run after the commit (posting to the board)."""

    def __call__(
        self, state: AppState, session: AsyncSession, lead: Lead, /, *, now: datetime
    ) -> Awaitable[AfterCommit | None]: ...


FETCH_BASE_S = 5.0
FETCH_CAP_S = 1800.0
FETCH_JITTER = 0.25
ESCALATE_AFTER = 8
"""Fetch failures after which every further one is logged as an error (for a human)."""

FETCH_FAILED = "lead.fetch_failed"
_WAITING = frozenset({LeadStatus.PENDING_FETCH.value, LeadStatus.ACCEPTED.value})
_META_INVALID_PARAMETER = 100
_rng = random.Random()


class SourceNotConfigured(LeadwireError):
    """The tenant has no token to fetch this source's leads with (the tenant must add it)."""

    status_code = 409
    code = "source_not_configured"
    error_class = ErrorClass.BUSINESS


def route_job_key(lead_id: uuid.UUID | str) -> str:
    return job_key("lead.route", lead_id)


def retry_job_key(lead_id: uuid.UUID | str, at: datetime) -> str:
    """The key of a fetch retry scheduled at `at` (the running job still holds the plain key,
    so SAQ would refuse a second job under it). The sweeper derives it from `next_action_at`."""
    return job_key("lead.process", lead_id, "at", int(at.timestamp()))


def _ctx_state(ctx: Mapping[str, Any]) -> AppState:
    state: AppState = ctx["state"]
    return state


# --- pure parts --------------------------------------------------------------------------------
def inbound_of(lead: Lead) -> InboundLead:
    """A stored lead as an adapter's lead again, to merge fetched fields and normalize anew."""
    custom = {k: v for k, v in (lead.custom_fields or {}).items() if k != "_unnormalized"}
    return InboundLead(
        source=lead.source,
        natural_key=lead.dedupe_key,
        external_id=lead.external_id,
        name=lead.name,
        first_name=lead.first_name,
        last_name=lead.last_name,
        phone=lead.phone_raw,
        email=lead.email,
        service=lead.service,
        urgency=_level(lead.urgency),
        postal_code=lead.postal_code,
        state=lead.state,
        campaign_id=lead.campaign_id,
        message=lead.message,
        consent=ConsentEvidence.model_validate(lead.consent) if lead.consent else None,
        custom_fields=custom,
        needs_fetch=lead.status == LeadStatus.PENDING_FETCH.value,
        raw=lead.raw,
    )


def enrichment_input(lead: NormalizedLead) -> dict[str, Any]:
    """What an enricher may read: the lead's own words and place, never its phone or email."""
    return {
        "name": lead.name,
        "service": lead.service,
        "message": lead.message,
        "urgency": lead.urgency.value if lead.urgency is not None else None,
        "postal_code": lead.postal_code,
        "state": lead.state,
        "campaign_id": lead.campaign_id,
        "custom_fields": dict(lead.custom_fields),
    }


def _level(value: Any) -> Urgency | None:
    if isinstance(value, str) and value.lower() in {u.value for u in Urgency}:
        return Urgency(value.lower())
    return None


@dataclass(frozen=True, slots=True)
class PriorityDecision:
    priority: Urgency
    reason: str


def decide_priority(
    *, rules: UrgencyResult, explicit: Urgency | None, enrichment: Mapping[str, Any] | None
) -> PriorityDecision:
    """The dial priority: the enricher's `priority` (else `urgency`) when it gave a level, else
    the rules' level; an explicit urgency from the payload is a floor (never lowered)."""
    enriched = None
    if enrichment is not None:
        enriched = _level(enrichment.get("priority")) or _level(enrichment.get("urgency"))
    if enriched is None:
        return PriorityDecision(rules.level, f"rules ({rules.source})")
    if explicit is not None and explicit.rank >= enriched.rank:
        return PriorityDecision(explicit, "explicit urgency (enrichment does not lower it)")
    return PriorityDecision(enriched, "enrichment")


# --- I/O parts ---------------------------------------------------------------------------------
async def fetch_update(state: AppState, tenant: IntakeTenant, lead: Lead) -> LeadUpdate:
    """The lead's fields from its provider's API. Raises `ExternalServiceError` (the provider
    failed), `SourceNotConfigured` (no token), `InvalidPayload` (no usable id)."""
    ref = lead.external_id or ""
    if lead.source == "meta":
        creds = tenant.source("meta")
        token = creds.page_access_token if creds is not None else None
        if token is None or not token.get_secret_value():
            raise SourceNotConfigured("the tenant has no Meta page access token")
        try:
            return await fetchers.fetch_meta_lead(
                state.http,
                leadgen_id=ref,
                page_access_token=token.get_secret_value(),
                with_consent=True,
                base_url=state.settings.meta_graph_base,
            )
        except ExternalServiceError as exc:
            # A token without the permission for the disclaimer answers is refused with
            # "invalid parameter": the lead's answers are still worth having.
            if exc.http_status != 400 or exc.provider_code != _META_INVALID_PARAMETER:
                raise
        return await fetchers.fetch_meta_lead(
            state.http,
            leadgen_id=ref,
            page_access_token=token.get_secret_value(),
            base_url=state.settings.meta_graph_base,
        )
    if lead.source == "hubspot":
        creds = tenant.source("hubspot")
        token = creds.access_token if creds is not None else None
        if token is None or not token.get_secret_value():
            raise SourceNotConfigured("the tenant has no HubSpot access token")
        return await fetchers.fetch_hubspot_contact(
            state.http,
            object_id=ref,
            access_token=token.get_secret_value(),
            base_url=state.settings.hubspot_api_base,
        )
    raise SourceNotConfigured(f"leads from {lead.source} cannot be fetched")


async def _enrich(
    state: AppState, lead: NormalizedLead
) -> tuple[dict[str, Any] | None, str | None]:
    """(the enricher's answer as a dict, None) or (None, why it was not used)."""
    enricher = state.services.get(ENRICHER)
    if enricher is None:
        return None, None
    try:
        answer = await enricher.enrich(enrichment_input(lead))
    except Exception as exc:  # an outside component: its failure must not stop the lead
        state.metrics.ai_failures.labels("enricher", type(exc).__name__).inc()
        log.warning("enricher failed; rules decide", extra={"error": repr(exc)})
        return None, "error"
    if hasattr(answer, "model_dump"):
        answer = answer.model_dump(mode="json")
    if not isinstance(answer, Mapping):
        state.metrics.ai_failures.labels("enricher", "invalid_output").inc()
        return None, "invalid_output"
    return dict(answer), None


async def _fetch_failed(
    state: AppState, *, tenant_id: uuid.UUID, lead_id: uuid.UUID, error: LeadwireError
) -> str:
    classification = classify(error)
    now = utcnow()
    async with unit_of_work(state) as session:
        lead = await repository.lock_lead(session, tenant_id=tenant_id, lead_id=lead_id)
        if lead is None or lead.status != LeadStatus.PENDING_FETCH.value:
            return "superseded"
        attempt = 1 + await repository.count_events(
            session, tenant_id=tenant_id, lead_id=lead_id, kind=FETCH_FAILED
        )
        delay = backoff_delay(
            attempt, base_s=FETCH_BASE_S, cap_s=FETCH_CAP_S, jitter=FETCH_JITTER, rng=_rng
        )
        if classification.retry_after_s is not None:
            delay = max(delay, classification.retry_after_s)
        retry_at = now + timedelta(seconds=delay)
        await repository.update_lead(
            session, tenant_id=tenant_id, lead_id=lead_id, next_action_at=retry_at
        )
        data: dict[str, Any] = {
            "attempt": attempt,
            "error_class": classification.error_class.value,
            "code": classification.code,
            "retry_at": retry_at.isoformat(),
        }
        if isinstance(error, ExternalServiceError):
            data["provider"] = error.provider
            data["http_status"] = error.http_status
        await repository.add_event(
            session, tenant_id=tenant_id, lead_id=lead_id, kind=FETCH_FAILED, data=data
        )
        enqueue_after_commit(
            session,
            queue=process_lane(lead.status, lead.priority),
            task=PROCESS_TASK,
            job_key=retry_job_key(lead_id, retry_at),
            run_at=retry_at,
            tenant_id=str(tenant_id),
            lead_id=str(lead_id),
        )
    # TODO(platform.escalation): raise an escalation instead of logging once it is on main.
    level = logging.ERROR if attempt >= ESCALATE_AFTER else logging.WARNING
    log.log(
        level,
        "lead fetch failed; retrying later",
        extra={"code": classification.code, "attempt": attempt, "retry_in_s": round(delay, 1)},
    )
    return "fetch_failed"


async def _ensure_routed(
    state: AppState, *, tenant_id: uuid.UUID, lead_id: uuid.UUID, priority: str
) -> None:
    await state.queues.enqueue(
        intake_queue(priority),
        ROUTE_TASK,
        job_key=route_job_key(lead_id),
        tenant_id=str(tenant_id),
        lead_id=str(lead_id),
    )


async def process(ctx: dict[str, Any], *, tenant_id: str, lead_id: str) -> str:
    """Registered as `leads.process` on queue `intake`; returns what it did (for the job log)."""
    state = _ctx_state(ctx)
    tenant_uuid, lead_uuid = uuid.UUID(tenant_id), uuid.UUID(lead_id)
    tenant_id_var.set(tenant_id)
    lead_id_var.set(lead_id)
    # The dialer's route step when the composition root plugged it in (see the docstring).
    router: LeadRouter | None = state.services.get(ROUTER)
    lead: Lead | None
    if _enriches_in_process(state):
        try:
            read = await _process_in_one(state, tenant_uuid, lead_uuid, router=router)
        except _RoutingFailed as failed:
            _log_routing_failure(failed)
            read = await _process_in_one(state, tenant_uuid, lead_uuid, router=None)
        if isinstance(read, str):
            return read
        lead = read  # not for this path (a fetch, or nothing to do): its read serves below
    else:
        async with state.sessions() as session:
            lead = await repository.get_lead(session, tenant_id=tenant_uuid, lead_id=lead_uuid)
    if lead is None:
        return "missing"
    if lead.status == LeadStatus.READY.value:
        # Processed before, maybe without its hand-off (Redis failed after the commit).
        await _ensure_routed(
            state, tenant_id=tenant_uuid, lead_id=lead_uuid, priority=lead.priority
        )
        return "ready"
    if lead.status not in _WAITING:
        return lead.status
    tenant = await tenant_by_id(state, tenant_uuid)
    if tenant is None:
        return "missing"

    # Slow outside calls (provider API, enricher) run before the transaction, not inside it.
    inbound = inbound_of(lead)
    fetched = lead.status == LeadStatus.PENDING_FETCH.value
    if fetched:
        try:
            update = await fetch_update(state, tenant, lead)
        except LeadwireError as exc:
            return await _fetch_failed(state, tenant_id=tenant_uuid, lead_id=lead_uuid, error=exc)
        inbound = apply_update(inbound, update)
    normalized = normalize(
        inbound, default_region=tenant.default_region, field_map=tenant.field_map
    )
    rules = urgency_of(normalized)
    if fetched and normalized.rejection is None:
        by_rules = decide_priority(rules=rules, explicit=normalized.urgency, enrichment=None)
        if by_rules.priority is not Urgency.EMERGENCY:
            return await _hand_off_fetched(state, lead, normalized, by_rules)
    outcome = await _decide(state, lead, normalized, rules)
    try:
        return await _store(state, outcome, router=router)
    except _RoutingFailed as failed:
        _log_routing_failure(failed)
        return await _store(state, outcome, router=None)


def _log_routing_failure(failed: _RoutingFailed) -> None:
    # The routing rolled the whole transaction back: the lead is stored ready without it and
    # the routing left to its own job (as without a router).
    log.warning("routing a ready lead failed; its route job is queued", exc_info=failed)


def _enriches_in_process(state: AppState) -> bool:
    """True when enrichment makes no outside call (no enricher, or one that runs here)."""
    enricher = state.services.get(ENRICHER)
    return enricher is None or bool(getattr(enricher, "in_process", False))


async def _process_in_one(
    state: AppState, tenant_id: uuid.UUID, lead_id: uuid.UUID, *, router: LeadRouter | None
) -> str | Lead | None:
    """A lead that came with its fields, when nothing outside must be asked (enrichment runs
    here): read, decide and write it in one transaction, its row locked throughout; returns
    what the job did. Any other lead is returned as read (None: there is none), for the
    other path. Raises `_RoutingFailed` (all rolled back) when the router failed."""
    after_commit: AfterCommit | None = None
    async with unit_of_work(state) as session:
        lead = await repository.lock_lead(session, tenant_id=tenant_id, lead_id=lead_id)
        if lead is None or lead.status != LeadStatus.ACCEPTED.value:
            return lead
        tenant = await tenant_by_id(state, tenant_id)
        if tenant is None:
            return "missing"
        normalized = normalize(
            inbound_of(lead), default_region=tenant.default_region, field_map=tenant.field_map
        )
        outcome = await _decide(state, lead, normalized, urgency_of(normalized))
        result, after_commit = await _write(state, session, lead, outcome, router=router)
    if after_commit is not None:
        await after_commit()
    return result


async def _decide(
    state: AppState, lead: Lead, normalized: NormalizedLead, rules: UrgencyResult
) -> _Outcome:
    """Enrichment and the priority (no database)."""
    rejected = normalized.rejection is not None
    enrichment, skipped = (None, None) if rejected else await _enrich(state, normalized)
    decision = decide_priority(rules=rules, explicit=normalized.urgency, enrichment=enrichment)
    return _Outcome(
        lead=lead, normalized=normalized, rules=rules, decision=decision,
        enrichment=enrichment, skipped=skipped,
    )  # fmt: skip


async def _hand_off_fetched(
    state: AppState, lead: Lead, normalized: NormalizedLead, by_rules: PriorityDecision
) -> str:
    """Store what the fetch brought and queue the rest of the work on the lead's own lane.

    The fetch lane serves every ids-only delivery before its urgency is known, so it must stay
    short: a lead the rules find urgent is processed here at once, any other waits its turn on
    the bulk lane (`accepted`, due now, with the fetched fields), like a lead that came with
    its fields."""
    at = utcnow()
    priority = by_rules.priority.value
    async with unit_of_work(state) as session:
        stored = await repository.update_if_status(
            session,
            tenant_id=lead.tenant_id,
            lead_id=lead.id,
            status=LeadStatus.PENDING_FETCH.value,
            updated_at=at,
            new_status=LeadStatus.ACCEPTED.value,
            priority=priority,
            # An explicit urgency among the fetched answers: a floor for the priority later.
            urgency=normalized.urgency.value if normalized.urgency is not None else None,
            next_action_at=at,
            **lead_columns(normalized),
        )
        if not stored:
            return "superseded"
        await _add_fetched_event(session, lead, normalized)
        enqueue_after_commit(
            session,
            queue=process_lane(LeadStatus.ACCEPTED.value, priority),
            task=PROCESS_TASK,
            # The sweeper knows this key from `next_action_at` (the running job holds the plain
            # key): it leaves the lead alone while the job waits.
            job_key=retry_job_key(lead.id, at),
            tenant_id=str(lead.tenant_id),
            lead_id=str(lead.id),
        )
    return "fetched"


async def _add_fetched_event(session: AsyncSession, lead: Lead, normalized: NormalizedLead) -> None:
    await repository.add_event(
        session,
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        kind="lead.fetched",
        data={"provider": lead.source, "phone_valid": normalized.phone.valid},
    )


class _RoutingFailed(Exception):
    """The router raised inside `_store`'s transaction (the cause is chained)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What `process` decided outside the transaction, for `_store` to write."""

    lead: Lead
    normalized: NormalizedLead
    rules: UrgencyResult
    decision: PriorityDecision
    enrichment: dict[str, Any] | None
    skipped: str | None


async def _store(state: AppState, outcome: _Outcome, *, router: LeadRouter | None) -> str:
    """The write, in a transaction of its own (the lead was read and decided outside it)."""
    lead = outcome.lead
    async with unit_of_work(state) as session:
        locked = await repository.lock_lead(session, tenant_id=lead.tenant_id, lead_id=lead.id)
        if locked is None or locked.status != lead.status:
            return "superseded"
        result, after_commit = await _write(state, session, locked, outcome, router=router)
    if after_commit is not None:
        await after_commit()
    return result


async def _write(
    state: AppState,
    session: AsyncSession,
    locked: Lead,
    outcome: _Outcome,
    *,
    router: LeadRouter | None,
) -> tuple[str, AfterCommit | None]:
    """Rejected, or ready and (with a router) routed, in the caller's transaction, the lead
    row-locked; with what to run after the commit."""
    lead, normalized, rules, decision = (
        outcome.lead, outcome.normalized, outcome.rules, outcome.decision
    )  # fmt: skip
    tenant_uuid, lead_uuid = lead.tenant_id, lead.id
    fetched = lead.status == LeadStatus.PENDING_FETCH.value
    after_commit: AfterCommit | None = None
    values: dict[str, Any] = lead_columns(normalized) if fetched else {}
    if fetched:
        await _add_fetched_event(session, lead, normalized)
    if normalized.rejection is not None:
        await repository.update_lead(
            session,
            tenant_id=tenant_uuid,
            lead_id=lead_uuid,
            status=LeadStatus.REJECTED.value,
            reject_reason=normalized.rejection,
            next_action_at=None,
            **values,
        )
        await repository.add_event(
            session,
            tenant_id=tenant_uuid,
            lead_id=lead_uuid,
            kind="lead.rejected",
            data={"reason": normalized.rejection, "phone_reason": normalized.phone.reason},
        )
        return "rejected", None
    stored_enrichment: dict[str, Any] = {
        "rules": {
            "level": rules.level.value,
            "source": rules.source,
            "signals": [
                {"phrase": s.phrase, "level": s.level.value, "field": s.field}
                for s in rules.signals
            ],
        },
        "priority_reason": decision.reason,
    }
    if outcome.enrichment is not None:
        stored_enrichment["enricher"] = outcome.enrichment
    if outcome.skipped is not None:
        stored_enrichment["enricher_skipped"] = outcome.skipped
    now = utcnow()
    await repository.update_lead(
        session,
        tenant_id=tenant_uuid,
        lead_id=lead_uuid,
        status=LeadStatus.READY.value,
        priority=decision.priority.value,
        enrichment=stored_enrichment,
        next_action_at=now,
        **values,
    )
    await repository.add_event(
        session,
        tenant_id=tenant_uuid,
        lead_id=lead_uuid,
        kind="lead.ready",
        data={"priority": decision.priority.value, "reason": decision.reason},
    )
    if router is None:
        enqueue_after_commit(
            session,
            queue=intake_queue(decision.priority.value),
            task=ROUTE_TASK,
            job_key=route_job_key(lead_uuid),
            tenant_id=str(tenant_uuid),
            lead_id=str(lead_uuid),
        )
    else:
        try:
            after_commit = await router(state, session, locked, now=now)
        except Exception as exc:
            raise _RoutingFailed from exc
    return "ready", after_commit
