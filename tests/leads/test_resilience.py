"""Zero loss when a server fails: Redis stopped during intake (a dedicated Valkey, stopped and
started again), PostgreSQL unreachable (nothing acknowledged, 503 with Retry-After)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from leadwire.platform import db
from leadwire.platform.embedded import EmbeddedValkey
from leadwire.platform.state import AppState, open_state
from leadwire.tenants.models import Tenant
from leadwire.worker import build_workers, drain
from tests.helpers import error_of
from tests.leads.checks import (
    client_for,
    intake_job_pending,
    intake_settings,
    lead_count,
    stored_leads,
    with_settings,
)
from tests.leads.deliveries import direct, salesforce, zapier


@pytest.mark.slow
async def test_redis_stopped_during_intake_loses_nothing(
    clean: AppState, acme: tuple[Tenant, str], own_valkey: EmbeddedValkey
) -> None:
    _, key = acme
    settings = intake_settings(clean.settings, redis_url=own_valkey.url)
    async with open_state(settings) as state, client_for(state) as client:
        assert (await direct(0, key).send(client)).status_code == 202
        port = own_valkey.port
        await asyncio.to_thread(own_valkey.stop)

        started = time.monotonic()
        responses = [await direct(n, key).send(client) for n in range(1, 11)]
        assert [r.status_code for r in responses] == [202] * 10
        assert time.monotonic() - started < 8, "acknowledgements must not wait for Redis"
        assert await lead_count(state) == 11

        await asyncio.to_thread(own_valkey.start, port=port)  # empty: every job is gone
        back = time.monotonic()
        workers = build_workers(state, queues=["maintenance"], concurrency=2, worker_name="t")
        runs = [asyncio.create_task(w.start()) for w in workers]
        try:
            leads = await stored_leads(state)
            missing = {lead.id for lead in leads}
            while missing and time.monotonic() - back < 10:
                await asyncio.sleep(0.25)
                missing = {
                    lead_id
                    for lead_id in missing
                    if not await intake_job_pending(state, f"lead.process:{lead_id}")
                }
            assert not missing, f"{len(missing)} leads not queued 10 s after Redis came back"
            print(f"every lead queued {time.monotonic() - back:.1f} s after Redis came back")
        finally:
            await drain(workers, grace_s=2)
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)


async def test_postgres_unavailable_is_503_and_nothing_is_acknowledged(
    clean: AppState, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    dead = db.create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/leadwire", pool_size=1)
    broken = dataclasses.replace(
        with_settings(clean), engine=dead, sessions=db.create_sessionmaker(dead)
    )
    try:
        # Cold: even finding the tenant or the API key needs PostgreSQL.
        async with client_for(broken) as client:
            for d in (zapier(1), direct(1, key)):
                response = await d.send(client)
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
                assert error_of(response)["code"] == "service_unavailable"
            soap = await salesforce(1, slug="acme").send(client)
            assert soap.status_code == 503 and b"soapenv:Server" in soap.content
            assert soap.headers["retry-after"] == "5"
        # Warm: tenant and key cached by a healthy process, then the store goes away.
        async with client_for(with_settings(clean)) as healthy:
            assert (await zapier(2).send(healthy)).status_code == 202
            assert (await direct(2, key).send(healthy)).status_code == 202
        async with client_for(broken) as client:
            for d in (zapier(3), direct(3, key)):
                response = await d.send(client)
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
    finally:
        await dead.dispose()
    assert await lead_count(clean) == 2  # only what the healthy process acknowledged
