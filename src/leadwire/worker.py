"""Every SAQ task and cron job, registered by explicit name, and the worker process.

One process runs one SAQ `Worker` per queue it serves (one queue per kind of work and per dial
priority). On SIGTERM/SIGINT every worker stops taking jobs, lets running jobs finish within
the grace period, and SAQ re-queues any job it had to cancel; every task is idempotent, so a
re-run is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from saq import CronJob, Worker

from leadwire.leads import fingerprints
from leadwire.leads import sweeper as leads_sweeper
from leadwire.leads import tasks as leads_tasks
from leadwire.platform import escalation
from leadwire.platform.job_runner import classified
from leadwire.platform.observability import Metrics, metrics_http_server
from leadwire.platform.queues import (
    DIAL_QUEUES,
    INTAKE,
    INTAKE_FETCH,
    INTAKE_QUEUES,
    INTAKE_URGENT,
    MAINTENANCE,
    QUEUE_NAMES,
    SWEEP_S,
)
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState, open_state
from leadwire.services import register_services
from leadwire.telephony import tasks as telephony_tasks

log = logging.getLogger("leadwire.worker")

Task = Callable[..., Awaitable[Any]]

HEARTBEAT_KEY = "leadwire:workers:heartbeat"


def state_of(ctx: dict[str, Any]) -> AppState:
    state: AppState = ctx["state"]
    return state


async def heartbeat(ctx: dict[str, Any]) -> None:
    """Record that this worker process is alive (read by system-health)."""
    state = state_of(ctx)
    await state.redis.hset(HEARTBEAT_KEY, ctx["worker_name"], str(time.time()))  # type: ignore[misc]


def registered_tasks() -> dict[str, list[tuple[str, Task]]]:
    """Queue name -> [(task name, function)]. Areas' task modules are listed here explicitly."""
    tasks: dict[str, list[tuple[str, Task]]] = {name: [] for name in QUEUE_NAMES}
    tasks[MAINTENANCE].append(("platform.heartbeat", heartbeat))
    tasks[MAINTENANCE].append((escalation.DELIVER_TASK, escalation.deliver_task))
    tasks[INTAKE].append(("leads.process", leads_tasks.process))
    tasks[MAINTENANCE].append(("leads.sweep", leads_sweeper.sweep_leads))
    for queue, entries in telephony_tasks.TASKS.items():
        tasks[queue].extend(entries)
    # The intake lanes run the same tasks (leads.process, dialer.route).
    for lane in INTAKE_QUEUES:
        tasks[lane] = list(tasks[INTAKE])
    # Every task runs in the failure policy: classify, retry by class, dead-letter, escalate.
    return {q: [(n, classified(n, q, fn)) for n, fn in fns] for q, fns in tasks.items()}


def cron_jobs() -> list[CronJob[Any]]:
    return [
        CronJob(heartbeat, cron="* * * * * */10", unique=True, timeout=10),
        CronJob(escalation.sweep_task, cron="* * * * *", unique=True, timeout=30),
        CronJob(leads_sweeper.sweep_leads, cron=leads_sweeper.CRON, unique=True, timeout=60),
        CronJob(fingerprints.purge_fingerprints, cron=fingerprints.CRON, unique=True, timeout=300),
        *telephony_tasks.cron_jobs(),
    ]


def build_workers(
    state: AppState,
    *,
    queues: Sequence[str],
    concurrency: int,
    worker_name: str,
) -> list[Worker[Any]]:
    tasks = registered_tasks()
    workers: list[Worker[Any]] = []

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["state"] = state
        ctx["worker_name"] = worker_name

    for name in queues:
        functions = tasks[name]
        if not functions and name != MAINTENANCE:
            continue
        worker = Worker(
            state.queues[name],
            functions=functions,
            concurrency=concurrency if name != MAINTENANCE else 2,
            cron_jobs=cron_jobs() if name == MAINTENANCE else None,
            startup=startup,
            # The sweep re-queues jobs whose worker died (see platform.queues: heartbeats).
            timers={"schedule": 1, "sweep": SWEEP_S, "abort": 1, "worker_info": 10},
            shutdown_grace_period_s=20,
            dequeue_timeout=1.0,
        )
        worker.SIGNALS = []  # this process owns the signals and stops every worker together
        workers.append(worker)
    return workers


GRACE_S = 20.0


async def drain(workers: Sequence[Worker[Any]], *, grace_s: float) -> None:
    """Stop taking jobs, let running jobs finish (up to `grace_s`), then stop.

    SAQ's `stop()` waits its grace period on every task it owns, including its upkeep loops,
    which sleep for up to the sweep timer; so we end those loops first (setting the event makes
    them return when cancelled) and let the grace period apply to the jobs alone. A job still
    running at the deadline is cancelled and SAQ re-queues it.
    """
    for worker in workers:
        worker._shutdown_grace_period_s = int(grace_s)
        worker.event.set()
        for task in list(worker.tasks):
            if task.get_name() != "process":
                task.cancel()
    await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)


WORKER_QUEUES = (*INTAKE_QUEUES, *DIAL_QUEUES)
SCHEDULER_QUEUES = (MAINTENANCE,)
# What a process serves (`leadwire worker --role`). `all` is everything but the cron; at scale
# the dialer runs apart from the bulk of intake, so a flood of ordinary leads never shares an
# event loop (nor, given a lower CPU priority to the intake processes, a CPU) with dialing:
# `dialer` serves the dial queues and the emergency intake lane, `intake` the ordinary lane and
# the fetches of ids-only deliveries. On one machine, where the intake processes get a lower
# CPU priority, the fetches (whose urgency is unknown until fetched; a fetch job finishes only
# the leads it finds urgent and hands the rest to the ordinary lane) run apart from both, at
# normal priority: `fetch` serves them alone and `bulk` the ordinary lane alone.
ROLES: dict[str, tuple[str, ...]] = {
    "all": WORKER_QUEUES,
    "dialer": (INTAKE_URGENT, *DIAL_QUEUES),
    "intake": (INTAKE_FETCH, INTAKE),
    "fetch": (INTAKE_FETCH,),
    "bulk": (INTAKE,),
    "scheduler": SCHEDULER_QUEUES,
}


async def run_worker(
    settings: Settings,
    *,
    queues: Sequence[str] = QUEUE_NAMES,
    concurrency: int = 10,
    metrics_port: int | None = None,
) -> None:
    """Serve `queues` until SIGTERM/SIGINT. With a metrics port (`metrics_port`, else
    `LEADWIRE_WORKER_METRICS_PORT`; 0 is off) the process's own series are served on it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker_name = f"{socket.gethostname()}:{os.getpid()}"
    metrics = Metrics()
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    with metrics_http_server(metrics, host=settings.worker_metrics_host, port=port) as serving:
        if serving:
            log.info("worker metrics on /metrics", extra={"port": serving})
        await _serve(
            settings,
            queues=queues,
            concurrency=concurrency,
            metrics=metrics,
            worker_name=worker_name,
            stop=stop,
        )


async def _serve(
    settings: Settings,
    *,
    queues: Sequence[str],
    concurrency: int,
    metrics: Metrics,
    worker_name: str,
    stop: asyncio.Event,
) -> None:
    async with open_state(settings, metrics=metrics) as state:
        register_services(state)
        workers = build_workers(
            state, queues=queues, concurrency=concurrency, worker_name=worker_name
        )
        runs = [asyncio.create_task(w.start(), name=f"saq:{w.queue.name}") for w in workers]
        log.info("worker ready", extra={"queues": list(queues), "worker": worker_name})
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *runs], return_when=asyncio.FIRST_COMPLETED)
        log.info("worker stopping", extra={"worker": worker_name})
        await drain(workers, grace_s=GRACE_S)
        for run in runs:
            run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*runs, return_exceptions=True)
        waiter.cancel()
        failed = [t for t in done if t is not waiter and t.exception() is not None]
        with contextlib.suppress(Exception):
            await state.redis.hdel(HEARTBEAT_KEY, worker_name)  # type: ignore[misc]
        if failed:
            raise RuntimeError(f"worker stopped on an error: {failed[0].exception()}")
