"""Chaos: Redis stopped, and started again empty, while leads are acknowledged and queued.

The cluster (API, worker, scheduler) runs on a Valkey of this test's own, without persistence,
so stopping it loses every key: the queued jobs, the dial board, the rate windows. PostgreSQL
is the session's. Two batches of leads:

* A, medium priority, acknowledged and routed before the outage: each waits in Redis as a dial
  job due 12 s after the lead arrived (the tenant's `dial_delays_s.medium`). Those jobs are lost.
* B, emergency, posted while Redis is down: intake still answers 202 (the leads are committed
  with `next_action_at`), and nothing can be queued.

When Redis is back, empty, the sweepers on the scheduler (`leads.sweep`, `dialer_sweep`) find
the committed work without a job and queue it again from PostgreSQL: every B lead is picked up
within 10 s, every A lead is dialed when due, and every lead ends final, called once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from leadwire.platform.embedded import EmbeddedValkey
from leadwire.platform.jobs import job_key
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState, open_state
from leadwire.telephony import simulator
from tests.chaos.deliveries import Provider, lead_body
from tests.chaos.ledger import (
    assert_nothing_lost,
    assert_one_call_per_attempt,
    lead_rows,
    wait_until_final,
)
from tests.chaos.processes import log_tail, start_api
from tests.e2e.cluster import Cluster
from tests.helpers import make_tenant
from tests.telephony.helpers import dial_settings, phone

pytestmark = pytest.mark.slow

BATCH_A = range(0, 10)
BATCH_B = range(100, 110)


async def answered_everywhere(state: AppState) -> None:
    """The carrier answers every number (its overrides live in the Redis that gets lost)."""
    for n in (*BATCH_A, *BATCH_B):
        await simulator.set_override(state, e164=phone(n), outcome="answered", duration_s=20)


async def statuses(state: AppState, ids: set[str]) -> dict[str, str]:
    rows = await lead_rows(state)
    return {lead_id: rows[lead_id].status for lead_id in ids if lead_id in rows}


async def test_redis_restarted_empty_loses_no_lead(
    clean: AppState,
    settings: Settings,
    own_valkey: EmbeddedValkey,
    cluster: Callable[..., Cluster],
) -> None:
    _, key = await make_tenant(
        clean, slug="acme", plan="enterprise", settings=dial_settings(dial_delays_s={"medium": 12})
    )
    ours = settings.model_copy(update={"redis_url": own_valkey.url})
    nodes = cluster(LEADWIRE_REDIS_URL=own_valkey.url)
    async with open_state(ours) as redis_side, httpx.AsyncClient(base_url=nodes.url) as client:
        await answered_everywhere(redis_side)
        await start_api(nodes)
        nodes.start_worker("worker")
        nodes.start_worker("scheduler", queues="maintenance")
        provider = Provider(client, key)

        first = await provider.deliver_all([lead_body(n, urgency="medium") for n in BATCH_A])
        batch_a = {d.lead_id for d in first if d.lead_id}
        assert len(batch_a) == len(BATCH_A)
        deadline = time.monotonic() + 20
        while set((await statuses(clean, batch_a)).values()) != {"scheduled"}:
            assert time.monotonic() < deadline, await statuses(clean, batch_a)
            await asyncio.sleep(0.2)
        for lead_id in batch_a:  # waiting in Redis, as dial jobs due later
            assert await redis_side.queues.job_pending("medium", job_key("lead.dial", lead_id, 1))

        port = own_valkey.port
        await asyncio.to_thread(own_valkey.stop)
        down = time.monotonic()
        second = await provider.deliver_all([lead_body(n) for n in BATCH_B])
        acked_while_down = time.monotonic() - down
        # Acknowledged at the first try: intake does not wait for Redis.
        assert [[a.status for a in d.answers] for d in second] == [[202]] * len(BATCH_B)
        batch_b = {d.lead_id for d in second if d.lead_id}
        assert await statuses(clean, batch_b) == dict.fromkeys(batch_b, "accepted")
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["postgresql"] == "ok"
        await asyncio.sleep(max(0.0, 3 - (time.monotonic() - down)))

        await asyncio.to_thread(own_valkey.start, port=port)
        back = time.monotonic()
        assert await redis_side.redis.dbsize() == 0  # every job is gone
        await answered_everywhere(redis_side)
        while "accepted" in (await statuses(clean, batch_b)).values():
            assert time.monotonic() - back < 10, "B leads not picked up 10 s after Redis came back"
            await asyncio.sleep(0.1)
        picked_up = time.monotonic() - back
        assert (await client.get("/readyz")).status_code == 200

        rows = await wait_until_final(
            clean,
            batch_a | batch_b,
            timeout_s=40,
            diagnose=lambda: log_tail(nodes, "worker", "scheduler"),
        )
        assert_nothing_lost(provider.acknowledged(), rows)
        assert {rows[i].outcome for i in batch_a | batch_b} == {"connected"}, rows
        await assert_one_call_per_attempt(clean, redis_side.redis)
        print(
            f"\n{len(BATCH_B)} leads acknowledged in {acked_while_down:.2f} s with Redis down; "
            f"picked up {picked_up:.1f} s after it came back; all final "
            f"{time.monotonic() - back:.1f} s after"
        )
