"""A stand-in for the dialer's dial step, for end-to-end tests of emergency mode.

The dialer (telephony area) is not part of this build yet. What emergency mode must stop is
its dial step, which reads the platform switches from PostgreSQL in its own transaction right
before every dial (`platform.flags.read_flags`, as DESIGN.md and PHASE2 describe). This probe
does exactly that and then, instead of calling a carrier, records the dial in Redis (with the
process id and the time) and in the shared series the dashboard's dial counter reads. Held
work is recorded too, so a test can tell "held" from "never ran".

Run as a worker process: `python -m tests.e2e.dial_probe` with LEADWIRE_DATABASE_URL,
LEADWIRE_REDIS_URL and LEADWIRE_SECRET_KEY set; it serves the `high` queue until SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from saq import Worker

from leadwire.platform import flags, opsstats
from leadwire.platform.job_runner import classified
from leadwire.platform.settings import load_settings
from leadwire.platform.state import AppState, open_state
from leadwire.worker import drain

TASK = "dialer.dial"
QUEUE = "high"
DIALS_KEY = "leadwire:test:dials"
HELD_KEY = "leadwire:test:held"
READY_KEY = "leadwire:test:ready"


async def dial(ctx: dict[str, Any], *, lead_id: str, received_at: float) -> str:
    state: AppState = ctx["state"]
    async with state.sessions() as session:
        current = await flags.read_flags(session)
    stamp = f"{os.getpid()} {time.time():.6f} {lead_id}"
    if current.emergency is not None or current.queue_paused(QUEUE):
        await state.redis.rpush(HELD_KEY, stamp)  # type: ignore[misc]
        return "held"
    await state.redis.rpush(DIALS_KEY, stamp)  # type: ignore[misc]
    await opsstats.record_dial(
        state.redis,
        state.metrics,
        priority=QUEUE,
        received_to_dial_s=max(0.0, time.time() - received_at),
    )
    return "dialed"


def build_worker(state: AppState, *, concurrency: int = 4) -> Worker[Any]:
    async def startup(ctx: dict[str, Any]) -> None:
        ctx["state"] = state

    worker = Worker(
        state.queues[QUEUE],
        functions=[(TASK, classified(TASK, QUEUE, dial))],
        concurrency=concurrency,
        startup=[startup],
        dequeue_timeout=0.5,
        timers={"schedule": 1, "sweep": 600, "abort": 1, "worker_info": 600},
    )
    worker.SIGNALS = []
    return worker


async def serve() -> None:
    settings = load_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with open_state(settings) as state:
        worker = build_worker(state)
        run = asyncio.create_task(worker.start())
        for _ in range(500):  # let the start-up sweep pass (reference 9.3)
            if len(worker.tasks) >= 4:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        await state.redis.sadd(READY_KEY, str(os.getpid()))  # type: ignore[misc]
        await stop.wait()
        await drain([worker], grace_s=2)
        run.cancel()


if __name__ == "__main__":
    asyncio.run(serve())
