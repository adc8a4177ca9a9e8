"""Escalations: deduplication, Standard Webhooks delivery (verified), retries, every attempt kept.

The operators' and tenants' endpoints are outside HTTP, mocked with respx; PostgreSQL and
Redis are real.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import secrets
import uuid
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leadwire.platform import escalation
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.escalation import (
    Escalation,
    EscalationAttempt,
    EscalationDelivery,
    raise_escalation,
)
from leadwire.platform.jobs import job_key, unit_of_work
from leadwire.platform.queues import MAINTENANCE
from leadwire.platform.state import AppState
from tests.helpers import make_tenant

ADMIN_URL = "https://ops.example.com/hooks/leadwire"
TENANT_URL = "https://acme.example.com/hooks/escalations"
ADMIN_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def escalating(clean: AppState) -> AppState:
    """The test state with the operators' endpoint configured."""
    settings = clean.settings.model_copy(
        update={
            "escalation_webhook_url": ADMIN_URL,
            "escalation_webhook_secret": SecretStr(ADMIN_SECRET),
            "escalation_dedupe_window_s": 900,
        }
    )
    return dataclasses.replace(clean, settings=settings)


async def _raise(state: AppState, **overrides: Any) -> escalation.Raised:
    values: dict[str, Any] = {
        "severity": "warning",
        "fingerprint": "task:dialer.dial:twilio.20003",
        "title": "Twilio refuses our credentials",
        "detail": {"code": "twilio.20003"},
        "tenant_id": None,
    }
    values.update(overrides)
    async with unit_of_work(state) as session:
        return await raise_escalation(session, state=state, **values)


async def _deliveries(state: AppState) -> list[EscalationDelivery]:
    async with state.sessions() as session:
        rows = await session.execute(select(EscalationDelivery).order_by(EscalationDelivery.target))
        return list(rows.scalars().all())


async def _attempts(state: AppState) -> list[EscalationAttempt]:
    async with state.sessions() as session:
        rows = await session.execute(select(EscalationAttempt).order_by(EscalationAttempt.id))
        return list(rows.scalars().all())


async def test_repeats_within_the_window_are_counted_not_delivered(escalating: AppState) -> None:
    first = await _raise(escalating)
    second = await _raise(escalating)
    third = await _raise(escalating, fingerprint="task:other:code")
    assert (first.created, first.deliveries) == (True, 1)
    assert (second.created, second.id, second.occurrences, second.deliveries) == (
        False,
        first.id,
        2,
        0,
    )
    assert third.created
    assert len(await _deliveries(escalating)) == 2
    depth = await escalating.queues.depth()
    assert depth[MAINTENANCE] == 2  # one delivery job each, enqueued after commit


async def test_concurrent_raisers_of_one_fingerprint_store_one_escalation(
    escalating: AppState,
) -> None:
    import asyncio

    results = await asyncio.gather(*(_raise(escalating) for _ in range(5)))
    assert sum(r.created for r in results) == 1
    async with escalating.sessions() as session:
        [row] = (await session.execute(select(Escalation))).scalars().all()
    assert row.occurrences == 5


async def test_outside_the_window_it_is_a_new_escalation(escalating: AppState) -> None:
    first = await _raise(escalating)
    async with session_scope(escalating.sessions) as session:
        row = await session.get(Escalation, first.id)
        assert row is not None
        row.last_seen_at = utcnow() - dt.timedelta(seconds=901)
    again = await _raise(escalating)
    assert again.created
    assert again.id != first.id


async def test_a_higher_severity_repeat_notifies_again(escalating: AppState) -> None:
    first = await _raise(escalating, severity="warning")
    same = await _raise(escalating, severity="info")
    worse = await _raise(escalating, severity="critical")
    assert (same.deliveries, worse.deliveries) == (0, 1)
    assert worse.id == first.id
    deliveries = await _deliveries(escalating)
    assert [d.payload["data"]["severity"] for d in deliveries] == ["warning", "critical"]


async def test_unknown_severity_is_refused(escalating: AppState) -> None:
    with pytest.raises(InvalidPayload):
        await _raise(escalating, severity="apocalyptic")


@respx.mock
async def test_delivery_is_signed_per_standard_webhooks(escalating: AppState) -> None:
    route = respx.post(ADMIN_URL).mock(return_value=httpx.Response(204))
    raised = await _raise(escalating)
    [delivery] = await _deliveries(escalating)
    assert await escalation.deliver(escalating, delivery_id=delivery.id) == "delivered"
    request = route.calls.last.request
    body = request.content.decode()
    verified = Webhook(ADMIN_SECRET).verify(body, dict(request.headers))
    assert verified["type"] == "escalation.raised"
    assert verified["data"]["id"] == str(raised.id)
    assert verified["data"]["severity"] == "warning"
    assert request.headers["webhook-id"] == str(delivery.id)
    assert abs(int(request.headers["webhook-timestamp"]) - utcnow().timestamp()) < 5
    assert request.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(body, dict(request.headers))
    [attempt] = await _attempts(escalating)
    assert (attempt.attempt, attempt.outcome, attempt.http_status) == (1, "delivered", 204)
    assert attempt.latency_ms >= 0
    [after] = await _deliveries(escalating)
    assert after.status == "delivered"
    # a second run finds nothing to do: delivered once
    assert await escalation.deliver(escalating, delivery_id=delivery.id) is None
    assert route.call_count == 1


@respx.mock
async def test_failures_are_retried_with_backoff_keeping_the_message_id(
    escalating: AppState,
) -> None:
    route = respx.post(ADMIN_URL).mock(
        side_effect=[
            httpx.Response(500),
            httpx.ConnectError("refused"),
            httpx.Response(429, headers={"Retry-After": "120"}),
            httpx.Response(200),
        ]
    )
    await _raise(escalating)
    [delivery] = await _deliveries(escalating)
    outcomes = []
    for attempt_no in range(1, 5):
        before = utcnow()
        outcomes.append(await escalation.deliver(escalating, delivery_id=delivery.id))
        [row] = await _deliveries(escalating)
        if row.status == "pending":
            assert row.next_attempt_at is not None
            wait = (row.next_attempt_at - before).total_seconds()
            base = 10 * 2 ** (attempt_no - 1)
            floor = 120 if attempt_no == 3 else base  # Retry-After wins when longer
            assert floor - 0.5 <= wait <= max(floor, base * 1.25) + 0.5, (attempt_no, wait)
            job = await escalating.queues[MAINTENANCE].job(
                job_key("escalation.deliver", delivery.id, attempt_no + 1)
            )
            assert job is not None
            assert job.scheduled == pytest.approx(row.next_attempt_at.timestamp(), abs=1)
    assert outcomes == ["retry", "retry", "retry", "delivered"]
    ids = {call.request.headers["webhook-id"] for call in route.calls}
    assert ids == {str(delivery.id)}  # the idempotency key stays the same across retries
    attempts = await _attempts(escalating)
    assert [(a.attempt, a.outcome, a.http_status, a.error) for a in attempts] == [
        (1, "retry", 500, "HTTP 500"),
        (2, "retry", None, "ConnectError"),
        (3, "retry", 429, "HTTP 429"),
        (4, "delivered", 200, None),
    ]


@respx.mock
async def test_gone_endpoints_and_exhausted_deliveries_fail(escalating: AppState) -> None:
    respx.post(ADMIN_URL).mock(return_value=httpx.Response(410))
    await _raise(escalating)
    [delivery] = await _deliveries(escalating)
    assert await escalation.deliver(escalating, delivery_id=delivery.id) == "failed"

    respx.post(ADMIN_URL).mock(return_value=httpx.Response(503))
    await _raise(escalating, fingerprint="other")
    [_, second] = sorted(await _deliveries(escalating), key=lambda d: d.created_at)
    async with session_scope(escalating.sessions) as session:
        row = await session.get(EscalationDelivery, second.id)
        assert row is not None
        row.attempts = escalation.MAX_ATTEMPTS - 1
    assert await escalation.deliver(escalating, delivery_id=second.id) == "failed"
    statuses = sorted(d.status for d in await _deliveries(escalating))
    assert statuses == ["failed", "failed"]


@respx.mock
async def test_a_tenants_escalation_also_goes_to_the_tenant_signed_with_its_secret(
    escalating: AppState,
) -> None:
    tenant, _ = await make_tenant(escalating, settings={"escalation_webhook_url": TENANT_URL})
    admin_route = respx.post(ADMIN_URL).mock(return_value=httpx.Response(200))
    tenant_route = respx.post(TENANT_URL).mock(return_value=httpx.Response(200))
    raised = await _raise(escalating, tenant_id=tenant.id, fingerprint="task:x:twilio.21210")
    assert raised.deliveries == 2
    for delivery in await _deliveries(escalating):
        await escalation.deliver(escalating, delivery_id=delivery.id)
    tenant_request = tenant_route.calls.last.request
    secret = escalation.tenant_signing_secret(escalating.settings, tenant.id)
    payload = Webhook(secret).verify(tenant_request.content, dict(tenant_request.headers))
    assert payload["data"]["tenant_id"] == str(tenant.id)
    admin_request = admin_route.calls.last.request
    Webhook(ADMIN_SECRET).verify(admin_request.content, dict(admin_request.headers))
    other = escalation.tenant_signing_secret(escalating.settings, uuid.uuid4())
    with pytest.raises(WebhookVerificationError, match="signature"):  # not with another's
        Webhook(other).verify(tenant_request.content, dict(tenant_request.headers))


async def test_without_endpoints_the_escalation_is_only_stored(clean: AppState) -> None:
    raised = await _raise(clean)
    assert raised.created
    assert raised.deliveries == 0
    assert await _deliveries(clean) == []


async def test_the_sweep_requeues_deliveries_whose_job_went_missing(escalating: AppState) -> None:
    await _raise(escalating)
    [delivery] = await _deliveries(escalating)
    await escalating.redis.flushdb()  # Redis lost the job
    assert await escalation.sweep(escalating) == 0  # not overdue yet
    later = utcnow() + dt.timedelta(seconds=escalation.SWEEP_GRACE_S + 1)
    assert await escalation.sweep(escalating, now=later) == 1
    assert await escalation.sweep(escalating, now=later) == 0  # the key collapses
    job = await escalating.queues[MAINTENANCE].job(job_key("escalation.deliver", delivery.id, 1))
    assert job is not None
    assert job.kwargs == {"delivery_id": str(delivery.id)}


@respx.mock
async def test_the_task_never_raises(escalating: AppState) -> None:
    respx.post(ADMIN_URL).mock(return_value=httpx.Response(200))
    await _raise(escalating)
    [delivery] = await _deliveries(escalating)
    ctx: dict[str, Any] = {"state": escalating}
    assert await escalation.deliver_task(ctx, delivery_id="not-a-uuid") is None
    assert await escalation.deliver_task(ctx, delivery_id=str(delivery.id)) == "delivered"
    body = json.loads(respx.calls.last.request.content)
    assert body["data"]["title"] == "Twilio refuses our credentials"
