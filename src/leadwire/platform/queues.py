"""Queues: SAQ on Redis, one queue per kind of work.

`intake` (fetch, enrich, gate), the four dial priorities, and `maintenance` (cron: sweeper,
expiries). Jobs take IDs and carry the tenant; they are enqueued after commit with a
deterministic key so duplicates collapse (SAQ refuses a key already queued or active).

A job whose worker died (`kill -9`, out of memory, a lost node) is run again within about
`JOB_HEARTBEAT_S + SWEEP_S` seconds, plus a second per job that worker held:

* every job carries a heartbeat, and the job runner touches a running job every few seconds,
  so SAQ's sweep (every `SWEEP_S` on each worker) sees a job nobody touches as stuck after
  `JOB_HEARTBEAT_S`, not after its whole timeout (a minute or more, during which its key also
  keeps the leads' sweeper from queueing the work again);
* the sweep marks each stuck job aborting and waits for its worker to acknowledge before
  running it again, one job after the other. SAQ waits 5 s per job; a dead worker never
  acknowledges, so a worker killed holding ten jobs would hold them 50 s more. We wait
  `SWEEP_ABORT_WAIT_S`, the period at which a live worker looks for aborts.

The sweep also catches, now and then, a job in the instant between a worker taking it and
marking it active (reference 9.3): it runs twice. Every task is idempotent for that reason;
sweeping every few seconds makes it more frequent than SAQ's default of 60 s, which we trade
for leads that move on within seconds after a crash.
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
JOB_HEARTBEAT_S = 10
SWEEP_S = 5
SWEEP_ABORT_WAIT_S = 1.0


def dial_queue(priority: str) -> str:
    if priority not in DIAL_QUEUES:
        raise ValueError(f"unknown priority {priority!r}")
    return priority


class _Queue(RedisQueue):
    """SAQ's Redis queue, with a sweep that does not wait 5 s per job on a dead worker."""

    async def sweep(self, lock: int = 60, abort: float = SWEEP_ABORT_WAIT_S) -> list[str]:
        return await super().sweep(lock, abort)


class Queues:
    """The named SAQ queues over one Redis client."""

    def __init__(self, redis: Redis, *, prefix: str = "leadwire") -> None:
        self.redis = redis
        self.prefix = prefix
        self._queues: dict[str, Queue] = {
            name: _Queue(redis, name=f"{prefix}:{name}") for name in QUEUE_NAMES
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
        heartbeat_s: int = JOB_HEARTBEAT_S,
        **kwargs: Any,
    ) -> bool:
        """Enqueue `task` on `queue`; False when a job with `job_key` is already pending."""
        options: dict[str, Any] = {
            "key": job_key,
            "timeout": timeout_s,
            "retries": max_tries,
            "heartbeat": heartbeat_s,
        }
        if run_at is not None:
            options["scheduled"] = int(run_at.timestamp())
        job = await self._queues[queue].enqueue(task, **options, **kwargs)
        return job is not None

    async def job_pending(self, queue: str, job_key: str) -> bool:
        job = await self._queues[queue].job(job_key)
        return job is not None and job.status in ("new", "queued", "active")

    async def depth(self) -> dict[str, int]:
        return {name: await q.count("incomplete") for name, q in self._queues.items()}
