"""The ConversationRelay WebSocket against the app: Twilio's frames in, the agent's out, and
what the call leaves in the database (DNC, transfer, booking, transcript)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from leadwire.compliance import service as compliance_service
from leadwire.compliance.schemas import CheckRequest
from leadwire.leads.models import LeadEvent
from leadwire.platform.db import utcnow
from leadwire.platform.escalation import Escalation
from leadwire.platform.state import AppState
from leadwire.telephony import relay
from leadwire.telephony.models import Call
from leadwire.telephony.signatures import SIGNATURE_HEADER, sign
from leadwire.tenants.models import Tenant
from tests.helpers import bearer, make_tenant
from tests.telephony.helpers import CALLER_ID, dial_settings, phone
from tests.telephony.test_routes import BASE, dialing_call, new_sid, post_signed, status_form

TRANSFER = "+14045550177"
Frame = dict[str, Any]
Inspect = Callable[[Frame], Awaitable[None]]


class Socket:
    """Twilio's end of the WebSocket, driving the ASGI app in this event loop.

    `inspect` runs inside the app's send of each frame, so what it sees happened before the
    app could go on (and before the socket could close).
    """

    def __init__(self, app: Starlette, path: str, *, signature: str | None) -> None:
        headers = [(b"host", b"leadwire.test"), (b"upgrade", b"websocket")]
        if signature is not None:
            headers.append((SIGNATURE_HEADER.lower().encode(), signature.encode()))
        self.scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "wss",
            "server": ("leadwire.test", 443),
            "client": ("203.0.113.9", 40000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "subprotocols": [],
        }
        self.app = app
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inspect: Inspect | None = None
        self.task: asyncio.Task[None] | None = None

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and self.inspect is not None:
            await self.inspect(json.loads(message["text"]))
        await self.from_app.put(message)

    async def connect(self) -> dict[str, Any]:
        """The app's answer to the handshake (`websocket.accept` or `websocket.close`)."""
        await self.to_app.put({"type": "websocket.connect"})
        self.task = asyncio.create_task(self.app(self.scope, self.to_app.get, self._send))
        return await self.next_message()

    async def next_message(self) -> dict[str, Any]:
        async with asyncio.timeout(5):
            return await self.from_app.get()

    async def send(self, frame: Frame) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": json.dumps(frame)})

    async def frame(self) -> Frame:
        message = await self.next_message()
        assert message["type"] == "websocket.send", message
        data: Frame = json.loads(message["text"])
        return data

    async def reply(self) -> list[Frame]:
        """Frames up to the end of one spoken reply (`last: true`) or the `end` frame."""
        frames: list[Frame] = []
        while True:
            frame = await self.frame()
            frames.append(frame)
            if frame["type"] == "end" or (frame["type"] == "text" and frame["last"]):
                return frames

    async def until_end(self) -> list[Frame]:
        """Frames up to and including the `end` frame (the closing line comes first)."""
        frames: list[Frame] = []
        while not frames or frames[-1]["type"] != "end":
            frames.append(await self.frame())
        return frames

    async def closed(self) -> dict[str, Any]:
        message = await self.next_message()
        assert message["type"] == "websocket.close", message
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)
        return message


def spoken(frames: list[Frame]) -> str:
    return "".join(f["token"] for f in frames if f["type"] == "text")


def one_reply(frames: list[Frame]) -> str:
    texts = [f for f in frames if f["type"] == "text"]
    assert texts and [f["last"] for f in texts] == [False] * (len(texts) - 1) + [True]
    return spoken(frames)


def setup_frame(call: Call) -> Frame:
    return {
        "type": "setup",
        "sessionId": "VX" + uuid.uuid4().hex,
        "accountSid": "AC" + "0" * 32,
        "parentCallSid": "",
        "callSid": call.provider_call_id,
        "from": CALLER_ID,
        "to": call.to_number,
        "forwardedFrom": "",
        "callType": "PSTN",
        "callerName": "",
        "direction": "outbound-api",
        "callStatus": "IN-PROGRESS",
        "customParameters": {"call_id": str(call.id)},
    }


def prompt(text: str) -> Frame:
    return {"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": True}


def relay_path(call_id: object) -> str:
    return f"/v1/telephony/twilio/relay/{call_id}"


def signed(state: AppState, path: str) -> str:
    url = "wss://leadwire.test" + path
    return sign(auth_token=state.settings.twilio_signing_token, url=url)


async def open_socket(app: Starlette, state: AppState, call: Call) -> Socket:
    path = relay_path(call.id)
    socket = Socket(app, path, signature=signed(state, path))
    assert (await socket.connect())["type"] == "websocket.accept"
    return socket


async def load(state: AppState, call_id: uuid.UUID) -> Call:
    async with state.sessions() as session:
        call = await session.get(Call, call_id)
        assert call is not None
        return call


async def is_on_dnc(state: AppState, tenant: Tenant, number: str) -> bool:
    async with state.sessions() as session:
        decision = await compliance_service.check(
            session, state=state, tenant=tenant, request=CheckRequest(phone=number), now=utcnow()
        )
    check = decision.check("internal_dnc")
    return decision.blocked and check is not None and check.outcome.value == "block"


async def lead_events(state: AppState, lead_id: uuid.UUID) -> list[LeadEvent]:
    async with state.sessions() as session:
        rows = await session.execute(
            select(LeadEvent).where(LeadEvent.lead_id == lead_id).order_by(LeadEvent.id)
        )
        return list(rows.scalars().all())


@pytest.fixture
async def tenant_and_key(clean: AppState) -> tuple[Tenant, str]:
    settings = dial_settings(agent={"transfer_number": TRANSFER})
    return await make_tenant(clean, slug="acme", plan="enterprise", settings=settings)


@pytest.fixture
def tenant(tenant_and_key: tuple[Tenant, str]) -> Tenant:
    return tenant_and_key[0]


async def test_twilio_sequence_gets_disclosure_first_replies_and_a_dtmf_opt_out(
    app: Starlette, client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    number = phone(21)
    call = await dialing_call(clean, tenant, sid=new_sid(), number=number)
    socket = await open_socket(app, clean, call)
    on_dnc_at_end: list[bool] = []

    async def inspect(frame: Frame) -> None:
        if frame["type"] == "end":
            on_dnc_at_end.append(await is_on_dnc(clean, tenant, number))

    socket.inspect = inspect
    await socket.send(setup_frame(call))
    opening = one_reply(await socket.reply())
    assert opening.startswith("Hi Sarah, this is Acme HVAC. This is an automated call using an AI")
    assert "say stop or press 9" in opening and "HVAC repair" in opening

    await socket.send(prompt("My furnace stopped heating last night"))
    second = one_reply(await socket.reply())
    assert "?" in second  # the next qualification question

    await socket.send(
        {
            "type": "interrupt",
            "utteranceUntilInterrupt": second[:12],
            "durationUntilInterruptMs": 700,
        }
    )
    await socket.send(prompt("It's 12 Oak Street"))
    third = one_reply(await socket.reply())
    assert "?" in third and third != second

    await socket.send({"type": "dtmf", "digit": "9"})
    closing = await socket.until_end()
    assert closing[-1]["type"] == "end"
    assert "do-not-call list" in spoken(closing)
    handoff = json.loads(closing[-1]["handoffData"])
    assert handoff["outcome"] == "opted_out"
    assert on_dnc_at_end == [True]  # on the tenant's list while the end frame was being sent
    assert (await socket.closed())["code"] == 1000

    stored = await load(clean, call.id)
    assert stored.ai_outcome == "opted_out" and stored.ai_end_reason == "opt_out"
    transcript = stored.transcript or []
    assert [e["speaker"] for e in transcript[:2]] == ["agent", "caller"]
    assert transcript[1]["text"] == "My furnace stopped heating last night"
    assert any(e.get("interrupted") and e["text"] == second[:12].strip() for e in transcript)
    assert transcript[-2] == {**transcript[-2], "speaker": "caller", "kind": "dtmf", "text": "9"}
    assert all(e["at"] for e in transcript)
    kinds = [e.kind for e in await lead_events(clean, call.lead_id)]
    assert "ai.opt_out" in kinds and kinds[-1] == "ai.call_summary"


async def test_stop_calling_me_puts_the_number_on_the_dnc_list_before_the_socket_closes(
    app: Starlette, client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    number = phone(22)
    call = await dialing_call(clean, tenant, sid=new_sid(), number=number)
    assert not await is_on_dnc(clean, tenant, number)
    socket = await open_socket(app, clean, call)
    seen: list[tuple[str, bool]] = []

    async def inspect(frame: Frame) -> None:
        seen.append((frame["type"], await is_on_dnc(clean, tenant, number)))

    await socket.send(setup_frame(call))
    await socket.reply()
    socket.inspect = inspect
    await socket.send(prompt("Stop calling me"))
    frames = await socket.until_end()
    assert frames[-1]["type"] == "end"
    # Listed before a word of the confirmation was sent, let alone the end frame.
    assert seen and all(listed for _, listed in seen) and seen[-1][0] == "end"
    assert (await socket.closed())["type"] == "websocket.close"
    assert (await load(clean, call.id)).ai_outcome == "opted_out"


async def test_a_wrong_handshake_signature_is_refused(
    app: Starlette, client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    call = await dialing_call(clean, tenant, sid=new_sid())
    path = relay_path(call.id)
    for signature in (None, "bm9wZQ==", signed(clean, relay_path(uuid.uuid4()))):
        socket = Socket(app, path, signature=signature)
        answer = await socket.connect()
        assert answer["type"] == "websocket.close" and answer["code"] == 1008
        assert (await load(clean, call.id)).transcript is None


async def test_an_unknown_or_ended_call_is_refused(
    app: Starlette, client: httpx.AsyncClient, clean: AppState, tenant: Tenant
) -> None:
    for call_id in (uuid.uuid4(), "not-a-uuid"):
        path = relay_path(call_id)
        answer = await Socket(app, path, signature=signed(clean, path)).connect()
        assert answer["type"] == "websocket.close" and answer["code"] == 1008
    sid = new_sid()
    call = await dialing_call(clean, tenant, sid=sid)
    await post_signed(client, clean, "/v1/telephony/twilio/status", status_form(sid, "busy", 1))
    path = relay_path(call.id)
    answer = await Socket(app, path, signature=signed(clean, path)).connect()
    assert answer["type"] == "websocket.close" and answer["code"] == 1008


async def test_a_refusal_is_an_http_answer_where_the_server_allows_it(
    app: Starlette, client: httpx.AsyncClient, clean: AppState
) -> None:
    path = relay_path(uuid.uuid4())
    socket = Socket(app, path, signature="bm9wZQ==")
    socket.scope["extensions"] = {"websocket.http.response": {}}
    answer = await socket.connect()
    assert answer["type"] == "websocket.http.response.start" and answer["status"] == 403


async def test_transfer_then_relay_ended_dials_the_tenants_number(
    app: Starlette,
    client: httpx.AsyncClient,
    clean: AppState,
    tenant_and_key: tuple[Tenant, str],
) -> None:
    tenant, key = tenant_and_key
    sid = new_sid()
    call = await dialing_call(clean, tenant, sid=sid)
    socket = await open_socket(app, clean, call)
    transfer_at_end: list[str | None] = []

    async def inspect(frame: Frame) -> None:
        if frame["type"] == "end":
            transfer_at_end.append((await load(clean, call.id)).transfer_to)

    socket.inspect = inspect
    await socket.send(setup_frame(call))
    await socket.reply()
    await socket.send(prompt("I want to talk to a real person"))
    frames = await socket.until_end()
    assert frames[-1]["type"] == "end"
    handoff = json.loads(frames[-1]["handoffData"])
    assert handoff["outcome"] == "transferred" and handoff["transfer_number"] == TRANSFER
    assert transfer_at_end == [TRANSFER]
    await socket.closed()

    path = f"/v1/telephony/twilio/relay-ended/{call.id}"
    form = status_form(
        sid, "in-progress", 2, SessionStatus="ended", HandoffData=json.dumps(handoff)
    )
    response = await post_signed(client, clean, path, form)
    assert response.status_code == 200
    assert f'<Dial callerId="{CALLER_ID}"' in response.text and TRANSFER in response.text

    view = (await client.get(f"/v1/calls/{call.id}", headers=bearer(key))).json()
    assert view["ai"]["outcome"] == "transferred" and view["ai"]["transfer_to"] == TRANSFER
    assert view["transcript"][-2]["text"] == "I want to talk to a real person"


async def test_a_booking_raises_an_info_escalation_and_the_call_view_shows_the_record(
    app: Starlette,
    client: httpx.AsyncClient,
    clean: AppState,
    tenant_and_key: tuple[Tenant, str],
) -> None:
    tenant, key = tenant_and_key
    call = await dialing_call(clean, tenant, sid=new_sid())
    socket = await open_socket(app, clean, call)
    await socket.send(setup_frame(call))
    await socket.reply()
    await socket.send(prompt("can you just book someone to come out?"))
    asked = one_reply(await socket.reply())
    assert "time" in asked
    await socket.send(prompt("Friday afternoon"))
    frames = await socket.until_end()
    assert frames[-1]["type"] == "end"
    assert json.loads(frames[-1]["handoffData"])["booking"] == {"slot": "friday afternoon"}
    await socket.closed()

    async with clean.sessions() as session:
        rows = await session.execute(select(Escalation).where(Escalation.tenant_id == tenant.id))
        [escalation] = rows.scalars().all()
    assert escalation.severity == "info" and escalation.detail["slot"] == "friday afternoon"
    assert escalation.detail["call_id"] == str(call.id)

    response = await client.get(f"/v1/calls/{call.id}", headers=bearer(key))
    assert response.status_code == 200
    view = response.json()
    assert view["ai"]["outcome"] == "booked"
    assert view["ai"]["booking"]["slot"] == "friday afternoon"
    assert view["ai"]["tokens"] > 0 and view["ai"]["cost_usd"] == "0.00000"
    assert view["qualification"]["best_time"] == "friday afternoon"
    speakers = [entry["speaker"] for entry in view["transcript"]]
    assert speakers == ["agent", "caller", "agent", "caller", "agent"]
    assert view["transcript"][0]["text"].startswith("Hi Sarah, this is Acme HVAC.")
    summary = [e for e in await lead_events(clean, call.lead_id) if e.kind == "ai.call_summary"]
    assert len(summary) == 1 and summary[0].data["outcome"] == "booked"


async def test_the_call_length_cap_ends_a_silent_session(
    app: Starlette,
    client: httpx.AsyncClient,
    clean: AppState,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = relay.SessionLimits
    monkeypatch.setattr(
        relay, "SessionLimits", lambda **kw: original(**{**kw, "max_call_seconds": 0.3})
    )
    call = await dialing_call(clean, tenant, sid=new_sid())
    socket = await open_socket(app, clean, call)
    await socket.send(setup_frame(call))
    await socket.reply()
    frames = await socket.until_end()  # nobody speaks: the cap closes the call
    assert frames[-1]["type"] == "end"
    assert json.loads(frames[-1]["handoffData"])["reason"] == "time_limit"
    await socket.closed()
    assert (await load(clean, call.id)).ai_end_reason == "time_limit"


def test_the_relay_route_is_described_in_openapi(app: Starlette) -> None:
    assert BASE == "https://leadwire.test"
    schema = app.state.openapi
    assert "get" in schema["paths"]["/v1/telephony/twilio/relay/{call_id}"]
