"""Concurrent deliveries share one ingest statement and one enqueue round trip.

An API process serves many deliveries at once. Stored one at a time, every lead pays a pool
checkout, a statement, a commit (a WAL flush) and a Redis round trip of its own. Here each
delivery's prepared leads join a batch: what arrives while earlier batches are being stored
waits for the next one, so nothing waits on a timer (a lone delivery goes at once) and a busy
process stores many leads per commit. The batch is one `leadwire_ingest_batch` statement (one
transaction), then one pipeline of `leads.process` jobs for the new leads that are due; every
delivery in it is answered after both, as when it was stored alone.

A delivery whose leads make the batch's statement fail must not fail the others: a failed batch
is retried one delivery at a time, so each gets its own result or its own error.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadwire.leads import repository
from leadwire.leads.abuse import REDIS_ERRORS, redis_health
from leadwire.leads.records import PreparedLead
from leadwire.leads.repository import Ingested
from leadwire.platform.jobs import job_key
from leadwire.platform.queues import INTAKE_FETCH, INTAKE_QUEUES, intake_queue
from leadwire.platform.state import AppState

__all__ = [
    "MAX_BATCH_LEADS",
    "MAX_IN_FLIGHT",
    "PROCESS_TASK",
    "ingest",
    "process_job_key",
    "process_lane",
]

log = logging.getLogger("leadwire.leads")

PROCESS_TASK = "leads.process"
# Batches being stored at once per process. Few, so that batches form under load; each holds
# one pooled connection.
MAX_IN_FLIGHT = 4
# Leads per statement: a batch closes at the first delivery that would take it past this.
MAX_BATCH_LEADS = 200


def process_job_key(lead_id: uuid.UUID | str) -> str:
    return job_key("lead.process", lead_id)


def process_lane(status: str, priority: str) -> str:
    """The queue of a lead's `leads.process` job. An ids-only delivery (`pending_fetch`: Meta,
    HubSpot events) carries no words to judge its urgency by until the fetch brings them, so
    it is fetched on its own lane, behind other fetches only; once fetched, the lead is routed
    on its priority's lane."""
    return INTAKE_FETCH if status == "pending_fetch" else intake_queue(priority)


@dataclass(slots=True)
class _Delivery:
    tenant_id: uuid.UUID
    leads: Sequence[PreparedLead]
    answer: asyncio.Future[list[Ingested]]


class _Batcher:
    def __init__(self, state: AppState) -> None:
        self._state = state
        self.loop = asyncio.get_running_loop()
        # A quarter of the pool stays free for the tenant and API-key lookups of a burst.
        self._in_flight = max(1, min(MAX_IN_FLIGHT, state.settings.db_pool_size * 3 // 4))
        self._waiting: deque[_Delivery] = deque()
        self._flushing: set[asyncio.Task[None]] = set()

    async def ingest(self, tenant_id: uuid.UUID, leads: Sequence[PreparedLead]) -> list[Ingested]:
        answer: asyncio.Future[list[Ingested]] = self.loop.create_future()
        self._waiting.append(_Delivery(tenant_id, leads, answer))
        if len(self._flushing) < self._in_flight:
            task = asyncio.create_task(self._flush())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        # The batch completes even if this request goes away: its leads are committed and must
        # be queued either way.
        return await asyncio.shield(answer)

    async def _flush(self) -> None:
        while self._waiting:
            batch = self._take()
            try:
                await self._store(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _fail(batch[0], exc)
                    continue
                for delivery in batch:
                    try:
                        await self._store([delivery])
                    except Exception as single:
                        _fail(delivery, single)
            except BaseException as exc:  # cancelled at shutdown: nobody is left unanswered
                for delivery in batch:
                    _fail(delivery, exc)
                raise

    def _take(self) -> list[_Delivery]:
        batch: list[_Delivery] = []
        size = 0
        while self._waiting:
            count = len(self._waiting[0].leads)
            if batch and size + count > MAX_BATCH_LEADS:
                break
            batch.append(self._waiting.popleft())
            size += count
        return batch

    async def _store(self, batch: Sequence[_Delivery]) -> None:
        # One order for every batch (the natural key or fingerprint each lead claims), so that
        # concurrent batches take their row locks in the same order and never deadlock.
        entries = sorted(
            ((d, i, lead) for d in batch for i, lead in enumerate(d.leads)),
            key=lambda entry: entry[2].order_key,
        )
        async with self._state.engine.connect() as conn:
            stored = await repository.ingest_many(
                conn,
                rows=[lead.row for _, _, lead in entries],
                events=[lead.event for _, _, lead in entries],
            )
        answers: dict[int, list[Ingested | None]] = {id(d): [None] * len(d.leads) for d in batch}
        due: list[tuple[uuid.UUID, uuid.UUID, str]] = []
        for (delivery, index, lead), ingested in zip(entries, stored, strict=True):
            answers[id(delivery)][index] = ingested
            if ingested.created and lead.due:
                due.append(
                    (delivery.tenant_id, ingested.lead_id, process_lane(lead.status, lead.priority))
                )
        if due:
            await _enqueue_processing(self._state, due)
        for delivery in batch:
            if not delivery.answer.done():
                delivery.answer.set_result([a for a in answers[id(delivery)] if a is not None])


def _fail(delivery: _Delivery, exc: BaseException) -> None:
    if not delivery.answer.done():
        delivery.answer.set_exception(exc)


async def _enqueue_processing(
    state: AppState, due: Sequence[tuple[uuid.UUID, uuid.UUID, str]]
) -> None:
    """Queue `leads.process` for committed leads (tenant, lead, lane), a round trip per lane.
    When Redis is down or slow they stay due in PostgreSQL (`next_action_at`) for the sweeper."""
    lanes: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for tenant_id, lead_id, lane in due:
        lanes.setdefault(lane, []).append(
            (process_job_key(lead_id), {"tenant_id": str(tenant_id), "lead_id": str(lead_id)})
        )
    for queue in INTAKE_QUEUES:  # the urgent lane first
        jobs = lanes.get(queue)
        if not jobs:
            continue
        if not redis_health.available():
            return
        try:
            await redis_health.call(state.queues.enqueue_many(queue, PROCESS_TASK, jobs))
        except REDIS_ERRORS as exc:
            log.warning(
                "enqueue failed; the sweeper will queue the leads",
                extra={"leads": len(jobs), "error": repr(exc)},
            )
            return


_SERVICE = "leads.ingest_batcher"


async def ingest(
    state: AppState, *, tenant_id: uuid.UUID, leads: Sequence[PreparedLead]
) -> list[Ingested]:
    """Store one delivery's prepared leads (committed on return, in the order given) and queue
    the new ones that are due; batched with whatever else this process is storing."""
    batcher = state.services.get(_SERVICE)
    if not isinstance(batcher, _Batcher) or batcher.loop is not asyncio.get_running_loop():
        batcher = state.services[_SERVICE] = _Batcher(state)
    return await batcher.ingest(tenant_id, leads)
