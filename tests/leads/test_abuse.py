"""Abuse limits on Redis: per IP for failures and unsigned public form posts, per tenant for
floods; 429 with `Retry-After` in the contract's shape."""

from __future__ import annotations

import httpx

from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.helpers import error_of
from tests.leads.checks import client_for, lead_count, with_settings
from tests.leads.deliveries import direct, form_public, zapier


async def test_an_ip_over_its_failure_limit_gets_429_but_signed_deliveries_pass(
    clean: AppState, acme: tuple[Tenant, str]
) -> None:
    state = with_settings(clean, ip_rate_limit_per_minute=3)
    async with client_for(state, ip="198.51.100.7") as client:
        forged = zapier(1).tampered()
        codes = [(await forged.send(client)).status_code for _ in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        limited = await forged.send(client)
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert error_of(limited)["code"] == "ip_rate_limited"
        # A delivery that proves itself is never refused for its address.
        assert (await zapier(2).send(client)).status_code == 202
    async with client_for(state, ip="198.51.100.8") as elsewhere:
        assert (await forged.send(elsewhere)).status_code == 401


async def test_public_form_posts_are_limited_per_ip(
    clean: AppState, acme: tuple[Tenant, str]
) -> None:
    state = with_settings(clean, ip_rate_limit_per_minute=2)
    async with client_for(state, ip="198.51.100.9") as client:
        codes = [(await form_public(n).send(client)).status_code for n in range(3)]
    assert codes == [202, 202, 429]
    assert await lead_count(state) == 2


async def test_a_tenant_flood_is_capped_before_anything_is_stored(
    clean: AppState, acme: tuple[Tenant, str]
) -> None:
    state = with_settings(clean, tenant_flood_per_minute=3)
    async with client_for(state) as client:
        codes = [(await direct(n, acme[1]).send(client)).status_code for n in range(5)]
        assert codes == [202, 202, 202, 429, 429]
        flooded = await direct(9, acme[1]).send(client)
        assert error_of(flooded)["code"] == "tenant_flood_limited"
        assert int(flooded.headers["retry-after"]) >= 1
    assert await lead_count(state) == 3


async def test_a_batch_bigger_than_the_lease_is_counted_whole(
    clean: AppState, acme: tuple[Tenant, str]
) -> None:
    state = with_settings(clean, tenant_flood_per_minute=5)
    batch = [{"phone": f"+1512867{n:04d}", "external_id": f"b{n}"} for n in range(6)]
    async with client_for(state) as client:
        response = await client.post(
            "/v1/leads", json=batch, headers={"Authorization": f"Bearer {acme[1]}"}
        )
    assert response.status_code == 429
    assert await lead_count(state) == 0


async def test_the_flood_cap_is_per_tenant(
    clean: AppState, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    from tests.helpers import make_tenant

    _, other_key = await make_tenant(clean, slug="other")
    state = with_settings(clean, tenant_flood_per_minute=1)
    async with client_for(state) as client:
        assert (await direct(1, acme[1]).send(client)).status_code == 202
        assert (await direct(2, acme[1]).send(client)).status_code == 429
        assert (await direct(3, other_key).send(client)).status_code == 202


async def test_client_errors_count_against_the_ip(
    clean: AppState, acme: tuple[Tenant, str]
) -> None:
    state = with_settings(clean, ip_rate_limit_per_minute=2)
    async with client_for(state, ip="198.51.100.10") as client:
        responses = [
            await client.post("/v1/webhooks/nowhere/acme", content=b"{}") for _ in range(3)
        ]
    assert [r.status_code for r in responses] == [404, 404, 429]


async def test_limits_leave_authenticated_reads_alone(
    intake: httpx.AsyncClient, acme: tuple[Tenant, str]
) -> None:
    for _ in range(3):
        assert (
            await intake.get("/v1/leads", headers={"Authorization": f"Bearer {acme[1]}"})
        ).is_success
