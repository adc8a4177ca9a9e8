"""Every lead source through HTTP: stored before the answer, deduplicated, refused when forged."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from leadwire.leads.models import LeadStatus
from leadwire.platform.db import session_scope
from leadwire.platform.flags import set_emergency
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.helpers import error_of
from tests.leads.checks import events_of, half_leads, intake_job_pending, lead_count, stored_leads
from tests.leads.deliveries import (
    ORG,
    ORIGIN,
    SOURCES,
    Delivery,
    all_sources,
    direct,
    form_public,
    google,
    google_body,
    hubspot_events,
    meta,
    salesforce,
    zapier,
)

SOAP_ACK = b"<Ack>true</Ack>"
# At app-level endpoints that resolve the tenant from a secret in the payload, a forged secret
# names no tenant: nothing is stored and the provider is told to stop (2xx), see routes.py.
APP_LEVEL_KEYED = {"salesforce-app", "google-app"}


def delivery(name: str, n: int, key: str) -> Delivery:
    return all_sources(n, key)[name]


def check_accepted(response: httpx.Response, d: Delivery) -> list[str]:
    if d.source == "salesforce":
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        assert SOAP_ACK in response.content
        return []
    assert response.status_code == 202, response.text
    entries = response.json()["leads"]
    assert len(entries) == d.leads
    expected = LeadStatus.ACCEPTED if d.phones else LeadStatus.PENDING_FETCH
    assert all(e["status"] == expected and e["duplicate"] is False for e in entries)
    return [e["lead_id"] for e in entries]


@pytest.mark.parametrize("name", SOURCES)
async def test_every_source_is_stored_before_the_answer(
    name: str, intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    tenant, key = acme
    d = delivery(name, 1, key)
    response = await d.send(intake)
    ids = check_accepted(response, d)
    leads = await stored_leads(intake_state)
    assert len(leads) == d.leads
    assert {lead.tenant_id for lead in leads} == {tenant.id}
    if d.phones:
        assert sorted(lead.phone_e164 for lead in leads) == sorted(d.phones)
        assert all(lead.status == LeadStatus.ACCEPTED for lead in leads)
    else:  # ids only: the fields come from the provider's API (test_tasks)
        assert all(lead.status == LeadStatus.PENDING_FETCH for lead in leads)
    for lead in leads:
        assert ids == [] or str(lead.id) in ids
        assert [e.kind for e in await events_of(intake_state, lead.id)] == ["lead.received"]
        assert lead.next_action_at is not None
        assert await intake_job_pending(intake_state, f"lead.process:{lead.id}")


@pytest.mark.parametrize("name", SOURCES)
async def test_a_redelivery_answers_the_first_lead(
    name: str, intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    d = delivery(name, 2, key)
    first = await d.send(intake)
    again = await d.send(intake)
    assert await lead_count(intake_state) == d.leads
    if d.source == "salesforce":
        assert again.status_code == 200 and SOAP_ACK in again.content
        return
    assert again.status_code == 200, again.text
    assert [e["lead_id"] for e in again.json()["leads"]] == [
        e["lead_id"] for e in first.json()["leads"]
    ]
    assert all(e["duplicate"] is True for e in again.json()["leads"])


@pytest.mark.parametrize("name", ["meta-app", "hubspot-events", "zapier", "form-public", "direct"])
async def test_concurrent_redeliveries_store_one_lead(
    name: str, intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    d = delivery(name, 3, key)
    responses = await asyncio.gather(*(d.send(intake) for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [202]
    ids = {e["lead_id"] for r in responses for e in r.json()["leads"]}
    assert len(ids) == 1
    assert await lead_count(intake_state) == 1
    assert await half_leads(intake_state) == 0


@pytest.mark.parametrize("name", SOURCES)
async def test_one_byte_changed_is_refused_and_nothing_is_stored(
    name: str, intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    forged = delivery(name, 4, key).tampered()
    refused_before = _security_total(intake_state)
    response = await forged.send(intake)
    assert await lead_count(intake_state) == 0
    if name in APP_LEVEL_KEYED:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 401, response.text
    if forged.source == "salesforce":
        assert b"<faultcode>soapenv:Client</faultcode>" in response.content
    else:
        assert error_of(response)["code"] in {"bad_signature", "invalid_api_key"}
    assert _security_total(intake_state) == refused_before + 1


def _security_total(state: AppState) -> float:
    return sum(
        sample.value
        for metric in state.metrics.security_events.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_a_stale_hubspot_v3_timestamp_is_refused(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    stale = hubspot_events(5, at=datetime.now(UTC) - timedelta(minutes=6))
    response = await stale.send(intake)
    assert response.status_code == 401
    assert error_of(response)["code"] == "bad_signature"
    fresh = hubspot_events(5, at=datetime.now(UTC) - timedelta(minutes=4))
    assert (await fresh.send(intake)).status_code == 202
    assert await lead_count(intake_state) == 1


async def test_unknown_tenants(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    # App-level: an unknown page / portal / org / key is answered 2xx so the provider stops.
    unknown_page = await meta(6, page="999999999").send(intake)
    assert unknown_page.status_code == 200 and unknown_page.json() == {"leads": []}
    unknown_portal = await hubspot_events(6, portal=777).send(intake)
    assert unknown_portal.status_code == 200 and unknown_portal.json() == {"leads": []}
    unknown_org = await salesforce(6, org="00D000000000077EAA").send(intake)
    assert unknown_org.status_code == 200 and SOAP_ACK in unknown_org.content
    unknown_key = await google(6, key="somebody-elses-key").send(intake)
    assert unknown_key.status_code == 200 and unknown_key.json() == {"leads": []}
    # Tenant-scoped: an unknown slug is a 404.
    for d in (meta(7, slug="nobody"), zapier(7, slug="nobody")):
        response = await d.send(intake)
        assert response.status_code == 404
        assert error_of(response)["code"] == "unknown_tenant"
    assert await lead_count(intake_state) == 0


async def test_a_meta_batch_spanning_pages_routes_each_lead(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    d = meta(8, batch=3)
    response = await d.send(intake)
    assert response.status_code == 202
    assert len(response.json()["leads"]) == 3
    assert await lead_count(intake_state, acme[0].id) == 3


async def test_a_batch_with_new_and_duplicate_leads_says_which(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    headers = {"Authorization": f"Bearer {key}"}
    first = {"external_id": "a-1", "phone": "+15128671111"}
    second = {"external_id": "a-2", "phone": "+15128672222"}
    await intake.post("/v1/leads", json=first, headers=headers)
    response = await intake.post("/v1/leads", json=[first, second], headers=headers)
    assert response.status_code == 202
    assert [e["duplicate"] for e in response.json()["leads"]] == [True, False]
    assert await lead_count(intake_state) == 2


async def test_an_unusable_phone_is_stored_rejected_and_never_queued(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    response = await intake.post(
        "/v1/leads",
        json={"name": "No Phone", "phone": "call me maybe"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 202
    entry = response.json()["leads"][0]
    assert entry["status"] == "rejected"
    [lead] = await stored_leads(intake_state)
    assert (lead.status, lead.reject_reason, lead.next_action_at) == (
        "rejected",
        "invalid_phone",
        None,
    )
    assert not await intake_job_pending(intake_state, f"lead.process:{lead.id}")


async def test_google_test_leads_are_stored_and_never_dialed(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    body = google_body(9, is_test=True)
    response = await intake.post(
        "/v1/webhooks/google-ads", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202
    [lead] = await stored_leads(intake_state)
    assert (lead.status, lead.reject_reason) == ("rejected", "test_lead")
    assert not await intake_job_pending(intake_state, f"lead.process:{lead.id}")


async def test_emergency_mode_never_stops_intake(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    async with session_scope(intake_state.sessions) as session:
        await set_emergency(
            session, reason="test", actor="test", duration_s=None, hangup_active=False
        )
    assert (await direct(10, acme[1]).send(intake)).status_code == 202


async def test_a_suspended_tenant_is_refused(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    async with session_scope(intake_state.sessions) as session:
        tenant = await session.get(Tenant, acme[0].id)
        assert tenant is not None
        tenant.status = "suspended"
    response = await zapier(11).send(intake)
    assert response.status_code == 403
    assert error_of(response)["code"] == "tenant_suspended"
    assert await lead_count(intake_state) == 0


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "field"),
    [
        ("/v1/webhooks/zapier/acme", b"{not json", "application/json", 400, None),
        ("/v1/webhooks/zapier/acme", b"<lead/>", "application/xml", 415, None),
        ("/v1/webhooks/zapier/acme", b'{"phone": "1", "consent": {"ip": "nowhere"}}',
         "application/json", 422, "consent.ip"),
        ("/v1/leads", b'{"name": "no phone"}', "application/json", 422, "phone"),
        ("/v1/leads", b'[{"phone": "+15128670001", "urgency": "soon"}]', "application/json",
         422, "[0].urgency"),
        ("/v1/webhooks/myspace/acme", b"{}", "application/json", 404, None),
        ("/v1/webhooks/zapier", b"{}", "application/json", 404, None),
    ],
)  # fmt: skip
async def test_errors_have_the_contract_shape(
    intake: httpx.AsyncClient,
    intake_state: AppState,
    acme: tuple[Tenant, str],
    path: str,
    body: bytes,
    content_type: str,
    status: int,
    field: str | None,
) -> None:
    from tests.leads.deliveries import ZAPIER_SECRET

    secret = acme[1] if path == "/v1/leads" else ZAPIER_SECRET
    response = await intake.post(
        path,
        content=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == status, response.text
    error = error_of(response)
    if field is not None:
        assert error["field"] == field
    assert await lead_count(intake_state) == 0


async def test_an_oversized_body_is_413(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    big = json.dumps({"phone": "+15128670001", "message": "x" * 300_000}).encode()
    response = await intake.post(
        "/v1/leads",
        content=big,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {acme[1]}"},
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert await lead_count(intake_state) == 0


async def test_salesforce_errors_are_soap_faults(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    body = salesforce(12).body.replace(b"<Id>04l", b"<Nope>04l").replace(b"AAA</Id>", b"</Nope>")
    response = await intake.post(
        "/v1/webhooks/salesforce/acme", content=body, headers={"Content-Type": "text/xml"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/xml")
    assert b"<faultcode>soapenv:Client</faultcode>" in response.content
    assert ORG.encode() not in response.content


async def test_meta_verification_handshake(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    from tests.leads.deliveries import META_VERIFY_TOKEN

    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    ok = await intake.get(
        "/v1/webhooks/meta", params={**params, "hub.verify_token": META_VERIFY_TOKEN}
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await intake.get("/v1/webhooks/meta", params={**params, "hub.verify_token": "nope"})
    assert wrong.status_code == 403
    # A tenant with its own Meta app uses its own token on its own URL.
    await intake.patch(
        "/v1/settings",
        json={"sources": {"meta": {"verify_token": "tenant-own-token"}}},
        headers={"Authorization": f"Bearer {acme[1]}"},
    )
    own = await intake.get(
        "/v1/webhooks/meta/acme", params={**params, "hub.verify_token": "tenant-own-token"}
    )
    assert own.status_code == 200 and own.text == "1158201444"
    unknown = await intake.get(
        "/v1/webhooks/meta/nobody", params={**params, "hub.verify_token": META_VERIFY_TOKEN}
    )
    assert unknown.status_code == 404


async def test_public_forms_speak_cors(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    preflight = await intake.options(
        "/v1/webhooks/form/acme",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    refused = await intake.options(
        "/v1/webhooks/form/acme", headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    posted = await form_public(13).send(intake)
    assert posted.status_code == 202
    assert posted.headers["access-control-allow-origin"] == ORIGIN
    [lead] = await stored_leads(intake_state)
    assert lead.consent is not None and lead.consent["granted"] is True
    assert lead.consent["ip"] == "203.0.113.10"
    # Errors a browser must read carry the CORS headers too.
    bad = await intake.post(
        "/v1/webhooks/form/acme",
        content=b"name=x&consent=perhaps",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN},
    )
    assert bad.status_code == 422
    assert bad.headers["access-control-allow-origin"] == ORIGIN


async def test_a_filled_honeypot_is_refused(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    d = form_public(14)
    trapped = Delivery(
        d.source, d.path, d.body.replace(b"_hp=", b"_hp=buy+now"), d.headers, d.phones
    )
    response = await trapped.send(intake)
    assert response.status_code == 401
    assert error_of(response)["code"] == "honeypot_filled"
    assert await lead_count(intake_state) == 0


async def test_settings_changes_apply_at_once(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    assert (await zapier(15).send(intake)).status_code == 202  # the tenant is now cached
    response = await intake.patch(
        "/v1/settings",
        json={"sources": {"zapier": {"secret": "a-brand-new-secret-0123"}}},
        headers={"Authorization": f"Bearer {acme[1]}"},
    )
    assert response.status_code == 200
    assert (await zapier(16).send(intake)).status_code == 401
