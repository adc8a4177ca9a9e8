"""Chaos: Twilio's API times out on POST /Calls, with and without having created the call.

The real `TwilioProvider` dials through the real dialer, SAQ workers and sweepers, in this
process (respx intercepts only this process's HTTP), against `FakeTwilio`, which places real
seeming calls and posts their signed callbacks to the app. Three numbers:

* `created`: the first POST /Calls creates the call, then times out (the answer is lost). The
  dialer cannot know whether the call exists: it records the attempt as unknown, and once the
  dial lease passes the sweeper posts it again; the dial asks Twilio first (`find_call`),
  finds the ringing call and adopts it. One call.
* `lost`: the first POST /Calls times out before Twilio had it. Same path, `find_call` finds
  nothing, and the attempt is dialed again. One call.
* `fine`: answered at once, for comparison.

The timeout leaves the provider as `ExternalServiceError(provider_code=TIMEOUT)`, classified
temporary and retryable; the dialer's policy for a create with no answer is to reconcile before
retrying, never to POST again blindly. The gate's clock is moved to daytime in Atlanta, which
the settings allow with the simulated carrier only; so the Twilio provider is installed on the
state directly rather than through `LEADWIRE_TELEPHONY=twilio`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from leadwire.app import create_app
from leadwire.platform.classify import TransportCode, classify
from leadwire.platform.errors import ErrorClass, ExternalServiceError
from leadwire.platform.observability import Metrics
from leadwire.platform.queues import QUEUE_NAMES
from leadwire.platform.state import AppState
from leadwire.telephony.providers import SERVICE
from leadwire.telephony.providers.twilio import TwilioProvider
from leadwire.telephony.signatures import SIGNATURE_HEADER
from leadwire.worker import build_workers, drain
from tests.chaos.fake_twilio import ACCOUNT, API, TOKEN, FakeTwilio, Plan
from tests.chaos.ledger import call_rows, wait_until_final
from tests.telephony.helpers import daytime_offset_s, dial_tenant, make_lead, phone, route_job

pytestmark = pytest.mark.slow

CREATED, LOST, FINE = phone(7100), phone(7101), phone(7102)


@pytest.fixture
async def twilio_state(clean: AppState) -> AppState:
    """The test state with Twilio credentials, the real Twilio provider and daytime gating."""
    settings = clean.settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT,
            "twilio_auth_token": SecretStr(TOKEN),
            "simulator_clock_offset_s": daytime_offset_s(),
            "twilio_cps": 50.0,
        }
    )
    state = dataclasses.replace(clean, settings=settings, services={}, metrics=Metrics())
    state.services[SERVICE] = TwilioProvider(
        account_sid=ACCOUNT, auth_token=TOKEN, http=state.http, api_base=API
    )
    return state


@pytest.fixture
async def api(twilio_state: AppState) -> AsyncIterator[httpx.AsyncClient]:
    """Our app in this process, where the fake Twilio posts its webhooks."""
    application = create_app(twilio_state.settings, state=twilio_state)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url=twilio_state.settings.public_url
        ) as client:
            yield client


@pytest.fixture
async def workers(twilio_state: AppState) -> AsyncIterator[None]:
    """Every queue served in this process, the sweepers' crons included."""
    running = build_workers(twilio_state, queues=QUEUE_NAMES, concurrency=5, worker_name="t")
    runs = [asyncio.create_task(w.start()) for w in running]
    try:
        yield
    finally:
        await drain(running, grace_s=2)
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)


def dials(state: AppState, result: str) -> float:
    value = state.metrics.registry.get_sample_value(
        "leadwire_dialer_dials_total", {"priority": "emergency", "result": result}
    )
    return value or 0.0


async def test_a_twilio_timeout_is_reconciled_and_nobody_is_called_twice(
    twilio_state: AppState, api: httpx.AsyncClient, workers: None
) -> None:
    async def deliver(url: str, params: dict[str, str], signature: str) -> int:
        response = await api.post(url, data=params, headers={SIGNATURE_HEADER: signature})
        return response.status_code

    fake = FakeTwilio(
        deliver,
        plans={
            CREATED: Plan(ring_s=12.0, first_post="timeout_after_create"),
            LOST: Plan(first_post="timeout_before_create"),
            FINE: Plan(),
        },
    )
    tenant = await dial_tenant(twilio_state)
    with respx.mock(assert_all_called=False) as router:
        fake.mount(router)
        started = time.monotonic()
        leads = {}
        for number in (CREATED, LOST, FINE):
            lead_id = await make_lead(twilio_state, tenant, number=number, priority="emergency")
            leads[number] = lead_id
            await route_job(twilio_state, leads[number], tenant)
        rows = await wait_until_final(twilio_state, map(str, leads.values()), timeout_s=40)
        await fake.idle()
    took = time.monotonic() - started

    # One call to each person, though the dialer POSTed twice for the lost request.
    assert {n: len(fake.created_for(n)) for n in leads} == {CREATED: 1, LOST: 1, FINE: 1}
    creates = [to for method, what, to in fake.requests if what == "create"]
    assert sorted(creates) == sorted([CREATED, LOST, LOST, FINE])
    # After a timeout the dialer asks Twilio before it dials again.
    asked = [to for method, what, to in fake.requests if what == "list"]
    assert CREATED in asked and LOST in asked
    second_lost_post = [i for i, r in enumerate(fake.requests) if r == ("POST", "create", LOST)][1]
    assert ("GET", "list", LOST) in fake.requests[:second_lost_post]
    assert FINE not in asked

    calls = {call.to_number: call for call in await call_rows(twilio_state)}
    assert {n: (c.attempt, c.provider_call_id) for n, c in calls.items()} == {
        n: (1, fake.created_for(n)[0]) for n in leads
    }
    assert calls[CREATED].dispatch.get("recovered") is True  # adopted, not dialed again
    assert {rows[str(leads[n])].outcome for n in leads} == {"connected"}
    assert all(200 <= status < 300 for status in fake.webhook_statuses), fake.webhook_statuses
    # Both timeouts were "unknown" (the call may exist): reconciled, not failed or redialed.
    assert dials(twilio_state, "unknown") == 2
    assert dials(twilio_state, "recovered") == 1
    assert dials(twilio_state, "placed") == 2
    timeout = ExternalServiceError("", provider="twilio", provider_code=TransportCode.TIMEOUT)
    classification = classify(timeout)
    assert classification.error_class is ErrorClass.TEMPORARY and classification.retryable
    print(f"\nboth timeouts resolved, every lead final in {took:.1f} s")
