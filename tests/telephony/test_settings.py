"""Telephony's tenant settings through `PATCH /v1/settings`: caller IDs the provider owns,
limits and dial delays validated and used by the next dial."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from leadwire.platform.state import AppState
from leadwire.telephony.providers.twilio import TwilioProvider
from tests.helpers import bearer, error_of, make_tenant

ACCOUNT = "AC" + "c" * 32
API = "https://api.twilio.com/2010-04-01/Accounts/" + ACCOUNT
OWNED, FOREIGN = "+14045550100", "+14045550199"


@pytest.fixture
async def twilio(clean: AppState) -> AsyncIterator[None]:
    """The tenant's account on Twilio, which owns OWNED only."""
    async with httpx.AsyncClient() as http:
        previous = clean.services.get("telephony")
        clean.services["telephony"] = TwilioProvider(
            account_sid=ACCOUNT, auth_token="t" * 32, http=http
        )
        with respx.mock(assert_all_called=False) as router:

            def numbers(request: httpx.Request) -> httpx.Response:
                owned = request.url.params["PhoneNumber"] == OWNED
                found = [{"phone_number": OWNED, "sid": "PN" + "1" * 32}] if owned else []
                return httpx.Response(200, json={"incoming_phone_numbers": found})

            router.get(f"{API}/IncomingPhoneNumbers.json").mock(side_effect=numbers)
            router.get(f"{API}/OutgoingCallerIds.json").respond(
                200, json={"outgoing_caller_ids": []}
            )
            yield
        if previous is not None:
            clean.services["telephony"] = previous
        else:
            clean.services.pop("telephony", None)


async def test_caller_ids_must_be_numbers_the_provider_owns(
    client: httpx.AsyncClient, clean: AppState, twilio: None
) -> None:
    _, key = await make_tenant(clean)
    response = await client.patch(
        "/v1/settings", json={"caller_ids": [OWNED, FOREIGN]}, headers=bearer(key)
    )
    assert response.status_code == 422
    error = error_of(response)
    assert (error["code"], error["field"]) == ("caller_id_not_owned", "caller_ids")
    assert "caller_ids[1]" in error["message"] and FOREIGN not in error["message"]
    assert (await client.get("/v1/settings", headers=bearer(key))).json()["caller_ids"] == []
    accepted = await client.patch("/v1/settings", json={"caller_ids": [OWNED]}, headers=bearer(key))
    assert accepted.status_code == 200
    assert accepted.json()["caller_ids"] == [OWNED]


async def test_a_malformed_caller_id_is_reported_by_the_schema(
    client: httpx.AsyncClient, clean: AppState, twilio: None
) -> None:
    _, key = await make_tenant(clean)
    response = await client.patch("/v1/settings", json={"caller_ids": ["12"]}, headers=bearer(key))
    assert response.status_code == 422
    assert error_of(response)["field"].startswith("caller_ids")


async def test_the_simulated_carrier_owns_every_valid_number(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    _, key = await make_tenant(clean)
    response = await client.patch(
        "/v1/settings", json={"caller_ids": ["+1 (404) 555-0142"]}, headers=bearer(key)
    )
    assert response.status_code == 200
    assert response.json()["caller_ids"] == ["+14045550142"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"limits": {"calls_per_minute": -1}}, "limits.calls_per_minute"),
        ({"limits": {"concurrent_calls": "many"}}, "limits.concurrent_calls"),
        ({"dial_delays_s": {"low": 10**9}}, "dial_delays_s.low"),
        ({"dial_delays_s": {"urgent": 5}}, "dial_delays_s.urgent"),
        ({"call_retry": {"busy_delays_s": [-5]}}, "call_retry.busy_delays_s"),
        ({"call_retry": {"machine_handling": "shout"}}, "call_retry.machine_handling"),
    ],
)
async def test_limits_delays_and_retries_are_validated(
    client: httpx.AsyncClient, clean: AppState, patch: dict[str, object], field: str
) -> None:
    _, key = await make_tenant(clean)
    response = await client.patch("/v1/settings", json=patch, headers=bearer(key))
    assert response.status_code == 422
    assert error_of(response)["field"] == field


async def test_the_retry_policy_reads_back_with_its_defaults(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    _, key = await make_tenant(clean)
    response = await client.patch(
        "/v1/settings", json={"call_retry": {"busy_delays_s": [60]}}, headers=bearer(key)
    )
    assert response.status_code == 200
    assert response.json()["call_retry"] == {
        "busy_delays_s": [60],
        "no_answer_delays_s": [600, 3600, 14400],
        "machine_delays_s": [3600, 14400],
        "machine_handling": None,  # follows agent.machine_handling
    }
