"""Must show: emergency mode set through the admin API stops dialing on two worker processes
within one second (measured), holds the work, and expires by itself at its duration.

Real processes: `leadwire serve`, two `leadwire worker`s running the real dialer with the
simulated carrier, and the scheduler, on the test's PostgreSQL and Redis; dialable leads
arrive all along. The stop latency is measured where it matters, at the carrier: from the
moment the API answered the PUT to the last call any worker placed, by the simulated
carrier's own record of the calls it created. Each worker's own /metrics shows that both
dialed before and both held work after. Figures: printed, and test-artifacts/
emergency-stop-latency.json.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from leadwire.leads.models import Lead, LeadEvent
from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.models import Call
from tests.e2e.cluster import Cluster, free_port
from tests.e2e.feed import placed_at, scrape, steady_leads, total
from tests.helpers import admin_headers
from tests.telephony.helpers import dial_tenant

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STOP_WITHIN_S = 1.0
DURATION_S = 4
WORKERS = ("worker-1", "worker-2")

pytestmark = pytest.mark.slow


async def wait_until(check: Callable[[], Awaitable[bool]], *, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} within {within_s} s")


async def decided_before(state: AppState, answered_at: float) -> list[tuple[float, float]]:
    """(when its dial transaction began, when the carrier created it) of each call the carrier
    created after `answered_at`."""
    created = {
        c.sid: c.created_ms / 1000
        for c in await simulator.carrier_calls(state.redis)
        if c.created_ms / 1000 > answered_at
    }
    async with state.sessions() as session:
        rows = await session.execute(
            select(Call.started_at, Call.provider_call_id).where(Call.provider_call_id.in_(created))
        )
        found = [(started.timestamp(), created[sid]) for started, sid in rows.all()]
    assert len(found) == len(created)
    return sorted(found)


async def placing_holds(state: AppState) -> int:
    """Calls decided before the switch and held right before the provider."""
    async with state.sessions() as session:
        rows = await session.execute(
            select(func.count()).where(
                LeadEvent.kind == "dialer.held", LeadEvent.data["stage"].astext == "place"
            )
        )
        return int(rows.scalar_one())


async def describe(state: AppState, numbers: set[str], until: float) -> str:
    """Where the leads to these numbers stand (for a failure message)."""
    async with state.sessions() as session:
        rows = await session.execute(
            select(Lead.phone_e164, Lead.status, Lead.next_action_at, Lead.attempts).where(
                Lead.phone_e164.in_(numbers)
            )
        )
        found = [
            f"{phone} {status} next={at.timestamp() - until if at else None:.2f}s after until "
            f"attempts={attempts}"
            for phone, status, at, attempts in rows.all()
        ]
    return f"{len(numbers)} held leads not dialed: " + "; ".join(found)


async def test_emergency_stops_two_worker_processes_within_a_second_and_expires(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    tenant = await dial_tenant(clean)
    # A fast account (calls leave 22 ms apart at most) and short calls, so that dialing is
    # steady and slots free up quickly.
    nodes = cluster(LEADWIRE_TWILIO_CPS="50", LEADWIRE_SIMULATOR_TIME_SCALE="0.02")
    ports = {name: free_port() for name in WORKERS}
    nodes.start_api()
    for name in WORKERS:
        nodes.start_worker(name, metrics_port=ports[name])
    nodes.start_worker("scheduler", queues="maintenance")

    async def series(name: str, metric: str, **labels: str) -> float:
        return total(await scrape(f"http://127.0.0.1:{ports[name]}/metrics"), metric, **labels)

    async def placed_by(name: str) -> float:
        return await series(name, "leadwire_dialer_dials_total", result="placed")

    async def held_by(name: str) -> float:
        return await series(name, "leadwire_dialer_held_total", reason="emergency_mode")

    async with (
        steady_leads(clean, tenant, every_s=0.2) as feed,
        httpx.AsyncClient(base_url=nodes.url, headers=admin_headers()) as api,
    ):

        async def both_dialing() -> bool:
            try:
                return all([await placed_by(name) > 0 for name in WORKERS])
            except httpx.HTTPError:
                return False  # a worker's endpoint is not up yet

        await wait_until(both_dialing, within_s=60, what="both worker processes were not dialing")
        held_before = {name: await held_by(name) for name in WORKERS}

        sent_at = time.time()
        response = await api.put(
            "/v1/admin/emergency",
            json={"reason": "e2e: carrier incident", "duration_s": DURATION_S},
        )
        answered_at = time.time()
        assert response.status_code == 200, response.text
        until = dt.datetime.fromisoformat(response.json()["until"]).timestamp()

        # Both processes go on taking dial jobs and hold them: alive, just not dialing.
        async def both_holding() -> bool:
            return all([await held_by(name) > held_before[name] for name in WORKERS])

        await wait_until(both_holding, within_s=DURATION_S - 1, what="both workers did not hold")
        await asyncio.sleep(max(0.0, answered_at + 2.0 - time.time()))
        calls = await placed_at(clean)
        last_dial = max(at for at, _ in calls)
        stop_latency = last_dial - answered_at  # negative: nothing was placed after the answer
        late = await decided_before(clean, answered_at)
        assert stop_latency <= STOP_WITHIN_S, (stop_latency, late)
        assert last_dial < until
        # A call placed after the answer can only be one decided before the switch (its dial
        # transaction had begun) whose last look at the switches, right before the provider,
        # came before the switch too.
        assert all(decided < answered_at for decided, _ in late), late

        # It expires by itself: dials resume at `until` without anyone switching it off, and
        # the work held meanwhile goes out then (held, never dropped).
        async def resumed() -> bool:
            return any(at >= until for at, _ in await placed_at(clean))

        await wait_until(resumed, within_s=DURATION_S + 10, what="dialing did not resume")
        during_emergency = feed.numbers_between(answered_at, until)
        assert len(during_emergency) >= 8, "leads did not keep arriving during the emergency"
        # Every lead fed before the expiry is dialed: held work goes out, none is dropped
        # (calls held right before the provider come back through the scheduler's sweeper).
        fed = feed.numbers_between(0, until)

        async def held_work_dialed() -> bool:
            return fed <= {to for _, to in await placed_at(clean)}

        try:
            await wait_until(held_work_dialed, within_s=20, what="the held leads were not dialed")
        except AssertionError:
            missing = fed - {to for _, to in await placed_at(clean)}
            raise AssertionError(await describe(clean, missing, until)) from None
        emergency = (await api.get("/v1/admin/emergency")).json()
        held_at_placing = await placing_holds(clean)

    calls = await placed_at(clean)
    during = [at for at, _ in calls if answered_at + STOP_WITHIN_S < at < until]
    assert during == []  # not one call while emergency mode was on
    resume_delay = min(at for at, _ in calls if at >= until) - until
    assert resume_delay <= 2.0, resume_delay
    assert emergency == {"active": False}
    figures = {
        "workers": len(WORKERS),
        "put_round_trip_s": round(answered_at - sent_at, 4),
        "stop_latency_s": round(stop_latency, 4),
        "calls_placed_after_the_answer": len(late),
        "their_decision_before_the_answer_s": [round(answered_at - d, 4) for d, _ in late],
        "calls_before_the_switch": sum(at <= answered_at for at, _ in calls),
        "leads_fed_during_the_emergency": len(during_emergency),
        "held_right_before_the_provider": held_at_placing,
        "duration_s": DURATION_S,
        "resume_after_expiry_s": round(resume_delay, 4),
    }
    print(f"emergency stop: {json.dumps(figures)}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "emergency-stop-latency.json").write_text(json.dumps(figures, indent=2))
    assert nodes.errors() == []
