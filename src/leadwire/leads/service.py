"""The one intake pipeline every lead source shares.

    adapter.verify -> adapter.parse -> tenant flood cap -> records.prepare (normalize with the
    tenant's default_region and field_map, status, priority) -> batching.ingest (store, then
    enqueue `leads.process` on queue intake for new leads whose work is due)

Durable acknowledgement: the store is one statement on an AUTOCOMMIT connection, shared with
the deliveries that arrived at the same time, so the leads and their first timeline events
are committed in one round trip before the caller answers 2xx; the enqueue follows the
commit. PostgreSQL unavailable -> `ServiceUnavailable`
(503 with `Retry-After`, nothing acknowledged). Redis unavailable -> the leads are still
acknowledged: they are committed with `next_action_at = now`, and `leads.sweep` queues them
when Redis answers again.

Unlike other services this one takes the `AppState` rather than a session: its unit of work is
that single autocommit statement followed by the enqueue, and it owns both.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadwire.leads import abuse, batching
from leadwire.leads.adapters._security import attempts_authentication
from leadwire.leads.adapters.base import InboundRequest, LeadSourceAdapter
from leadwire.leads.adapters.direct import parse_direct
from leadwire.leads.batching import PROCESS_TASK, process_job_key
from leadwire.leads.canonical import InboundLead
from leadwire.leads.records import prepare
from leadwire.leads.tenancy import (
    IntakeTenant,
    platform_secrets,
    tenant_by_id,
    tenant_by_slug,
    tenant_by_source_key,
)
from leadwire.platform.classify import classify
from leadwire.platform.errors import (
    BadSignature,
    ErrorClass,
    Forbidden,
    LeadwireError,
    NotFound,
    ServiceUnavailable,
    UnknownTenant,
)
from leadwire.platform.state import AppState

__all__ = [
    "PROCESS_TASK",
    "IntakeOutcome",
    "LeadResult",
    "NoAppLevelEndpoint",
    "TenantSuspended",
    "database_guard",
    "process_job_key",
    "receive_direct",
    "receive_webhook",
    "store_leads",
]

log = logging.getLogger("leadwire.leads")

RETRY_AFTER_S = 5
# Inside the guard only PostgreSQL is spoken to: a network failure or timeout there (asyncpg
# raises ConnectionRefusedError / TimeoutError as themselves while connecting) is the
# database being unreachable.
_DATABASE_CODES = frozenset({"database_unavailable", "database_error", "network", "timeout"})


class TenantSuspended(Forbidden):
    code = "tenant_suspended"


class NoAppLevelEndpoint(NotFound):
    code = "unknown_source"


@dataclass(frozen=True, slots=True)
class LeadResult:
    lead_id: uuid.UUID
    status: str
    duplicate: bool

    def to_json(self) -> dict[str, Any]:
        return {"lead_id": str(self.lead_id), "status": self.status, "duplicate": self.duplicate}


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    """What one delivery stored. `ignored` counts leads whose page/portal/org/key belongs to no
    tenant: logged, not stored, and answered 2xx so the provider stops retrying."""

    results: tuple[LeadResult, ...] = ()
    ignored: int = 0
    tenant: IntakeTenant | None = field(default=None, compare=False)

    @property
    def stored_new(self) -> bool:
        return any(not r.duplicate for r in self.results)


@contextlib.contextmanager
def database_guard() -> Iterator[None]:
    """Turn "PostgreSQL is unavailable (or failed)" into 503 with `Retry-After`.

    Providers retry a 5xx, so a lead that could not be committed is delivered again; anything
    that is not a database failure (a bug) propagates as itself.
    """
    try:
        yield
    except LeadwireError:
        raise
    except Exception as exc:
        classification = classify(exc)
        if classification.code not in _DATABASE_CODES:
            raise
        level = (
            logging.WARNING
            if classification.error_class is ErrorClass.TEMPORARY
            else (logging.ERROR)
        )
        log.log(level, "intake refused: database failed", extra={"error": repr(exc)})
        raise ServiceUnavailable(
            "the lead store is unavailable; nothing was stored, retry later",
            retry_after_s=RETRY_AFTER_S,
        ) from exc


async def store_leads(
    state: AppState, *, tenant: IntakeTenant, leads: Sequence[InboundLead]
) -> tuple[LeadResult, ...]:
    """Store a delivery's leads for one tenant (committed on return) and queue their work,
    batched with the other deliveries this process is storing (`leads.batching`)."""
    if not leads:
        return ()
    prepared = [
        prepare(
            lead,
            tenant_id=tenant.id,
            default_region=tenant.default_region,
            field_map=tenant.field_map,
        )
        for lead in leads
    ]
    with database_guard():
        stored = await batching.ingest(state, tenant_id=tenant.id, leads=prepared)
    counter = state.metrics.leads_received
    for lead, ready, ingested in zip(leads, prepared, stored, strict=True):
        counter.labels(lead.source, ready.status if ingested.created else "duplicate").inc()
    return tuple(LeadResult(s.lead_id, s.status, not s.created) for s in stored)


async def _deliver(
    state: AppState, tenant: IntakeTenant, leads: Sequence[InboundLead]
) -> tuple[LeadResult, ...]:
    if not leads:
        return ()
    await abuse.charge_tenant(state, str(tenant.id), cost=len(leads))
    return await store_leads(state, tenant=tenant, leads=leads)


def _require_active(tenant: IntakeTenant) -> IntakeTenant:
    if not tenant.active:
        raise TenantSuspended(f"tenant {tenant.slug} is {tenant.status}; nothing was stored")
    return tenant


def _ignored(source: str, kind: str | None, hint: str | None, count: int) -> None:
    log.warning(
        "delivery for an unknown tenant ignored",
        extra={"source": source, "key_kind": kind, "key": hint, "leads": count},
    )


async def _tenant_scoped(
    state: AppState, adapter: LeadSourceAdapter, request: InboundRequest, slug: str
) -> IntakeOutcome:
    with database_guard():
        tenant = await tenant_by_slug(state, slug)
    if tenant is None:
        raise UnknownTenant(f"no tenant {slug!r}")
    _require_active(tenant)
    adapter.verify(
        request,
        credentials=tenant.source(adapter.settings_key),
        platform=platform_secrets(state.settings),
    )
    leads = adapter.parse(request)
    if adapter.source == "form" and not attempts_authentication(request.headers):
        await abuse.charge_public_post(state, request.client_ip)
    return IntakeOutcome(await _deliver(state, tenant, leads), tenant=tenant)


async def _platform_signed(
    state: AppState, adapter: LeadSourceAdapter, request: InboundRequest
) -> IntakeOutcome:
    """Meta and HubSpot app-level deliveries: signed with the platform's app secret, so verify
    first, then route each lead by its page / portal (a batch may span tenants)."""
    adapter.verify(request, credentials=None, platform=platform_secrets(state.settings))
    groups: dict[str | None, list[InboundLead]] = {}
    for lead in adapter.parse(request):
        groups.setdefault(lead.tenant_hint, []).append(lead)
    results: list[LeadResult] = []
    ignored = 0
    suspended: list[str] = []
    for hint, leads in groups.items():
        tenant = None
        if hint is not None:
            with database_guard():
                tenant = await tenant_by_source_key(state, adapter.source, hint)
        if tenant is None:
            ignored += len(leads)
            _ignored(adapter.source, adapter.tenant_hint_kind, hint, len(leads))
            continue
        if not tenant.active:
            suspended.append(tenant.slug)
            continue
        results.extend(await _deliver(state, tenant, leads))
    if suspended:
        # The other tenants' leads are committed; the provider's retry of the whole delivery
        # finds them as duplicates, and finds the suspended tenant's once it is reactivated.
        raise TenantSuspended(f"tenant {suspended[0]} is suspended; its leads were not stored")
    state.metrics.leads_received.labels(adapter.source, "unknown_tenant").inc(ignored)
    return IntakeOutcome(tuple(results), ignored=ignored)


async def _payload_keyed(
    state: AppState, adapter: LeadSourceAdapter, request: InboundRequest
) -> IntakeOutcome:
    """Salesforce and Google Ads app-level deliveries: the payload names the tenant (org id,
    google_key), whose own credentials then verify the delivery."""
    hints = adapter.tenant_hints(request)
    if not hints:
        adapter.parse(request)  # an unreadable body answers its own 400 / 415 / 422
        raise BadSignature("the delivery does not identify its sender")
    with database_guard():
        tenant = await tenant_by_source_key(state, adapter.source, hints[0])
    if tenant is None:
        _ignored(adapter.source, adapter.tenant_hint_kind, None, 1)
        state.metrics.leads_received.labels(adapter.source, "unknown_tenant").inc()
        return IntakeOutcome(ignored=1)
    _require_active(tenant)
    adapter.verify(
        request,
        credentials=tenant.source(adapter.settings_key),
        platform=platform_secrets(state.settings),
    )
    leads = adapter.parse(request)
    return IntakeOutcome(await _deliver(state, tenant, leads), tenant=tenant)


async def receive_webhook(
    state: AppState,
    *,
    adapter: LeadSourceAdapter,
    request: InboundRequest,
    tenant_slug: str | None = None,
) -> IntakeOutcome:
    """One webhook delivery, end to end (see the module docstring and `adapters.base` for the
    order of calls per endpoint kind)."""
    if tenant_slug is not None:
        return await _tenant_scoped(state, adapter, request, tenant_slug)
    if not adapter.app_level:
        raise NoAppLevelEndpoint(
            f"{adapter.source} has no app-level endpoint: "
            f"use /v1/webhooks/{adapter.source}/{{tenant_slug}}"
        )
    if adapter.platform_signed:
        return await _platform_signed(state, adapter, request)
    return await _payload_keyed(state, adapter, request)


async def receive_direct(
    state: AppState, *, tenant_id: uuid.UUID, request: InboundRequest
) -> IntakeOutcome:
    """`POST /v1/leads` from an authenticated tenant."""
    with database_guard():
        tenant = await tenant_by_id(state, tenant_id)
    if tenant is None:
        raise UnknownTenant("the API key's tenant no longer exists")
    _require_active(tenant)
    leads = parse_direct(request)
    return IntakeOutcome(await _deliver(state, tenant, leads), tenant=tenant)
