"""Queues: SAQ on Redis, one queue per kind of work.

`intake` (fetch, enrich, gate), the four dial priorities, and `maintenance` (cron: sweeper,
expiries). Jobs take IDs and carry the tenant; they are enqueued after commit with a
deterministic key so duplicates collapse (SAQ refuses a key already queued or active).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from redis.asyncio import Redis
from saq import Queue
from saq.queue.redis import RedisQueue

INTAKE = "intake"
MAINTENANCE = "maintenance"
DIAL_QUEUES = ("emergency", "high", "medium", "low")
QUEUE_NAMES = (INTAKE, *DIAL_QUEUES, MAINTENANCE)


def dial_queue(priority: str) -> str:
    if priority not in DIAL_QUEUES:
        raise ValueError(f"unknown priority {priority!r}")
    return priority


class Queues:
    """The named SAQ queues over one Redis client."""

    def __init__(self, redis: Redis, *, prefix: str = "leadwire") -> None:
        self.redis = redis
        self.prefix = prefix
        self._queues: dict[str, Queue] = {
            name: RedisQueue(redis, name=f"{prefix}:{name}") for name in QUEUE_NAMES
        }

    def __getitem__(self, name: str) -> Queue:
        return self._queues[name]

    def items(self) -> list[tuple[str, Queue]]:
        return list(self._queues.items())

    async def enqueue(
        self,
        queue: str,
        task: str,
        *,
        job_key: str,
        run_at: dt.datetime | None = None,
        timeout_s: int = 60,
        max_tries: int = 3,
        **kwargs: Any,
    ) -> bool:
        """Enqueue `task` on `queue`; False when a job with `job_key` is already pending."""
        options: dict[str, Any] = {"key": job_key, "timeout": timeout_s, "retries": max_tries}
        if run_at is not None:
            options["scheduled"] = int(run_at.timestamp())
        job = await self._queues[queue].enqueue(task, **options, **kwargs)
        return job is not None

    async def job_pending(self, queue: str, job_key: str) -> bool:
        job = await self._queues[queue].job(job_key)
        return job is not None and job.status in ("new", "queued", "active")

    async def depth(self) -> dict[str, int]:
        return {name: await q.count("incomplete") for name, q in self._queues.items()}
