"""`leads.sweep`: queue committed lead work whose job went missing.

A lead is acknowledged once PostgreSQL has it; the enqueue that follows can fail (Redis down,
the process killed between commit and enqueue, a Redis flush). Every lead whose work is due
carries `next_action_at`, so this cron (queue `maintenance`, every `INTERVAL_S` seconds) finds
the leads due for longer than `GRACE_S` and queues their job when none is pending:

* `pending_fetch` / `accepted` -> `leads.process` (its plain key, or the fetch retry's key
  derived from `next_action_at`);
* `ready` -> `dialer.route` (the hand-off to telephony, by name).

A job that failed is left alone while SAQ keeps its record (10 minutes), which spaces out
re-runs of work that keeps failing. Pages through every due lead (oldest first), so a backlog
of leads whose jobs are merely waiting does not hide the ones whose jobs are gone.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from saq.job import Status

from leadwire.leads import repository
from leadwire.leads.batching import PROCESS_TASK, process_job_key, process_lane
from leadwire.leads.models import LeadStatus
from leadwire.leads.tasks import ROUTE_TASK, retry_job_key, route_job_key
from leadwire.platform.db import utcnow
from leadwire.platform.queues import INTAKE_QUEUES, intake_queue
from leadwire.platform.state import AppState

__all__ = ["CRON", "GRACE_S", "INTERVAL_S", "sweep_leads"]

log = logging.getLogger("leadwire.leads")

INTERVAL_S = 3
CRON = f"* * * * * */{INTERVAL_S}"
GRACE_S = 2.0
PAGE = 500
MAX_PER_RUN = 20_000
_STATUSES = (LeadStatus.PENDING_FETCH.value, LeadStatus.ACCEPTED.value, LeadStatus.READY.value)
# Job states that mean "the work is (or will be) handled": leave the lead alone.
_HELD = frozenset({Status.NEW, Status.QUEUED, Status.ACTIVE, Status.ABORTING, Status.FAILED})

Row = tuple[uuid.UUID, uuid.UUID, str, str, dt.datetime | None]


def _keys(row: Row) -> list[str]:
    _, lead_id, status, _, due_at = row
    if status == LeadStatus.READY.value:
        return [route_job_key(lead_id)]
    keys = [process_job_key(lead_id)]
    if due_at is not None:
        keys.append(retry_job_key(lead_id, due_at))
    return keys


async def _held(state: AppState, keys: Sequence[str]) -> set[str]:
    """The keys whose job is still held by SAQ on either intake lane (one MGET per lane for
    the whole page: a lead's priority may have changed since its job was queued)."""
    held: set[str] = set()
    if not keys:
        return held
    for lane in INTAKE_QUEUES:
        jobs = await state.queues[lane].jobs(keys)
        held.update(k for k, job in zip(keys, jobs, strict=True) if job and job.status in _HELD)
    return held


async def sweep_leads(ctx: dict[str, Any]) -> dict[str, int]:
    """The cron job (its SAQ name is the function's, `sweep_leads`)."""
    state: AppState = ctx["state"]
    before = utcnow() - dt.timedelta(seconds=GRACE_S)
    counts = {"scanned": 0, "process": 0, "route": 0}
    after: tuple[dt.datetime, uuid.UUID] | None = None
    while counts["scanned"] < MAX_PER_RUN:
        async with state.sessions() as session:
            rows = await repository.due_leads(
                session, statuses=_STATUSES, before=before, limit=PAGE, after=after
            )
        if not rows:
            break
        counts["scanned"] += len(rows)
        keys = [key for row in rows for key in _keys(row)]
        held = await _held(state, keys)
        for row in rows:
            if held.intersection(_keys(row)):
                continue
            tenant_id, lead_id, status, priority, _ = row
            ready = status == LeadStatus.READY.value
            await state.queues.enqueue(
                intake_queue(priority) if ready else process_lane(status, priority),
                ROUTE_TASK if ready else PROCESS_TASK,
                job_key=route_job_key(lead_id) if ready else process_job_key(lead_id),
                tenant_id=str(tenant_id),
                lead_id=str(lead_id),
            )
            counts["route" if ready else "process"] += 1
        last = rows[-1]
        if len(rows) < PAGE or last[4] is None:
            break
        after = (last[4], last[1])
    if counts["process"] or counts["route"]:
        log.info("sweeper queued lead work that had no job", extra=counts)
    return counts
