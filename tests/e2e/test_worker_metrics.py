"""A `leadwire worker` process serves its own Prometheus series: the ones its jobs recorded
(dials, the speed-to-lead histogram, job errors) live in its memory, not in the API's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from leadwire.platform.errors import ErrorClass
from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from tests.e2e.cluster import Cluster, free_port
from tests.e2e.feed import scrape, total
from tests.telephony.helpers import dial_tenant, make_lead, phone, route_job

pytestmark = pytest.mark.slow


async def test_a_worker_process_serves_the_series_its_jobs_recorded(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    tenant = await dial_tenant(clean)
    number = phone(4100)
    await simulator.set_override(clean, e164=number, outcome="answered", duration_s=30)
    nodes = cluster(LEADWIRE_TWILIO_CPS="10", LEADWIRE_SIMULATOR_TIME_SCALE="0.02")
    port = free_port()
    nodes.start_api()
    nodes.start_worker("worker-1", metrics_port=port)
    url = f"http://127.0.0.1:{port}/metrics"

    started = time.monotonic()
    while True:  # the endpoint is up before the worker takes jobs
        try:
            before = await scrape(url)
            break
        except httpx.HTTPError:
            assert time.monotonic() - started < 60, nodes.tail("worker-1")
            await asyncio.sleep(0.2)
    assert before[("leadwire_up", frozenset())] == 1.0

    lead_id = await make_lead(clean, tenant, number=number, priority="high")
    await route_job(clean, lead_id, tenant)
    # And a job that fails (a lead id that is not one): the job wrapper classifies and counts it.
    await clean.queues.enqueue(
        "intake", "dialer.route", job_key="broken", tenant_id=str(tenant.id), lead_id="nope"
    )
    high = frozenset({("priority", "high")})
    while True:
        after = await scrape(url)
        placed = total(after, "leadwire_dialer_dials_total", priority="high", result="placed")
        if placed == 1.0 and total(after, "leadwire_errors_total") >= 1.0:
            break
        assert time.monotonic() - started < 60, nodes.tail("worker-1")
        await asyncio.sleep(0.25)

    # The speed-to-lead histogram the first dial recorded, in this process.
    assert after[("leadwire_speed_to_lead_seconds_count", high)] == 1.0
    assert 0 < after[("leadwire_speed_to_lead_seconds_sum", high)] < 30
    [(_, labels)] = [k for k, v in after.items() if k[0] == "leadwire_errors_total" and v]
    assert dict(labels)["error_class"] in {e.value for e in ErrorClass}
    assert all(name.startswith("leadwire_") for name, _ in after)
    # The API's endpoint does not carry them: it never dialed.
    api = await scrape(f"{nodes.url}/metrics")
    assert api.get(("leadwire_speed_to_lead_seconds_count", high), 0.0) == 0.0
    assert [e for e in nodes.errors() if "dialer.route" not in e] == []
