"""Two API processes and three workers behind one address behave as one.

`leadwire serve` with `LEADWIRE_API_WORKERS=2` (two uvicorn processes on one listening
socket), three `leadwire worker` processes and the scheduler, on the shared PostgreSQL and
Redis. Two tenants post their leads through the one address, and every limit is checked where
it matters, at the carrier:

* tenant `permin`: 8 calls a minute, 12 leads. Exactly 8 calls reach the carrier; the other
  4 wait, legitimately, on the dial board for the window to reopen (their tickets posted, a
  `dialer.dispatch` wake-up queued);
* tenant `slots`: 2 concurrent calls, 8 leads whose calls last about 2 s. The carrier never
  has more than 2 of its calls live at once, and does have 2;
* the account: 5 calls a second (`LEADWIRE_TWILIO_CPS`), never more in any second.

Every lead is stored once, nobody is called twice, and every lead not waiting on a limit ends
final. The slots are released by final callbacks that either API process may receive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import psutil
import pytest
from saq.job import Status

from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.board import ticket
from leadwire.telephony.runtime import board_of
from tests.chaos.deliveries import Provider, lead_body
from tests.chaos.ledger import (
    FINAL,
    assert_nothing_lost,
    assert_one_call_per_attempt,
    lead_rows,
    wait_until_final,
)
from tests.chaos.processes import log_tail, start_api, wait_for_workers
from tests.e2e.cluster import Cluster
from tests.helpers import make_tenant
from tests.telephony.helpers import dial_settings, phone

pytestmark = pytest.mark.slow

PER_MINUTE, PERMIN_LEADS = 8, range(0, 12)
SLOTS, SLOTS_LEADS = 2, range(100, 108)
CPS = 5
WORKERS = ("worker-1", "worker-2", "worker-3")


def most_in_a_window(instants_ms: list[int], window_ms: int) -> int:
    ordered = sorted(instants_ms)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window_ms:
            start += 1
        most = max(most, end - start + 1)
    return most


def most_at_once(spans: list[tuple[int, int]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    live = most = 0
    for _, step in edges:
        live += step
        most = max(most, live)
    return most


async def dispatch_pending(state: AppState) -> bool:
    """A `dialer.dispatch` wake-up is queued (they run on the emergency queue)."""
    async for job in state.queues["emergency"].iter_jobs(statuses=[Status.QUEUED]):
        if job.function == "dialer.dispatch":
            return True
    return False


ACKS = 'leadwire_http_requests_total{method="POST",route="/v1/leads",status="202"}'


async def acknowledged_per_process(client: httpx.AsyncClient, tries: int = 20) -> set[int]:
    """What the API processes' own /metrics say they acknowledged, each as one number (for
    the report only: the kernel hands a burst of connections to whichever process wakes, so
    how the leads were shared is up to chance)."""
    seen: set[int] = set()
    for _ in range(tries):
        for line in (await client.get("/metrics")).text.splitlines():
            if line.startswith(ACKS):
                seen.add(int(float(line.rsplit(" ", 1)[1])))
    return seen


async def test_two_apis_and_three_workers_hold_the_limits_as_one(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    _, permin_key = await make_tenant(
        clean,
        slug="permin",
        plan="enterprise",
        settings=dial_settings(limits={"calls_per_minute": PER_MINUTE, "priority_headroom_pct": 0}),
    )
    _, slots_key = await make_tenant(
        clean,
        slug="slots",
        plan="enterprise",
        settings=dial_settings(limits={"concurrent_calls": SLOTS, "priority_headroom_pct": 0}),
    )
    for n in PERMIN_LEADS:
        await simulator.set_override(clean, e164=phone(n), outcome="answered", duration_s=10)
    for n in SLOTS_LEADS:
        await simulator.set_override(clean, e164=phone(n), outcome="answered", duration_s=40)
    nodes = cluster(LEADWIRE_API_WORKERS="2", LEADWIRE_TWILIO_CPS=str(CPS))
    await start_api(nodes)
    children = psutil.Process(nodes.processes["api"].pid).children()
    servers = [p for p in children if "spawn_main" in " ".join(p.cmdline())]
    assert len(servers) == 2, "serve --workers 2 runs two API processes"
    for name in WORKERS:
        nodes.start_worker(name)
    nodes.start_worker("scheduler", queues="maintenance")
    await wait_for_workers(clean, nodes, queue="intake", count=len(WORKERS))

    fresh = httpx.Limits(max_keepalive_connections=0)  # a connection per request: both APIs serve
    async with httpx.AsyncClient(base_url=nodes.url, limits=fresh) as client:
        permin, slots = Provider(client, permin_key), Provider(client, slots_key)
        started = time.monotonic()
        await asyncio.gather(
            permin.deliver_all([lead_body(n, urgency="medium") for n in PERMIN_LEADS]),
            slots.deliver_all([lead_body(n, urgency="medium") for n in SLOTS_LEADS]),
        )
        split = await acknowledged_per_process(client)
    acknowledged = {**permin.acknowledged(), **slots.acknowledged()}
    assert len(acknowledged) == len(PERMIN_LEADS) + len(SLOTS_LEADS)

    slot_leads = set(slots.acknowledged().values())
    await wait_until_final(
        clean, slot_leads, timeout_s=40, diagnose=lambda: log_tail(nodes, *WORKERS)
    )
    permin_leads = set(permin.acknowledged().values())
    deadline = time.monotonic() + 20
    while True:  # the per-minute tenant: 8 final, the rest held back by its window
        rows = await lead_rows(clean)
        done = [i for i in permin_leads if rows[i].status in FINAL]
        if len(done) >= PER_MINUTE:
            break
        assert time.monotonic() < deadline, [rows[i].status for i in permin_leads]
        await asyncio.sleep(0.25)
    await asyncio.sleep(2)  # time for a call beyond the limit, were there one
    rows = await lead_rows(clean)
    assert_nothing_lost(acknowledged, rows)

    calls = await assert_one_call_per_attempt(clean, clean.redis)
    placed = await simulator.carrier_calls(clean.redis)
    numbers = {phone(n): "permin" for n in PERMIN_LEADS} | {phone(n): "slots" for n in SLOTS_LEADS}
    by_tenant = {name: [c for c in placed if numbers[c.to] == name] for name in ("permin", "slots")}
    assert len(by_tenant["permin"]) == PER_MINUTE, "calls a minute: not exceeded, not short"
    assert len(by_tenant["slots"]) == len(SLOTS_LEADS)
    spans = [
        (c.created_ms, (c.ended or {}).get("end_ms", c.natural_end_ms)) for c in by_tenant["slots"]
    ]
    assert most_at_once(spans) == SLOTS, "concurrent calls: not exceeded, and reached"
    assert most_in_a_window([c.created_ms for c in placed], 1000) <= CPS

    held = [i for i in permin_leads if rows[i].status not in FINAL]
    assert len(held) == len(PERMIN_LEADS) - PER_MINUTE
    board = board_of(clean)
    for lead_id in held:
        assert (rows[lead_id].status, rows[lead_id].attempts) == ("scheduled", 0)
        assert await board.has(ticket(lead_id, 1)), "a held lead waits on the board"
    assert await dispatch_pending(clean), "a wake-up is queued for when the window reopens"
    assert {rows[i].outcome for i in slot_leads} == {"connected"}
    per_api = [*sorted(split, reverse=True), 0]  # a process that acknowledged none has no line
    shared = " + ".join(map(str, per_api[:2])) if sum(split) == len(acknowledged) else "?"
    print(
        f"\n{len(acknowledged)} leads acknowledged ({shared} by the 2 API processes), "
        f"{len(calls)} calls from 3 workers in "
        f"{time.monotonic() - started:.1f} s; permin {len(by_tenant['permin'])}/min with "
        f"{len(held)} held, slots at most {most_at_once(spans)} at once, at most "
        f"{most_in_a_window([c.created_ms for c in placed], 1000)} calls in any second"
    )
