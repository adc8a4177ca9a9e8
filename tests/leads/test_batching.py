"""Concurrent deliveries stored together: fewer commits, each delivery answered with its own
leads, and one delivery's failure kept to itself. Real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import asyncpg
import pytest
from sqlalchemy import text

from leadwire.leads import batching
from leadwire.leads.canonical import InboundLead
from leadwire.leads.records import PreparedLead, prepare
from leadwire.platform.state import AppState
from tests.helpers import make_tenant
from tests.leads.checks import half_leads, intake_job_pending


def _lead(tenant_id: uuid.UUID, n: int, **fields: object) -> PreparedLead:
    inbound = InboundLead.model_validate(
        {"source": "api", "phone": f"+1512867{n:04d}", "name": f"Lead {n}", **fields}
    )
    return prepare(inbound, tenant_id=tenant_id, default_region="US")


async def _commits(state: AppState) -> int:
    async with state.engine.connect() as conn:
        value = await conn.scalar(
            text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        )
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
    return int(value or 0)


async def test_concurrent_deliveries_share_commits_and_get_their_own_answers(
    clean: AppState,
) -> None:
    tenant, _ = await make_tenant(clean)
    deliveries = [[_lead(tenant.id, 10 * d + i) for i in range(1 + d % 3)] for d in range(40)]
    before = await _commits(clean)
    answers = await asyncio.gather(
        *(batching.ingest(clean, tenant_id=tenant.id, leads=d) for d in deliveries)
    )
    # Statistics reach pg_stat_database when a backend reports them: wait for them to settle.
    await asyncio.sleep(0.7)
    commits = await _commits(clean) - before
    assert commits < len(deliveries) // 2, f"{commits} commits for {len(deliveries)} deliveries"

    for delivery, answer in zip(deliveries, answers, strict=True):
        assert [a.lead_id for a in answer] == [lead.lead_id for lead in delivery]
        assert all(a.created and a.status == "accepted" for a in answer)
    stored = sum(len(d) for d in deliveries)
    queued = await clean.queues.depth()
    assert queued["intake"] == stored
    async with clean.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM leads")) == stored
    assert await half_leads(clean) == 0


async def test_a_failing_delivery_fails_alone(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    good = [[_lead(tenant.id, n)] for n in range(6)]
    # A row the database refuses (no such tenant: the foreign key fails the whole statement).
    stranger = _lead(tenant.id, 99)
    bad = [dataclasses.replace(stranger, row={**stranger.row, "tenant_id": str(uuid.uuid4())})]
    results = await asyncio.gather(
        *(
            batching.ingest(clean, tenant_id=tenant.id, leads=d)
            for d in [*good[:3], bad, *good[3:]]
        ),
        return_exceptions=True,
    )
    assert isinstance(results[3], asyncpg.ForeignKeyViolationError)
    for result in [*results[:3], *results[4:]]:
        assert not isinstance(result, BaseException), result
        assert result[0].created
    async with clean.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM leads")) == 6
    assert (await clean.queues.depth())["intake"] == 6


async def test_a_request_that_goes_away_does_not_stop_its_batch(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    lead = _lead(tenant.id, 1)
    waiting = asyncio.create_task(batching.ingest(clean, tenant_id=tenant.id, leads=[lead]))
    await asyncio.sleep(0)  # the batch has started
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    key = batching.process_job_key(lead.lead_id)
    for _ in range(200):
        if await intake_job_pending(clean, key):
            break
        await asyncio.sleep(0.05)
    assert await intake_job_pending(clean, key)
    async with clean.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM leads")) == 1


async def test_emergency_leads_take_the_urgent_lane(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    urgent = _lead(tenant.id, 1, message="Emergency: burst pipe, water everywhere")
    ordinary = _lead(tenant.id, 2, message="Quote for a new fence next spring")
    assert (urgent.priority, ordinary.priority) == ("emergency", "low")
    await batching.ingest(clean, tenant_id=tenant.id, leads=[urgent, ordinary])
    urgent_key = batching.process_job_key(urgent.lead_id)
    ordinary_key = batching.process_job_key(ordinary.lead_id)
    assert await clean.queues.job_pending("intake_urgent", urgent_key)
    assert not await clean.queues.job_pending("intake", urgent_key)
    assert await clean.queues.job_pending("intake", ordinary_key)
    assert not await clean.queues.job_pending("intake_urgent", ordinary_key)


async def test_ids_only_deliveries_are_fetched_on_their_own_lane(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    ids_only = _lead(tenant.id, 3, needs_fetch=True, natural_key="meta:123456")
    assert ids_only.status == "pending_fetch"
    await batching.ingest(clean, tenant_id=tenant.id, leads=[ids_only])
    key = batching.process_job_key(ids_only.lead_id)
    assert await clean.queues.job_pending("intake_fetch", key)
    assert not await clean.queues.job_pending("intake", key)
    assert not await clean.queues.job_pending("intake_urgent", key)
