"""Queues on the real Redis with a real SAQ worker."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from saq import Worker

from leadwire.platform.queues import DIAL_QUEUES, INTAKE_FETCH, INTAKE_URGENT, QUEUE_NAMES
from leadwire.platform.state import AppState
from leadwire.worker import ROLES, build_workers, drain


async def test_same_job_key_collapses_while_pending(clean: AppState) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert await clean.queues.enqueue("low", "x.task", job_key="lead:1", run_at=later, lead_id="1")
    assert not await clean.queues.enqueue(
        "low", "x.task", job_key="lead:1", run_at=later, lead_id="1"
    )
    assert await clean.queues.job_pending("low", "lead:1")
    depth = await clean.queues.depth()
    assert set(depth) == set(QUEUE_NAMES)
    assert depth["low"] == 1


async def test_worker_runs_a_job_and_drains_on_stop(clean: AppState) -> None:
    ran: list[dict[str, Any]] = []
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_task(ctx: dict[str, Any], *, lead_id: str) -> None:
        started.set()
        await release.wait()
        ran.append({"lead_id": lead_id, "state": ctx["state"] is clean})

    worker = Worker(
        clean.queues["intake"], functions=[("test.slow", slow_task)], dequeue_timeout=0.2
    )
    worker.SIGNALS = []

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["state"] = clean

    worker.startup = [startup]
    run = asyncio.create_task(worker.start())
    await clean.queues.enqueue("intake", "test.slow", job_key="k1", lead_id="L1")
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(drain([worker], grace_s=10))
    await asyncio.sleep(0.2)
    assert not stopping.done(), "drain must wait for the running job"
    release.set()
    await asyncio.wait_for(stopping, 10)
    run.cancel()
    assert ran == [{"lead_id": "L1", "state": True}]


def test_build_workers_serves_the_named_queues(state: AppState) -> None:
    workers = build_workers(state, queues=["maintenance"], concurrency=2, worker_name="t")
    assert [w.queue.name for w in workers] == ["leadwire:maintenance"]
    assert workers[0].cron_jobs


async def test_a_job_due_now_is_queued_at_once_and_a_later_one_waits(clean: AppState) -> None:
    now = dt.datetime.now(dt.UTC)
    assert await clean.queues.enqueue("high", "x.task", job_key="due", run_at=now, lead_id="1")
    assert await clean.queues.enqueue(
        "high", "x.task", job_key="later", run_at=now + dt.timedelta(minutes=5), lead_id="2"
    )
    queued = await clean.redis.lrange("saq:leadwire:high:queued", 0, -1)
    # Only the due job is in the list workers take from; the later one waits in the schedule.
    assert queued == [b"saq:job:leadwire:high:due"]


def test_the_worker_roles_split_the_worker_queues() -> None:
    """Run apart, a dialer and an intake process (or a fetch and a bulk process) serve every
    queue `all` serves, each once; the emergency lane and the dial queues are the dialer's."""
    dialer, intake = set(ROLES["dialer"]), set(ROLES["intake"])
    assert dialer | intake == set(ROLES["all"]) and not dialer & intake
    assert {INTAKE_URGENT, *DIAL_QUEUES} == dialer
    fetch, bulk = set(ROLES["fetch"]), set(ROLES["bulk"])
    assert fetch | bulk == intake and not fetch & bulk
    assert fetch == {INTAKE_FETCH}
