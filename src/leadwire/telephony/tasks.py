"""The dialer's SAQ tasks and cron, registered in `worker.py` by name.

* ``dialer.route`` (queue intake): the gate at stage "queue", then schedule the first dial.
* ``dialer.dial`` (queues emergency/high/medium/low): post the due attempt to the board, then
  dial from the board (work-stealing: any job dials the board's best ticket, not its own).
* ``dialer.dispatch`` (queue emergency, which every dial worker serves): a wake-up that dials
  from the board when capacity returns.
* cron ``dialer_sweep`` (queue maintenance, every 5 s): re-queue due work whose job is missing
  (same deterministic keys), recover dials that died without a CallSid (asking the provider
  first), reconcile calls that should have ended, reclaim expired slot leases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from saq import CronJob

from leadwire.platform.queues import DIAL_QUEUES, INTAKE, MAINTENANCE
from leadwire.platform.state import AppState
from leadwire.telephony import dialer, service


def _stopping(ctx: dict[str, Any]) -> Callable[[], bool]:
    """True once the SAQ worker running this job is shutting down."""
    worker = ctx.get("worker")
    event = getattr(worker, "event", None)
    return event.is_set if event is not None else (lambda: False)


def _state(ctx: dict[str, Any]) -> AppState:
    state: AppState = ctx["state"]
    service.install(state)
    return state


async def route(ctx: dict[str, Any], *, tenant_id: str, lead_id: str) -> None:
    await dialer.route_lead(_state(ctx), tenant_id=uuid.UUID(tenant_id), lead_id=uuid.UUID(lead_id))


async def dial(ctx: dict[str, Any], *, tenant_id: str, lead_id: str) -> None:
    state = _state(ctx)
    await dialer.make_eligible(state, tenant_id=uuid.UUID(tenant_id), lead_id=uuid.UUID(lead_id))
    await dialer.drain(state, stopping=_stopping(ctx))


async def dispatch(ctx: dict[str, Any]) -> None:
    await dialer.drain(_state(ctx), stopping=_stopping(ctx))


async def dialer_sweep(ctx: dict[str, Any]) -> None:
    await dialer.sweep(_state(ctx))


Task = Any

TASKS: dict[str, list[tuple[str, Task]]] = {
    INTAKE: [("dialer.route", route)],
    **{queue: [("dialer.dial", dial), ("dialer.dispatch", dispatch)] for queue in DIAL_QUEUES},
    MAINTENANCE: [],
}


def cron_jobs() -> list[CronJob[Any]]:
    return [CronJob(dialer_sweep, cron="* * * * * */5", unique=True, timeout=60)]
