"""`Queues.enqueue_many`: many jobs in one Redis round trip, run by a real SAQ worker exactly as
if each had gone through `Queue.enqueue`."""

from __future__ import annotations

import asyncio
from typing import Any

from saq import Worker

from leadwire.platform.state import AppState


async def _run_until(state: AppState, ran: list[str], expected: int) -> None:
    async def task(ctx: dict[str, Any], *, lead_id: str, tenant_id: str) -> None:
        ran.append(f"{tenant_id}/{lead_id}")

    worker = Worker(state.queues["intake"], functions=[("test.batch", task)], dequeue_timeout=0.2)
    worker.SIGNALS = []
    run = asyncio.create_task(worker.start())
    try:
        for _ in range(300):
            if len(set(ran)) >= expected:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # and nothing else arrives
    finally:
        await worker.stop()
        run.cancel()


async def test_a_batch_is_queued_once_per_key_and_run_by_a_worker(clean: AppState) -> None:
    jobs = [(f"lead.process:{n}", {"lead_id": str(n), "tenant_id": "t1"}) for n in range(5)]
    # A key already pending through the ordinary path is skipped, like a repeat in the batch.
    assert await clean.queues.enqueue(
        "intake", "test.batch", job_key="lead.process:0", lead_id="0", tenant_id="t1"
    )
    assert await clean.queues.enqueue_many("intake", "test.batch", [*jobs, jobs[1]]) == 4
    assert await clean.queues.job_pending("intake", "lead.process:3")
    assert (await clean.queues.depth())["intake"] == 5

    ran: list[str] = []
    await _run_until(clean, ran, 5)
    # SAQ delivers at least once (its start-up sweep can re-run a job it sees mid-dequeue).
    assert set(ran) == {f"t1/{n}" for n in range(5)}


async def test_a_batch_survives_redis_forgetting_its_script(clean: AppState) -> None:
    a, b = (("a", {"lead_id": "a", "tenant_id": "t"}), ("b", {"lead_id": "b", "tenant_id": "t"}))
    assert await clean.queues.enqueue_many("intake", "test.batch", [a]) == 1
    await clean.redis.script_flush()
    assert await clean.queues.enqueue_many("intake", "test.batch", [b, a]) == 1
    ran: list[str] = []
    await _run_until(clean, ran, 2)
    assert set(ran) == {"t/a", "t/b"}


async def test_an_empty_batch_costs_nothing(clean: AppState) -> None:
    assert await clean.queues.enqueue_many("intake", "test.batch", []) == 0
