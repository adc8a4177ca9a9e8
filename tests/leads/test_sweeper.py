"""`leads.sweep`: committed work whose job went missing is queued again; work whose job is
still held is left alone."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from leadwire.leads import sweeper
from leadwire.leads.sweeper import sweep_leads
from leadwire.leads.tasks import process, route_job_key
from leadwire.platform.queues import INTAKE_QUEUES, intake_queue
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from leadwire.worker import cron_jobs, registered_tasks
from tests.leads.checks import intake_job_pending, stored_leads
from tests.leads.deliveries import direct


async def _age(state: AppState, seconds: float) -> None:
    """Make every due lead due `seconds` ago (older than the sweeper's grace)."""
    async with state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE leads SET next_action_at = now() - make_interval(secs => :s)"),
            {"s": seconds},
        )


async def test_leads_whose_job_is_missing_are_queued_again(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    for n in range(3):
        assert (await direct(n, acme[1]).send(intake)).status_code == 202
    ctx = {"state": intake_state}
    await _age(intake_state, 10)
    assert await sweep_leads(ctx) == {"scanned": 3, "process": 0, "route": 0}  # all queued
    await intake_state.redis.flushdb()  # Redis lost them
    assert await sweep_leads(ctx) == {"scanned": 3, "process": 3, "route": 0}
    for lead in await stored_leads(intake_state):
        assert await intake_job_pending(intake_state, f"lead.process:{lead.id}")


async def test_fresh_leads_are_left_to_their_own_enqueue(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    await direct(1, acme[1]).send(intake)
    await intake_state.redis.flushdb()
    assert (await sweep_leads({"state": intake_state}))["scanned"] == 0  # within the grace


async def test_ready_leads_without_their_hand_off_are_routed(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    await direct(2, acme[1]).send(intake)
    [lead] = await stored_leads(intake_state)
    ctx = {"state": intake_state}
    await process(ctx, tenant_id=str(lead.tenant_id), lead_id=str(lead.id))
    await intake_state.redis.flushdb()
    await _age(intake_state, 10)
    assert await sweep_leads(ctx) == {"scanned": 1, "process": 0, "route": 1}
    assert await intake_job_pending(intake_state, route_job_key(lead.id))


async def test_the_sweeper_pages_through_a_backlog(
    intake: httpx.AsyncClient,
    intake_state: AppState,
    acme: tuple[Tenant, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sweeper, "PAGE", 2)
    for n in range(5):
        await direct(n, acme[1]).send(intake)
    await _age(intake_state, 10)
    leads = await stored_leads(intake_state)
    # The oldest leads' jobs are still queued; the newest ones' are gone.
    for lead in leads[3:]:
        lane = intake_queue(lead.priority)
        job = await intake_state.queues[lane].job(f"lead.process:{lead.id}")
        assert job is not None
        await intake_state.redis.delete(job.id)
        await intake_state.redis.zrem(f"saq:leadwire:{lane}:incomplete", job.id)
    assert await sweep_leads({"state": intake_state}) == {"scanned": 5, "process": 2, "route": 0}


def test_the_worker_runs_the_task_and_the_cron() -> None:
    def where(function: object) -> str:  # modules may be re-imported by other tests
        return f"{function.__module__}.{function.__qualname__}"  # type: ignore[attr-defined]

    for lane in INTAKE_QUEUES:
        intake = {name: where(fn) for name, fn in registered_tasks()[lane]}
        assert intake["leads.process"] == where(process)
    maintenance = {name: where(fn) for name, fn in registered_tasks()["maintenance"]}
    assert maintenance["leads.sweep"] == where(sweep_leads)
    [cron] = [c for c in cron_jobs() if where(c.function) == where(sweep_leads)]
    assert cron.cron == "* * * * * */3" and cron.unique
