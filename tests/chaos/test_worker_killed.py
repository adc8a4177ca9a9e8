"""Chaos: `kill -9` of the only worker while intake jobs and dials are in flight.

A real API, one worker and the scheduler. A first batch of leads goes out to be dialed; the
carrier answers each POST /Calls 2 s after creating the call (`api_latency_s`), so dials stay
in flight. Then a second batch of 60 leads arrives in one delivery, and the moment the worker
has taken some of their `leads.process` jobs it is killed with SIGKILL: jobs die half done,
calls exist at the carrier whose CallSid we never stored, and more leads wait in the queue.
A new worker starts. Every lead must end final, and nobody may be called twice: the attempts
that died without a CallSid are found again at the carrier (`find_call`) once their dial
lease has passed, never dialed a second time. The jobs the dead worker held are run again
once their heartbeat lapses (`platform.queues.JOB_HEARTBEAT_S`).

Two waits are longer than this test and are kept out of it on purpose. A ticket the dead
worker had *claimed* on the dial board comes back when the claim's lease expires (60 s,
`board.CLAIM_LEASE_MS`); claims last only the dial transaction, so the kill is timed for when
none is held, and the wait is extended to the lease if one was. And the simulated carrier
posts its callbacks from the process that placed the call, so a call still live in the killed
worker would be left to the sweeper's reconcile minutes later; its answer therefore comes
after the call has ended (calls last about a second at this time scale). Twilio posts
callbacks itself, so production has no such gap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from leadwire.platform.queues import INTAKE_QUEUES
from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.board import CLAIM_LEASE_MS, PREFIX
from tests.chaos.deliveries import Provider, lead_body
from tests.chaos.ledger import (
    assert_nothing_lost,
    assert_one_call_per_attempt,
    call_rows,
    wait_until_final,
)
from tests.chaos.processes import log_tail, start_api, wait_for_workers
from tests.e2e.cluster import Cluster
from tests.helpers import make_tenant
from tests.telephony.helpers import dial_settings, phone

pytestmark = pytest.mark.slow

FIRST = range(0, 20)
SECOND = range(100, 160)


async def dials_in_flight(state: AppState) -> int:
    """Attempts recorded and at the carrier, whose CallSid we do not have yet."""
    placed = {call.to for call in await simulator.carrier_calls(state.redis)}
    return sum(
        1
        for call in await call_rows(state)
        if call.provider_call_id is None and call.to_number in placed
    )


async def intake_jobs_taken(state: AppState) -> int:
    """Intake jobs a worker has taken (SAQ's active lists of both intake lanes)."""
    return sum([await state.queues[lane].count("active") for lane in INTAKE_QUEUES])


async def test_a_worker_killed_mid_job_loses_no_lead_and_calls_nobody_twice(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    _, key = await make_tenant(clean, slug="acme", plan="enterprise", settings=dial_settings())
    for n in (*FIRST, *SECOND):
        await simulator.set_override(
            clean, e164=phone(n), outcome="answered", duration_s=10, api_latency_s=2.0
        )
    nodes = cluster()
    await start_api(nodes)
    nodes.start_worker("doomed")
    nodes.start_worker("scheduler", queues="maintenance")
    await wait_for_workers(clean, nodes, queue="intake", count=1)

    async with httpx.AsyncClient(base_url=nodes.url) as client:
        provider = Provider(client, key)
        await provider.deliver_all([lead_body(n) for n in FIRST])
        deadline = time.monotonic() + 20
        # Every first-batch attempt recorded (no claim left), some still at the carrier.
        while len(await call_rows(clean)) < len(FIRST) or await dials_in_flight(clean) < 3:
            assert time.monotonic() < deadline, log_tail(nodes, "doomed")
            await asyncio.sleep(0.05)

        second = asyncio.create_task(provider.deliver_batch([lead_body(n) for n in SECOND]))
        deadline = time.monotonic() + 10
        while await intake_jobs_taken(clean) == 0:
            assert time.monotonic() < deadline, "the worker never took an intake job"
            await asyncio.sleep(0.002)
        nodes.kill("doomed")
        killed = time.monotonic()
        taken = await intake_jobs_taken(clean)
        in_flight = await dials_in_flight(clean)
        claims_lost = await clean.redis.zcard(f"{PREFIX}claimed")
        await second
        nodes.start_worker("survivor")

        acknowledged = provider.acknowledged()
        assert len(acknowledged) == len(FIRST) + len(SECOND)
        rows = await wait_until_final(
            clean,
            acknowledged.values(),
            timeout_s=45 + (CLAIM_LEASE_MS / 1000 if claims_lost else 0),
            diagnose=lambda: log_tail(nodes, "survivor", "scheduler"),
        )
    assert_nothing_lost(acknowledged, rows)
    assert {row.outcome for row in rows.values()} == {"connected"}
    calls = await assert_one_call_per_attempt(clean, clean.redis)
    recovered = [call for call in calls if call.dispatch.get("recovered")]
    # Dials that died without their CallSid were found at the carrier, not placed again
    # (others learnt theirs from a callback the carrier had already sent).
    assert in_flight > 0 and recovered
    print(
        f"\nkilled holding {taken} intake jobs, {in_flight} dials in flight and "
        f"{claims_lost} board claims; "
        f"{len(recovered)} attempts found again at the carrier; all "
        f"{len(acknowledged)} leads final {time.monotonic() - killed:.1f} s after the kill"
    )
