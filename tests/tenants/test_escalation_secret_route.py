"""`GET /v1/settings/escalation-secret`: a tenant reads the secret its escalation webhooks are
signed with, and verifies a real delivery with a Standard Webhooks library. The tenant's
endpoint is outside HTTP, mocked with respx; PostgreSQL and Redis are real."""

from __future__ import annotations

import httpx
import pytest
import respx
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leadwire.platform import escalation
from leadwire.platform.escalation import EscalationDelivery, raise_escalation
from leadwire.platform.jobs import unit_of_work
from leadwire.platform.state import AppState
from tests.helpers import bearer, error_of, make_tenant

ACME_URL = "https://acme.example.com/hooks/escalations"
PATH = "/v1/settings/escalation-secret"


@respx.mock
async def test_a_tenant_verifies_its_escalations_with_the_secret_it_reads(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    acme, acme_key = await make_tenant(
        clean, slug="acme", settings={"escalation_webhook_url": ACME_URL}
    )
    _, globex_key = await make_tenant(clean, slug="globex")
    response = await client.get(PATH, headers=bearer(acme_key))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    assert (await client.get(PATH, headers=bearer(acme_key))).json() == {"secret": secret}

    # A real escalation for acme, delivered to its endpoint by the delivery task.
    endpoint = respx.post(ACME_URL).mock(return_value=httpx.Response(204))
    async with unit_of_work(clean) as session:
        raised = await raise_escalation(
            session,
            state=clean,
            severity="warning",
            fingerprint="tenant:acme:caller_id",
            title="No valid caller ID",
            detail={"reason": "no_valid_caller_id"},
            tenant_id=acme.id,
        )
    assert raised.deliveries == 1
    async with clean.sessions() as session:
        [delivery] = (await session.execute(select(EscalationDelivery))).scalars().all()
    await escalation.deliver(clean, delivery_id=delivery.id)
    request = endpoint.calls.last.request
    payload = Webhook(secret).verify(request.content, dict(request.headers))
    assert payload["data"]["tenant_id"] == str(acme.id)
    assert payload["data"]["title"] == "No valid caller ID"

    # Another tenant's key reads its own secret, never acme's, and that one does not verify.
    other = (await client.get(PATH, headers=bearer(globex_key))).json()["secret"]
    assert other.startswith("whsec_") and other != secret
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook(other).verify(request.content, dict(request.headers))


@pytest.mark.parametrize("headers", [{}, bearer("lw_not-a-real-key")])
async def test_without_a_valid_key_it_is_401(
    client: httpx.AsyncClient, clean: AppState, headers: dict[str, str]
) -> None:
    response = await client.get(PATH, headers=headers)
    assert response.status_code == 401
    assert "secret" not in response.text
    assert error_of(response)["code"] in {"missing_api_key", "invalid_api_key"}
