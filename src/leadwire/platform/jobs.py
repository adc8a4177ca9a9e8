"""Units of work that enqueue only after commit, and job keys.

Services never commit and never enqueue directly: they call `enqueue_after_commit(session,
...)`, and `unit_of_work` enqueues once the transaction has committed. An enqueue that fails
then (Redis down, process killed) loses nothing: the row is committed with a due
`next_action_at`, and the maintenance sweeper re-queues whatever is due but not queued.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.platform.state import AppState

log = logging.getLogger("leadwire.jobs")

_PENDING = "leadwire.after_commit"

AfterCommit = Callable[[], Awaitable[None]]
"""What a caller of a unit of work runs once it has committed (posting to Redis, say)."""


@dataclass(frozen=True)
class PendingJob:
    queue: str
    task: str
    job_key: str
    run_at: dt.datetime | None = None
    timeout_s: int = 60
    kwargs: dict[str, Any] = field(default_factory=dict)


def job_key(kind: str, *parts: object) -> str:
    """Deterministic job keys, e.g. job_key("lead.process", lead_id) -> "lead.process:<id>"."""
    return ":".join([kind, *(str(p) for p in parts)])


def enqueue_after_commit(
    session: AsyncSession,
    *,
    queue: str,
    task: str,
    job_key: str,
    run_at: dt.datetime | None = None,
    timeout_s: int = 60,
    **kwargs: Any,
) -> None:
    pending: list[PendingJob] = session.info.setdefault(_PENDING, [])
    pending.append(PendingJob(queue, task, job_key, run_at, timeout_s, kwargs))


async def flush_enqueues(state: AppState, jobs: list[PendingJob]) -> int:
    """Enqueue committed work; returns how many could not be queued (the sweeper will)."""
    failed = 0
    for job in jobs:
        try:
            await state.queues.enqueue(
                job.queue,
                job.task,
                job_key=job.job_key,
                run_at=job.run_at,
                timeout_s=job.timeout_s,
                **job.kwargs,
            )
        except Exception as exc:  # Redis down: committed work waits for the sweeper
            failed += 1
            log.warning(
                "enqueue failed; the sweeper will re-queue",
                extra={"task": job.task, "job_key": job.job_key, "error": type(exc).__name__},
            )
    return failed


@asynccontextmanager
async def unit_of_work(state: AppState) -> AsyncIterator[AsyncSession]:
    """A session that commits on success and then enqueues what it registered."""
    async with state.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        jobs: list[PendingJob] = session.info.pop(_PENDING, [])
    if jobs:
        await flush_enqueues(state, jobs)
