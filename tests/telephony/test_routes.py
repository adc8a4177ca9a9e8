"""Twilio's callbacks over HTTP: signatures, the state machine, order, TwiML, tenant reads."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.state import AppState
from leadwire.telephony import calls, snapshot
from leadwire.telephony.call_status import CallStatus
from leadwire.telephony.models import Call, CallEvent
from leadwire.telephony.providers.base import ProviderCall
from leadwire.telephony.signatures import SIGNATURE_HEADER, sign
from leadwire.telephony.state_machine import CallState
from leadwire.tenants.models import Tenant
from tests.helpers import bearer, error_of, make_tenant
from tests.telephony.helpers import CALLER_ID, dial_settings, make_lead, phone

BASE = "https://leadwire.test"
STATUS = "/v1/telephony/twilio/status"
AMD = "/v1/telephony/twilio/amd"
START = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC)


async def dialing_call(
    state: AppState, tenant: Tenant, *, sid: str | None, number: str = phone(7)
) -> Call:
    """A lead being dialed and its first attempt, as the dialer leaves them."""
    lead_id = await make_lead(state, tenant, number=number, status=LeadStatus.DIALING)
    async with session_scope(state.sessions) as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        lead.attempts = 1
        call = Call(
            tenant_id=tenant.id,
            lead_id=lead_id,
            attempt=1,
            status="queued",
            provider="simulated",
            provider_call_id=sid,
            from_number=CALLER_ID,
            to_number=number,
            state=snapshot.to_json(CallState()),
            dispatch={"priority": "medium"},
        )
        session.add(call)
    return call


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


def status_form(sid: str, status: str, sequence: int, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": status,
        "Called": phone(7),
        "Caller": CALLER_ID,
        "Direction": "outbound-api",
        "From": CALLER_ID,
        "To": phone(7),
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(sequence),
        "Timestamp": format_datetime(START + dt.timedelta(seconds=5 * sequence)),
        **extra,
    }


def answered_call(sid: str) -> list[tuple[str, dict[str, str]]]:
    """Everything Twilio sends for a call a person answered and talked on for 42 s."""
    return [
        (STATUS, status_form(sid, "initiated", 0)),
        (STATUS, status_form(sid, "ringing", 1)),
        (STATUS, status_form(sid, "in-progress", 2)),
        (AMD, {"AccountSid": "AC" + "0" * 32, "CallSid": sid, "AnsweredBy": "human",
               "MachineDetectionDuration": "2100"}),
        (STATUS, status_form(sid, "completed", 3, CallDuration="42", Duration="1",
                             SipResponseCode="200")),
    ]  # fmt: skip


async def post_signed(
    client: httpx.AsyncClient, state: AppState, path: str, form: dict[str, str]
) -> httpx.Response:
    signature = sign(auth_token=state.settings.twilio_signing_token, url=BASE + path, params=form)
    return await client.post(path, data=form, headers={SIGNATURE_HEADER: signature})


async def reload(state: AppState, call_id: uuid.UUID) -> tuple[Call, Lead]:
    async with state.sessions() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        lead = await session.get(Lead, call.lead_id)
        assert lead is not None
        return call, lead


async def stored_events(state: AppState) -> list[CallEvent]:
    async with state.sessions() as session:
        rows = await session.execute(select(CallEvent).order_by(CallEvent.id))
        return list(rows.scalars().all())


@pytest.fixture
async def tenant(clean: AppState) -> Tenant:
    made, _ = await make_tenant(clean, slug="acme", plan="enterprise", settings=dial_settings())
    return made


async def test_a_wrong_signature_gets_403_and_changes_nothing(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    sid = new_sid()
    call = await dialing_call(clean, tenant, sid=sid)
    before_call, before_lead = await reload(clean, call.id)
    form = status_form(sid, "completed", 3, CallDuration="42")
    good = sign(auth_token=clean.settings.twilio_signing_token, url=BASE + STATUS, params=form)
    for headers in (
        {SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl"},
        {},
        # Right token, but signed for another URL: the public URL is what counts.
        {SIGNATURE_HEADER: sign(auth_token=clean.settings.twilio_signing_token,
                                url="http://internal:8000" + STATUS, params=form)},
        # Right signature, one field changed.
        {SIGNATURE_HEADER: good, "X-Tamper": "1"},
    ):  # fmt: skip
        data = {**form, "CallDuration": "4200"} if "X-Tamper" in headers else form
        response = await client.post(STATUS, data=data, headers=headers)
        assert response.status_code == 403
        assert error_of(response)["code"] == "bad_signature"
    after_call, after_lead = await reload(clean, call.id)
    assert (after_call.status, after_call.state) == (before_call.status, before_call.state)
    assert after_call.finalized_at is None
    assert (after_lead.status, after_lead.outcome) == (before_lead.status, before_lead.outcome)
    events = await stored_events(clean)
    assert len(events) == 4
    assert all(not e.signature_valid and e.call_id is None for e in events)


async def test_callbacks_in_order_end_the_call_and_close_the_lead(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    sid = new_sid()
    call = await dialing_call(clean, tenant, sid=sid)
    for path, form in answered_call(sid):
        assert (await post_signed(client, clean, path, form)).status_code == 204
    call, lead = await reload(clean, call.id)
    assert (call.status, call.duration_s, call.answered_by) == ("completed", 42, "human")
    assert call.answered_at == START + dt.timedelta(seconds=10)
    assert call.ended_at == START + dt.timedelta(seconds=15)
    assert call.outcome == "connected" and call.finalized_at is not None
    assert call.cost_usd is not None and call.cost_usd > 0
    assert (lead.status, lead.outcome) == (LeadStatus.CLOSED, "connected")
    events = await stored_events(clean)
    assert [e.effect for e in events] == ["advanced"] * 3 + ["merged", "advanced"]
    assert all(e.signature_valid and e.call_id == call.id for e in events)
    assert dict(events[-1].params)["CallDuration"] == "42"


def shuffled_with_duplicates(seed: int, sid: str) -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(seed)
    sent = answered_call(sid)
    sent += rng.sample(sent, k=rng.randint(1, len(sent)))  # Twilio's retries
    rng.shuffle(sent)
    return sent


@pytest.mark.parametrize("seed", range(6))
async def test_shuffled_and_duplicated_callbacks_reach_the_same_final_state(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant, seed: int
) -> None:
    in_order, shuffled = new_sid(), new_sid()
    first = await dialing_call(clean, tenant, sid=in_order, number=phone(10))
    second = await dialing_call(clean, tenant, sid=shuffled, number=phone(11))
    for path, form in answered_call(in_order):
        await post_signed(client, clean, path, form)
    for path, form in shuffled_with_duplicates(seed, shuffled):
        assert (await post_signed(client, clean, path, form)).status_code == 204
    (a, lead_a), (b, lead_b) = await reload(clean, first.id), await reload(clean, second.id)
    assert snapshot.from_json(a.state) == snapshot.from_json(b.state)
    columns = ("status", "duration_s", "answered_by", "answered_at", "ended_at", "outcome")
    assert [getattr(a, c) for c in columns] == [getattr(b, c) for c in columns]
    assert a.cost_usd == b.cost_usd
    assert (lead_a.status, lead_a.outcome) == (lead_b.status, lead_b.outcome)


async def test_callbacks_that_arrive_before_the_call_sid_is_stored_are_applied_later(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    sid = new_sid()
    call = await dialing_call(clean, tenant, sid=None)
    for sequence, status in enumerate(("initiated", "ringing")):
        response = await post_signed(client, clean, STATUS, status_form(sid, status, sequence))
        assert response.status_code == 204
    assert {e.effect for e in await stored_events(clean)} == {"unlinked"}
    async with session_scope(clean.sessions) as session:
        row = await session.get(Call, call.id)
        assert row is not None
        placed = ProviderCall(sid=sid, status=CallStatus.QUEUED)
        await calls.store_placed(session, state=clean, call=row, placed=placed, now=utcnow())
    call, _ = await reload(clean, call.id)
    assert (call.provider_call_id, call.status) == (sid, "ringing")
    assert all(e.call_id == call.id for e in await stored_events(clean))


async def test_a_callback_about_someone_elses_call_is_kept_unlinked(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    response = await post_signed(client, clean, STATUS, status_form(new_sid(), "ringing", 1))
    assert response.status_code == 204
    [event] = await stored_events(clean)
    assert (event.call_id, event.effect, event.signature_valid) == (None, "unlinked", True)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"CallStatus": "ringing"}, "CallSid"),
        ({"CallSid": "CA" + "1" * 32, "CallStatus": "dancing"}, "CallStatus"),
    ],
)
async def test_a_malformed_signed_callback_is_422_and_kept_raw(
    client: httpx.AsyncClient, clean: AppState, form: dict[str, str], field: str
) -> None:
    response = await post_signed(client, clean, STATUS, form)
    assert response.status_code == 422
    assert error_of(response)["field"] == field
    [event] = await stored_events(clean)
    assert event.effect == "invalid" and event.params == [[k, v] for k, v in form.items()]


async def test_the_voice_webhook_hands_the_call_to_the_ai_agent(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    sid = new_sid()
    call = await dialing_call(clean, tenant, sid=None)
    path = f"/v1/telephony/twilio/voice/{call.id}"
    response = await post_signed(client, clean, path, status_form(sid, "in-progress", 2))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    body = response.text
    assert f'url="wss://leadwire.test/v1/telephony/twilio/relay/{call.id}"' in body
    assert f'action="{BASE}/v1/telephony/twilio/relay-ended/{call.id}"' in body
    assert "Acme HVAC" in body and "automated AI assistant" in body
    call, _ = await reload(clean, call.id)
    assert (call.provider_call_id, call.status) == (sid, "in-progress")  # adopted from Twilio


async def test_the_voice_webhook_hangs_up_on_a_call_it_does_not_know(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    path = f"/v1/telephony/twilio/voice/{uuid.uuid4()}"
    response = await post_signed(client, clean, path, status_form(new_sid(), "in-progress", 2))
    assert response.status_code == 200
    assert "<Hangup />" in response.text and "Connect" not in response.text


@pytest.mark.parametrize("transfer", [None, "+14045550177"])
async def test_after_the_ai_session_the_call_transfers_or_hangs_up(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant, transfer: str | None
) -> None:
    sid = new_sid()
    call = await dialing_call(clean, tenant, sid=sid)
    async with session_scope(clean.sessions) as session:
        row = await session.get(Call, call.id)
        assert row is not None
        row.transfer_to = transfer
    path = f"/v1/telephony/twilio/relay-ended/{call.id}"
    response = await post_signed(client, clean, path, status_form(sid, "in-progress", 2))
    assert response.status_code == 200
    if transfer:
        assert f'<Dial callerId="{CALLER_ID}"' in response.text and transfer in response.text
    else:
        assert "<Hangup />" in response.text


async def test_a_tenant_reads_its_own_calls_only(
    client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    _, key = await make_tenant(clean, slug="other", plan="pro")
    mine, own_key = await make_tenant(
        clean, slug="mine", plan="enterprise", settings=dial_settings()
    )
    sid = new_sid()
    call = await dialing_call(clean, mine, sid=sid)
    for path, form in answered_call(sid):
        await post_signed(client, clean, path, form)
    response = await client.get(f"/v1/calls/{call.id}", headers=bearer(own_key))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["id"] == str(call.id) and body["provider_call_id"] == sid
    assert (body["status"], body["outcome"], body["duration_s"]) == ("completed", "connected", 42)
    assert body["cost_usd"] is not None and body["transcript"] is None
    assert (await client.get(f"/v1/calls/{call.id}", headers=bearer(key))).status_code == 404
    assert (await client.get("/v1/calls/nope", headers=bearer(own_key))).status_code == 404
    assert (await client.get(f"/v1/calls/{call.id}")).status_code == 401
