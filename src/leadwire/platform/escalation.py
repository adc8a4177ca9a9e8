"""Escalations: tell a human, once, through signed outbound webhooks.

`raise_escalation` stores an escalation, deduplicated by fingerprint within a time window
(LEADWIRE_ESCALATION_DEDUPE_WINDOW_S, default 15 min): a repeat within the window only counts
an occurrence, unless it raises the severity, which notifies again. A new escalation gets one
delivery per target: the operators' endpoint (LEADWIRE_ESCALATION_WEBHOOK_URL) and, for a
tenant's escalation, the tenant's `escalation_webhook_url` setting.

Deliveries follow Standard Webhooks (reference/integrations.md section 5.3): headers
`webhook-id` (the delivery's id, the same on every retry), `webhook-timestamp` and
`webhook-signature` (v1, HMAC-SHA256, made with the `standardwebhooks` library). The
operators' endpoint is signed with LEADWIRE_ESCALATION_WEBHOOK_SECRET; a tenant's with a
secret derived per tenant from LEADWIRE_SECRET_KEY (`tenant_signing_secret`).

Each delivery runs as the SAQ task `platform.escalation.deliver` on the maintenance queue,
enqueued after commit; every attempt is recorded (outcome, HTTP status, latency). Failures are
retried with exponential backoff and jitter (honouring Retry-After), a 410 disables the
delivery at once, and after `MAX_ATTEMPTS` it is marked failed. A cron sweep re-queues pending
deliveries whose job went missing (Redis down, or a caller that did not use `unit_of_work`).
The task never raises, so a failing escalation cannot escalate itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from standardwebhooks.webhooks import Webhook

from leadwire.platform.db import Base, new_id, utcnow
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.jobs import enqueue_after_commit, job_key, unit_of_work
from leadwire.platform.opsstats import ops_counters
from leadwire.platform.queues import MAINTENANCE
from leadwire.platform.retry import backoff_delay
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState

log = logging.getLogger("leadwire.escalation")

SEVERITIES = ("info", "warning", "critical")
DELIVER_TASK = "platform.escalation.deliver"
MAX_ATTEMPTS = 8
# 10 s, 20 s, 40 s ... capped at one hour: about four hours in all before giving up.
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 3600.0
# Retry-After larger than this is capped: an endpoint cannot park our escalations for days.
MAX_RETRY_AFTER_S = 3600.0
DELIVERY_TIMEOUT_S = 10.0
# A pending delivery this late past its due time has lost its job: the sweep re-queues it.
SWEEP_GRACE_S = 30.0

_rng = random.Random()


class Escalation(Base):
    __tablename__ = "escalations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    fingerprint: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    tenant_id: Mapped[uuid.UUID | None]
    occurrences: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    first_seen_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    last_seen_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (
        Index("ix_escalations_fingerprint", "fingerprint", "last_seen_at"),
        Index("ix_escalations_last_seen", "last_seen_at"),
    )


class EscalationDelivery(Base):
    """One escalation to one endpoint; `id` is the Standard Webhooks `webhook-id`."""

    __tablename__ = "escalation_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    escalation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("escalations.id", ondelete="CASCADE")
    )
    target: Mapped[str] = mapped_column(String(16))  # "admin" | "tenant"
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[dt.datetime | None]
    last_http_status: Mapped[int | None]
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (
        Index("ix_escalation_deliveries_escalation", "escalation_id"),
        Index(
            "ix_escalation_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )


class EscalationAttempt(Base):
    """Every delivery attempt, as it happened."""

    __tablename__ = "escalation_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("escalation_deliveries.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    outcome: Mapped[str] = mapped_column(String(16))  # delivered | retry | failed
    http_status: Mapped[int | None]
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (Index("ix_escalation_attempts_delivery", "delivery_id", "attempt"),)


@dataclass(frozen=True, slots=True)
class Raised:
    """What `raise_escalation` did: `created` is False for a deduplicated repeat."""

    id: uuid.UUID
    created: bool
    occurrences: int
    deliveries: int


# ---- signing ----------------------------------------------------------------------------------


def tenant_signing_secret(settings: Settings, tenant_id: uuid.UUID | str) -> str:
    """The `whsec_` secret a tenant's escalation webhooks are signed with.

    Derived from LEADWIRE_SECRET_KEY, so nothing extra is stored and it survives restarts; it
    changes if the secret key is rotated.
    """
    if settings.secret_key is None:
        raise InvalidPayload("LEADWIRE_SECRET_KEY is not set")
    key = hmac.new(
        settings.secret_key.get_secret_value().encode(),
        f"leadwire-escalation:{tenant_id}".encode(),
        hashlib.sha256,
    ).digest()
    return "whsec_" + base64.b64encode(key).decode()


def signing_secret(settings: Settings, delivery: EscalationDelivery, tenant_id: Any) -> str | None:
    if delivery.target == "tenant" and tenant_id is not None:
        return tenant_signing_secret(settings, tenant_id)
    secret = settings.escalation_webhook_secret
    return secret.get_secret_value() if secret is not None else None


def signed_headers(*, secret: str, message_id: str, body: str, at: dt.datetime) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (the signature covers id, timestamp, body)."""
    at_utc = at.astimezone(dt.UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at_utc.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at_utc, body),
        "content-type": "application/json",
        "user-agent": "Leadwire-Escalation/1",
    }


# ---- raising ----------------------------------------------------------------------------------


async def _tenant_url(session: AsyncSession, tenant_id: uuid.UUID) -> str | None:
    # Platform imports no area, so the tenant's setting is read by column, not by model.
    row = await session.execute(
        text("SELECT settings->>'escalation_webhook_url' FROM tenants WHERE id = :id"),
        {"id": tenant_id},
    )
    url = row.scalar_one_or_none()
    return url if isinstance(url, str) and url else None


def _payload(escalation: Escalation) -> dict[str, Any]:
    return {
        "type": "escalation.raised",
        "timestamp": escalation.last_seen_at.isoformat(),
        "data": {
            "id": str(escalation.id),
            "severity": escalation.severity,
            "fingerprint": escalation.fingerprint,
            "title": escalation.title,
            "detail": escalation.detail,
            "tenant_id": str(escalation.tenant_id) if escalation.tenant_id else None,
            "occurrences": escalation.occurrences,
            "first_seen_at": escalation.first_seen_at.isoformat(),
        },
    }


async def _schedule_deliveries(
    session: AsyncSession, *, state: AppState, escalation: Escalation
) -> int:
    targets: list[tuple[str, str]] = []
    if state.settings.escalation_webhook_url:
        targets.append(("admin", state.settings.escalation_webhook_url))
    if escalation.tenant_id is not None:
        tenant_url = await _tenant_url(session, escalation.tenant_id)
        if tenant_url:
            targets.append(("tenant", tenant_url))
    now = utcnow()
    for target, url in targets:
        delivery = EscalationDelivery(
            id=new_id(),
            escalation_id=escalation.id,
            target=target,
            url=url,
            payload=_payload(escalation),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(delivery)
        enqueue_after_commit(
            session,
            queue=MAINTENANCE,
            task=DELIVER_TASK,
            job_key=job_key("escalation.deliver", delivery.id, 1),
            timeout_s=int(DELIVERY_TIMEOUT_S) + 20,
            delivery_id=str(delivery.id),
        )
    await session.flush()
    return len(targets)


async def raise_escalation(
    session: AsyncSession,
    *,
    state: AppState,
    severity: str,
    fingerprint: str,
    title: str,
    detail: dict[str, Any],
    tenant_id: uuid.UUID | str | None,
) -> Raised:
    """Store (or count a repeat of) an escalation and schedule its deliveries.

    Flushes, never commits. Deliveries are enqueued after commit when the caller uses
    `platform.jobs.unit_of_work`; otherwise the sweep picks them up within a minute or so.
    """
    if severity not in SEVERITIES:
        raise InvalidPayload(f"severity must be one of {', '.join(SEVERITIES)}", field="severity")
    tenant = uuid.UUID(str(tenant_id)) if tenant_id is not None else None
    now = utcnow()
    window = dt.timedelta(seconds=state.settings.escalation_dedupe_window_s)
    # Serialize raisers of one fingerprint so concurrent repeats count instead of duplicating.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:fp, 7210432))"),
        {"fp": fingerprint},
    )
    query = (
        select(Escalation)
        .where(
            Escalation.fingerprint == fingerprint,
            Escalation.last_seen_at >= now - window,
            Escalation.tenant_id.is_(None) if tenant is None else Escalation.tenant_id == tenant,
        )
        .order_by(Escalation.last_seen_at.desc())
        .limit(1)
    )
    counters = ops_counters(state.metrics)
    existing = (await session.execute(query)).scalar_one_or_none()
    if existing is not None:
        existing.occurrences += 1
        existing.last_seen_at = now
        raised_severity = SEVERITIES.index(severity) > SEVERITIES.index(existing.severity)
        deliveries = 0
        if raised_severity:
            existing.severity = severity
            existing.title = title[:300]
            existing.detail = detail
            deliveries = await _schedule_deliveries(session, state=state, escalation=existing)
        await session.flush()
        counters.escalations.labels(severity, "repeat").inc()
        return Raised(existing.id, False, existing.occurrences, deliveries)
    escalation = Escalation(
        id=new_id(),
        fingerprint=fingerprint[:200],
        severity=severity,
        title=title[:300],
        detail=detail,
        tenant_id=tenant,
        occurrences=1,
        first_seen_at=now,
        last_seen_at=now,
    )
    session.add(escalation)
    await session.flush()
    deliveries = await _schedule_deliveries(session, state=state, escalation=escalation)
    counters.escalations.labels(severity, "new").inc()
    log.warning(
        "escalation raised",
        extra={"severity": severity, "fingerprint": fingerprint, "deliveries": deliveries},
    )
    return Raised(escalation.id, True, 1, deliveries)


# ---- delivering -------------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    return min(float(value), MAX_RETRY_AFTER_S) if value.isdecimal() else None


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: str  # delivered | retry | failed
    http_status: int | None
    latency_ms: int
    error: str | None
    retry_after_s: float | None


async def _post(
    http: httpx.AsyncClient, *, url: str, headers: dict[str, str], body: str
) -> AttemptResult:
    started = time.perf_counter()
    try:
        response = await http.post(url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT_S)
    except httpx.HTTPError as exc:
        latency = int((time.perf_counter() - started) * 1000)
        return AttemptResult("retry", None, latency, type(exc).__name__, None)
    latency = int((time.perf_counter() - started) * 1000)
    status = response.status_code
    if 200 <= status < 300:
        return AttemptResult("delivered", status, latency, None, None)
    if status == 410:  # Standard Webhooks: the endpoint asks to be disabled
        return AttemptResult("failed", status, latency, "endpoint gone (410)", None)
    return AttemptResult("retry", status, latency, f"HTTP {status}", _retry_after(response))


async def deliver(state: AppState, *, delivery_id: uuid.UUID) -> str | None:
    """Make one delivery attempt; returns its outcome, or None when there was nothing to do."""
    async with unit_of_work(state) as session:
        delivery = (
            await session.execute(
                select(EscalationDelivery)
                .where(EscalationDelivery.id == delivery_id)
                .with_for_update(skip_locked=True)
            )
        ).scalar_one_or_none()
        if delivery is None or delivery.status != "pending":
            return None
        tenant_id = (
            await session.execute(
                select(Escalation.tenant_id).where(Escalation.id == delivery.escalation_id)
            )
        ).scalar_one_or_none()
        attempt_no = delivery.attempts + 1
        now = utcnow()
        secret = signing_secret(state.settings, delivery, tenant_id)
        if secret is None:
            result = AttemptResult("failed", None, 0, "no signing secret configured", None)
        else:
            body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
            headers = signed_headers(secret=secret, message_id=str(delivery.id), body=body, at=now)
            result = await _post(state.http, url=delivery.url, headers=headers, body=body)
        if result.outcome == "retry" and attempt_no >= MAX_ATTEMPTS:
            result = AttemptResult(
                "failed", result.http_status, result.latency_ms, result.error, None
            )
        session.add(
            EscalationAttempt(
                delivery_id=delivery.id,
                attempt=attempt_no,
                at=now,
                outcome=result.outcome,
                http_status=result.http_status,
                latency_ms=result.latency_ms,
                error=result.error,
            )
        )
        delivery.attempts = attempt_no
        delivery.last_http_status = result.http_status
        if result.outcome == "delivered":
            delivery.status = "delivered"
            delivery.delivered_at = utcnow()
            delivery.next_attempt_at = None
        elif result.outcome == "failed":
            delivery.status = "failed"
            delivery.next_attempt_at = None
        else:
            delay = backoff_delay(
                attempt_no, base_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S, jitter=0.25, rng=_rng
            )
            if result.retry_after_s is not None:
                delay = max(delay, result.retry_after_s)
            run_at = now + dt.timedelta(seconds=delay)
            delivery.next_attempt_at = run_at
            enqueue_after_commit(
                session,
                queue=MAINTENANCE,
                task=DELIVER_TASK,
                job_key=job_key("escalation.deliver", delivery.id, attempt_no + 1),
                run_at=run_at,
                timeout_s=int(DELIVERY_TIMEOUT_S) + 20,
                delivery_id=str(delivery.id),
            )
        ops_counters(state.metrics).escalation_deliveries.labels(
            delivery.target, result.outcome
        ).inc()
        log.info(
            "escalation delivery attempt",
            extra={
                "delivery_id": str(delivery.id),
                "target": delivery.target,
                "attempt": attempt_no,
                "outcome": result.outcome,
                "http_status": result.http_status,
                "latency_ms": result.latency_ms,
            },
        )
        return result.outcome


async def deliver_task(ctx: dict[str, Any], *, delivery_id: str) -> str | None:
    """SAQ task `platform.escalation.deliver` (maintenance queue)."""
    state: AppState = ctx["state"]
    try:
        return await deliver(state, delivery_id=uuid.UUID(delivery_id))
    except Exception as exc:
        # Never raise: the job wrapper would escalate the failure of an escalation. The
        # delivery stays pending and the sweep tries it again.
        log.error(
            "escalation delivery crashed; the sweep will retry",
            extra={"delivery_id": delivery_id, "error": repr(exc)},
        )
        return None


async def sweep(state: AppState, *, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Re-queue pending deliveries overdue by more than the grace period; returns how many."""
    now = now or utcnow()
    due = now - dt.timedelta(seconds=SWEEP_GRACE_S)
    async with state.sessions() as session:
        result = await session.execute(
            select(EscalationDelivery.id, EscalationDelivery.attempts)
            .where(
                EscalationDelivery.status == "pending", EscalationDelivery.next_attempt_at <= due
            )
            .order_by(EscalationDelivery.next_attempt_at)
            .limit(limit)
        )
        rows = [(delivery_id, int(attempts)) for delivery_id, attempts in result.all()]
    queued = 0
    for delivery_id, attempts in rows:
        if await state.queues.enqueue(
            MAINTENANCE,
            DELIVER_TASK,
            job_key=job_key("escalation.deliver", delivery_id, attempts + 1),
            timeout_s=int(DELIVERY_TIMEOUT_S) + 20,
            delivery_id=str(delivery_id),
        ):
            queued += 1
    return queued


async def sweep_task(ctx: dict[str, Any]) -> int:
    """Cron: re-queue escalation deliveries whose job went missing."""
    state: AppState = ctx["state"]
    return await sweep(state)


# ---- reading ----------------------------------------------------------------------------------


async def recent(
    session: AsyncSession, *, limit: int = 50, tenant_id: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    """The latest escalations with their deliveries and every attempt (admin API)."""
    query = select(Escalation).order_by(Escalation.last_seen_at.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(Escalation.tenant_id == tenant_id)
    escalations = (await session.execute(query)).scalars().all()
    ids = [e.id for e in escalations]
    deliveries = (
        (
            await session.execute(
                select(EscalationDelivery).where(EscalationDelivery.escalation_id.in_(ids))
            )
        )
        .scalars()
        .all()
        if ids
        else []
    )
    attempts = (
        (
            await session.execute(
                select(EscalationAttempt)
                .where(EscalationAttempt.delivery_id.in_([d.id for d in deliveries]))
                .order_by(EscalationAttempt.attempt)
            )
        )
        .scalars()
        .all()
        if deliveries
        else []
    )
    by_delivery: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append(
            {
                "attempt": a.attempt,
                "at": a.at.isoformat(),
                "outcome": a.outcome,
                "http_status": a.http_status,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
        )
    by_escalation: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for d in deliveries:
        by_escalation.setdefault(d.escalation_id, []).append(
            {
                "id": str(d.id),
                "target": d.target,
                "status": d.status,
                "attempts": by_delivery.get(d.id, []),
                "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
            }
        )
    return [
        {
            "id": str(e.id),
            "severity": e.severity,
            "fingerprint": e.fingerprint,
            "title": e.title,
            "detail": e.detail,
            "tenant_id": str(e.tenant_id) if e.tenant_id else None,
            "occurrences": e.occurrences,
            "first_seen_at": e.first_seen_at.isoformat(),
            "last_seen_at": e.last_seen_at.isoformat(),
            "deliveries": by_escalation.get(e.id, []),
        }
        for e in escalations
    ]
