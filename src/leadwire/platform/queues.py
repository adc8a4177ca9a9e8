"""Queues: SAQ on Redis, one queue per kind of work.

`intake` (fetch, enrich, gate) with its lanes for emergency leads (`intake_urgent`) and for
the fetch of ids-only deliveries (`intake_fetch`), the four dial priorities, and `maintenance`
(cron: sweeper, expiries). Jobs take IDs and carry the tenant; they are enqueued after commit
with a deterministic key so duplicates collapse (SAQ refuses a key already queued or active).

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
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError
from saq import Queue
from saq.job import Job, Status
from saq.queue.redis import RedisQueue
from saq.utils import now

INTAKE = "intake"
# The intake hops (process, route) of emergency leads: a lane of their own, so a flood of
# ordinary leads never stands between an emergency and its dial.
INTAKE_URGENT = "intake_urgent"
# The fetch of ids-only deliveries (Meta, HubSpot events), whose urgency is unknown until their
# fields arrive: they wait behind other fetches only, never behind the ordinary backlog.
INTAKE_FETCH = "intake_fetch"
INTAKE_QUEUES = (INTAKE_URGENT, INTAKE_FETCH, INTAKE)
MAINTENANCE = "maintenance"
DIAL_QUEUES = ("emergency", "high", "medium", "low")
QUEUE_NAMES = (*INTAKE_QUEUES, *DIAL_QUEUES, MAINTENANCE)
JOB_HEARTBEAT_S = 10
SWEEP_S = 5
SWEEP_ABORT_WAIT_S = 1.0


def intake_queue(priority: str | None) -> str:
    """The intake lane of a lead's work, by its current priority."""
    return INTAKE_URGENT if priority == "emergency" else INTAKE


def dial_queue(priority: str) -> str:
    if priority not in DIAL_QUEUES:
        raise ValueError(f"unknown priority {priority!r}")
    return priority


# SAQ's own enqueue script (saq 0.26, `RedisQueue._enqueue`): a job is stored and queued unless
# its key is already incomplete or being aborted. `enqueue_batch` sends it for many jobs in one
# pipeline; tests/platform/test_queue_batches.py runs such jobs through a real SAQ worker, so a
# SAQ upgrade that changes the layout fails there.
_ENQUEUE_SCRIPT = """
if not redis.call('ZSCORE', KEYS[1], KEYS[2]) and redis.call('EXISTS', KEYS[4]) == 0 then
    redis.call('SET', KEYS[2], ARGV[1])
    redis.call('ZADD', KEYS[1], ARGV[2], KEYS[2])
    if ARGV[2] == '0' then redis.call('RPUSH', KEYS[3], KEYS[2]) end
    return 1
else
    return nil
end
"""


class BatchingRedisQueue(RedisQueue):
    """A SAQ Redis queue that can also enqueue many jobs in one round trip, and whose sweep
    does not wait 5 s per job on a dead worker (see the module docstring)."""

    _batch_sha: str | None = None

    async def sweep(self, lock: int = 60, abort: float = SWEEP_ABORT_WAIT_S) -> list[str]:
        return await super().sweep(lock, abort)

    async def enqueue_batch(self, jobs: Sequence[Job]) -> list[bool]:
        """Enqueue `jobs` (each as `Queue.enqueue` would) in one pipeline; for each, whether it
        was new (False: a job with its key is already pending)."""
        if not jobs:
            return []
        stamp = now()
        for job in jobs:
            job.queue = self
            job.queued = stamp
            job.status = Status.QUEUED
            await self._before_enqueue(job)
        payloads = [self.serialize(job) for job in jobs]
        for attempt in (1, 2):
            if self._batch_sha is None or attempt == 2:
                # Redis forgets scripts when it restarts: load it again and resend (the script
                # is idempotent per key, so a resend cannot queue a job twice).
                self._batch_sha = str(await self.redis.script_load(_ENQUEUE_SCRIPT))
            async with self.redis.pipeline(transaction=False) as pipe:
                for job, payload in zip(jobs, payloads, strict=True):
                    keys = (self._incomplete, job.id, self._queued, job.abort_id)
                    pipe.evalsha(self._batch_sha, 4, *keys, payload, job.scheduled)
                answers = await pipe.execute(raise_on_error=False)
            if not any(isinstance(a, NoScriptError) for a in answers):
                break
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return [bool(answer) for answer in answers]


def _job_options(job_key: str, timeout_s: int, max_tries: int, heartbeat_s: int) -> dict[str, Any]:
    """The SAQ job fields every enqueue sets the same way."""
    return {"key": job_key, "timeout": timeout_s, "retries": max_tries, "heartbeat": heartbeat_s}


class Queues:
    """The named SAQ queues over one Redis client."""

    def __init__(self, redis: Redis, *, prefix: str = "leadwire") -> None:
        self.redis = redis
        self.prefix = prefix
        self._queues: dict[str, BatchingRedisQueue] = {
            name: BatchingRedisQueue(redis, name=f"{prefix}:{name}") for name in QUEUE_NAMES
        }

    def __getitem__(self, name: str) -> BatchingRedisQueue:
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
        options = _job_options(job_key, timeout_s, max_tries, heartbeat_s)
        if run_at is not None and run_at > dt.datetime.now(dt.UTC):
            # A job due now goes straight to the queue: a scheduled one waits for a worker's
            # schedule poll, up to a second later.
            options["scheduled"] = int(run_at.timestamp())
        job = await self._queues[queue].enqueue(task, **options, **kwargs)
        return job is not None

    async def enqueue_many(
        self,
        queue: str,
        task: str,
        jobs: Sequence[tuple[str, dict[str, Any]]],
        *,
        timeout_s: int = 60,
        max_tries: int = 3,
        heartbeat_s: int = JOB_HEARTBEAT_S,
    ) -> int:
        """Enqueue `task` once per (job key, kwargs) in one Redis round trip; returns how many
        were new (a key already pending is skipped, as `enqueue` does)."""
        built = [
            Job(
                function=task, kwargs=kwargs, **_job_options(key, timeout_s, max_tries, heartbeat_s)
            )
            for key, kwargs in jobs
        ]
        return sum(await self._queues[queue].enqueue_batch(built))

    async def job_pending(self, queue: str, job_key: str) -> bool:
        job = await self._queues[queue].job(job_key)
        return job is not None and job.status in ("new", "queued", "active")

    async def job_pending_on_any(self, queues: Sequence[str], job_key: str) -> bool:
        """Whether a job with `job_key` is pending on any of `queues` (a lead's work may sit on
        another intake lane than its current priority's)."""
        return any([await self.job_pending(queue, job_key) for queue in queues])

    async def depth(self) -> dict[str, int]:
        return {name: await q.count("incomplete") for name, q in self._queues.items()}
