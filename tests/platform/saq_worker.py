"""A real SAQ worker for tests: runs wrapped tasks on one queue of the test Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from saq import Job, Worker

from leadwire.platform.job_runner import Task, classified
from leadwire.platform.state import AppState
from leadwire.worker import drain


@asynccontextmanager
async def running_worker(
    state: AppState,
    queue: str,
    tasks: dict[str, Task],
    *,
    wrap: bool = True,
    context: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[Worker[Any]]:
    """Serve `tasks` (name -> function) on `queue` until the block ends."""
    functions = [(name, classified(name, queue, fn) if wrap else fn) for name, fn in tasks.items()]

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["state"] = state
        if context is not None:
            context(ctx)

    worker = Worker(
        state.queues[queue],
        functions=functions,
        startup=[startup],
        dequeue_timeout=0.1,
        # SAQ moves due scheduled jobs every `schedule` seconds; tests wait for retries.
        timers={"schedule": 1, "sweep": 600, "abort": 1, "worker_info": 600},
    )
    worker.SIGNALS = []
    run = asyncio.create_task(worker.start())
    # The worker sweeps its active list as it starts; a job dequeued in that instant can be
    # swept (reference 9.3), so let the first sweep finish before the test enqueues.
    for _ in range(500):
        if len(worker.tasks) >= 4:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    try:
        yield worker
    finally:
        await drain([worker], grace_s=5)
        run.cancel()


async def wait_for_job(
    state: AppState, queue: str, key: str, *, statuses: set[str], timeout_s: float = 10.0
) -> Job:
    """Poll the job until its status is one of `statuses`."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = await state.queues[queue].job(key)
        if job is not None and job.status in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {key} not in {statuses}: {job and job.status}")
        await asyncio.sleep(0.05)


async def scheduled_at(state: AppState, queue: str, key: str) -> float | None:
    """The epoch second SAQ will run the job at (its score in the queue's incomplete set)."""
    saq_queue = state.queues[queue]
    job_id = saq_queue.job_id(key)
    score = await state.redis.zscore(saq_queue._incomplete, job_id)  # type: ignore[attr-defined]
    return None if score is None else float(score)
