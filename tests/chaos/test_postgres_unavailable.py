"""Chaos: PostgreSQL unavailable for 5 s while leads arrive.

Every process of the cluster (API, worker, scheduler) reaches PostgreSQL through a TCP proxy
this test controls (`CuttableProxy`), rather than a PostgreSQL of its own stopped with pg_ctl:
the session's server keeps running for everything else, the outage starts and ends at an
exact instant, and cutting also resets the connections already pooled, which a clean
shutdown would close politely. For the processes it is the same as the server going away:
connections reset, new ones refused.

An ad platform posts a lead every 0.15 s throughout. While the database is away the API must
answer 503 in the contract's error shape with `Retry-After`, and never a 2xx for a lead it did
not commit; the platform retries each 503'd delivery after `Retry-After`, and those retries
succeed once the database is back. Then: every acknowledged lead is stored exactly once under
the id its 2xx named, nothing else is stored, the API is ready again by itself (its pool
reconnects; `/readyz` 200), and every lead ends final.

The leads are `high` priority with a 10 s dial delay, so no call is live during the outage:
a call's final status callback refused then is not retried by the carrier (Twilio retries a
webhook once, on connection failures) and the lead would wait for the sweeper's reconcile,
minutes later. What a callback gets during the outage is checked on its own: 503 with
`Retry-After`, never a 2xx for an event that was not stored.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.engine import make_url

from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from leadwire.telephony import simulator, urls
from leadwire.telephony.signatures import SIGNATURE_HEADER, sign
from tests.chaos.deliveries import Provider, lead_body
from tests.chaos.ledger import (
    assert_nothing_lost,
    assert_one_call_per_attempt,
    wait_until_final,
)
from tests.chaos.processes import log_tail, start_api, wait_for_workers
from tests.chaos.tcp_proxy import CuttableProxy, to_tcp, to_unix
from tests.e2e.cluster import Cluster
from tests.helpers import error_of, make_tenant
from tests.telephony.helpers import dial_settings, phone

pytestmark = pytest.mark.slow

LEADS = 40
OUTAGE_S = 5.0


@pytest.fixture
async def postgres_proxy(settings: Settings) -> AsyncIterator[tuple[CuttableProxy, str]]:
    """A proxy in front of the session's PostgreSQL, and the database URL through it."""
    assert settings.database_url
    url = make_url(settings.database_url)
    socket_dir = url.query.get("host")
    if url.host is None and isinstance(socket_dir, str):
        proxy = CuttableProxy(to_unix(f"{socket_dir}/.s.PGSQL.{url.port or 5432}"))
    else:
        assert url.host
        proxy = CuttableProxy(to_tcp(url.host, url.port or 5432))
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port, query={})
    try:
        yield proxy, proxied.render_as_string(hide_password=False)
    finally:
        await proxy.close()


async def status_callback(
    client: httpx.AsyncClient, settings: Settings, url: str
) -> httpx.Response:
    """A Twilio status callback, signed as Twilio (here, the simulated carrier) signs it."""
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": "CA" + "0" * 32,
        "CallStatus": "ringing",
        "SequenceNumber": "1",
        "CallbackSource": "call-progress-events",
    }
    target = urls.status_callback_url(url)
    signature = sign(auth_token=settings.twilio_signing_token, url=target, params=params)
    return await client.post(target, data=params, headers={SIGNATURE_HEADER: signature})


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    response = await client.get("/readyz", timeout=5)
    return response.status_code, response.json().get("checks", {})


async def test_postgres_away_for_5_s_is_503_then_every_retry_lands(
    clean: AppState,
    postgres_proxy: tuple[CuttableProxy, str],
    cluster: Callable[..., Cluster],
) -> None:
    proxy, database_url = postgres_proxy
    _, key = await make_tenant(
        clean, slug="acme", plan="enterprise", settings=dial_settings(dial_delays_s={"high": 10})
    )
    for n in range(LEADS):
        await simulator.set_override(clean, e164=phone(n), outcome="answered", duration_s=20)
    nodes = cluster(LEADWIRE_DATABASE_URL=database_url)
    await start_api(nodes)
    nodes.start_worker("worker")
    nodes.start_worker("scheduler", queues="maintenance")
    # The outage is for running processes: one that cannot reach PostgreSQL at start stops
    # with one line (and its supervisor starts it again), which is not what this test is about.
    await wait_for_workers(clean, nodes, queue="intake", count=1)
    await wait_for_workers(clean, nodes, queue="maintenance", count=1)

    async with httpx.AsyncClient(base_url=nodes.url) as client:
        provider = Provider(client, key, give_up_s=40)
        sending = asyncio.create_task(
            provider.deliver_all([lead_body(n, urgency="high") for n in range(LEADS)], every_s=0.15)
        )
        await asyncio.sleep(1.0)
        await proxy.cut()
        cut_at = time.monotonic()
        await asyncio.sleep(0.5)
        status, checks = await readiness(client)
        assert status == 503 and checks["postgresql"].startswith("unavailable"), checks
        assert checks["redis"] == "ok"
        callback = await status_callback(client, clean.settings, nodes.url)
        assert callback.status_code == 503, callback.text
        assert error_of(callback)["code"] == "service_unavailable"
        assert callback.headers["retry-after"] == "5"
        await asyncio.sleep(OUTAGE_S - (time.monotonic() - cut_at))
        await proxy.restore()
        back = time.monotonic()
        while (await readiness(client))[0] != 200:
            assert time.monotonic() - back < 10, "the API is not ready 10 s after PostgreSQL"
            await asyncio.sleep(0.1)
        ready_after = time.monotonic() - back
        await sending

    answers = provider.answers()
    refused = [a for a in answers if a.status == 503]
    assert refused, "no delivery met the outage"
    for answer in refused:  # the contract's error shape, with Retry-After
        assert answer.body is not None and set(answer.body) == {"error"}, answer.body
        assert answer.body["error"]["code"] == "service_unavailable"
        assert answer.retry_after == "5"
    assert {a.status for a in answers} <= {200, 202, 503}, Counter(a.status for a in answers)
    for delivery in provider.deliveries.values():
        assert delivery.lead_id is not None, f"{delivery.external_id} never acknowledged"
        last = delivery.answers[-1]
        assert last.body is not None
        # A 200 says "already stored": only a retry may hear it (its first try was committed
        # although its answer was a 503).
        assert last.status == 202 or (len(delivery.answers) > 1 and last.status == 200), delivery
    acknowledged = provider.acknowledged()
    assert len(acknowledged) == LEADS

    rows = await wait_until_final(
        clean,
        acknowledged.values(),
        timeout_s=40,
        diagnose=lambda: log_tail(nodes, "worker", "scheduler"),
    )
    assert_nothing_lost(acknowledged, rows)
    assert {row.outcome for row in rows.values()} == {"connected"}
    await assert_one_call_per_attempt(clean, clean.redis)
    retried = Counter(len(d.answers) for d in provider.deliveries.values())
    print(
        f"\n{len(refused)} answers 503 during the {OUTAGE_S:.0f} s outage; deliveries by tries "
        f"{dict(sorted(retried.items()))}; /readyz 200 {ready_after:.1f} s after PostgreSQL "
        "came back; every lead final"
    )
