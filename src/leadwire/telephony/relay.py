"""`WS /v1/telephony/twilio/relay/{call_id}`: the AI agent on Twilio ConversationRelay.

The handshake must carry Twilio's `X-Twilio-Signature` over the ``wss://`` form of the public
URL (refused otherwise, before anything is read). The call must be ours and still live. A
`RelaySession` built from the tenant's `agent` settings and the lead's own facts then holds the
conversation (`agent.run_relay`), with Gemini as the agent when a client is configured and the
local scripted agent as its floor.

What the session reports is acted on at once, each in its own committed transaction, before
the ``end`` frame goes out (the session awaits its event hook): an opt-out puts the number on
the tenant's DNC list, a transfer stores the number the `<Connect action>` answer dials, a
booking raises an ``info`` escalation to the tenant. When the session ends, its transcript,
qualification, outcome and AI usage are stored on the call and summarized on the lead's
timeline (`ai.call_summary`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Match, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from leadwire.compliance.service import record_opt_out
from leadwire.leads import repository as leads_repo
from leadwire.leads.enrichment.base import LeadFacts
from leadwire.leads.enrichment.gemini_client import GeminiFailure
from leadwire.leads.models import Lead
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.escalation import raise_escalation
from leadwire.platform.http import ApiRoute, api_route, error_response
from leadwire.platform.jobs import unit_of_work
from leadwire.platform.state import AppState
from leadwire.telephony import repository, urls
from leadwire.telephony.agent import (
    Agent,
    Booking,
    CallContext,
    CallRecord,
    Ended,
    EndReason,
    GeminiAgent,
    LocalAgent,
    OptOut,
    RelaySession,
    SessionEvent,
    SessionLimits,
    TransferRequested,
    run_relay,
)
from leadwire.telephony.call_status import CallStatus
from leadwire.telephony.errors import BadTwilioSignature
from leadwire.telephony.signatures import SIGNATURE_HEADER, verify_websocket_handshake
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants.service import effective_settings

log = logging.getLogger("leadwire.telephony.relay")

POLICY_VIOLATION = 1008  # WebSocket close code for a refused handshake
_NOT_STARTED_POLL_S = 0.25


@dataclass(frozen=True, slots=True)
class RelayCall:
    """The live call a relay session talks on, and what the agent may know about it."""

    call_id: uuid.UUID
    tenant_id: uuid.UUID
    lead_id: uuid.UUID
    context: CallContext
    limits: SessionLimits = field(default_factory=SessionLimits)


# ---- services (flush, never commit: the route owns each transaction) ---------------------------


def _lead_facts(lead: Lead) -> LeadFacts:
    return LeadFacts.from_lead(
        {
            "name": lead.name,
            "service": lead.service,
            "message": lead.message,
            "urgency": lead.urgency,
            "postal_code": lead.postal_code,
            "state": lead.state,
            "campaign_id": lead.campaign_id,
            "custom_fields": lead.custom_fields,
        }
    )


async def load_relay_call(session: AsyncSession, *, call_id: str) -> RelayCall | None:
    """The call a relay URL names, if it is ours, still live, and not already talked on."""
    try:
        parsed = uuid.UUID(call_id)
    except ValueError:
        return None
    call = await repository.lock_call(session, parsed)
    if call is None or CallStatus(call.status).is_final or call.ended_at is not None:
        return None
    if call.ai_outcome is not None:
        return None  # one conversation per call: a second socket for it is not Twilio's
    lead = await leads_repo.get_lead(session, tenant_id=call.tenant_id, lead_id=call.lead_id)
    tenant = await tenants_repo.get_by_id(session, call.tenant_id)
    if lead is None or tenant is None:
        return None
    agent = effective_settings(tenant).agent
    if not agent.business_name:
        return None  # the caller could not identify itself; the voice webhook hung up anyway
    context = CallContext(
        business_name=agent.business_name,
        phone=call.to_number,
        lead=_lead_facts(lead),
        script=agent.script or "",
        transfer_number=agent.transfer_number,
        callback_number=call.from_number,
        voicemail=agent.voicemail,
        language=agent.language,
    )
    return RelayCall(
        call_id=call.id,
        tenant_id=call.tenant_id,
        lead_id=call.lead_id,
        context=context,
        limits=SessionLimits(max_call_seconds=float(agent.max_call_seconds)),
    )


async def store_opt_out(session: AsyncSession, *, relay: RelayCall, event: OptOut) -> None:
    await record_opt_out(
        session,
        tenant_id=relay.tenant_id,
        phone_e164=event.phone,
        source="call",
        detail={
            "call_id": str(relay.call_id),
            "via": event.via,
            "reason": event.reason.value,
            "heard": event.heard,
        },
    )
    await leads_repo.add_event(
        session,
        tenant_id=relay.tenant_id,
        lead_id=relay.lead_id,
        kind="ai.opt_out",
        data={"call_id": str(relay.call_id), "via": event.via, "reason": event.reason.value},
    )


async def store_transfer(
    session: AsyncSession, *, relay: RelayCall, event: TransferRequested
) -> None:
    """The number the relay-ended webhook dials (`service.relay_ended_twiml` reads it)."""
    call = await repository.lock_call(session, relay.call_id)
    if call is None:
        return
    call.transfer_to = event.number
    call.ai_detail = {**(call.ai_detail or {}), "handoff": dict(event.handoff)}
    await session.flush()


async def store_booking(
    session: AsyncSession, *, state: AppState, relay: RelayCall, event: Booking
) -> None:
    """Tell the tenant through its escalation channel (severity info) and keep it."""
    booking = {"slot": event.slot, **json.loads(json.dumps(dict(event.details), default=str))}
    await raise_escalation(
        session,
        state=state,
        severity="info",
        fingerprint=f"ai.booking:{relay.call_id}",
        title=f"Visit booked by phone: {event.slot}",
        detail={"call_id": str(relay.call_id), "lead_id": str(relay.lead_id), **booking},
        tenant_id=relay.tenant_id,
    )
    call = await repository.lock_call(session, relay.call_id)
    if call is not None:
        call.ai_detail = {**(call.ai_detail or {}), "booking": booking}
    await leads_repo.add_event(
        session,
        tenant_id=relay.tenant_id,
        lead_id=relay.lead_id,
        kind="ai.booking",
        data={"call_id": str(relay.call_id), **booking},
    )


async def store_record(
    session: AsyncSession,
    *,
    relay: RelayCall,
    record: CallRecord,
    qualification: Mapping[str, Any],
    agent: str,
) -> None:
    """The conversation's transcript, qualification, outcome and usage, on the call; a
    summary on the lead's timeline."""
    call = await repository.lock_call(session, relay.call_id)
    if call is None:
        return
    summary = record.as_dict()
    usage = record.usage
    call.transcript = summary["transcript"]
    call.qualification = dict(qualification)
    call.ai_outcome = summary["outcome"]
    call.ai_end_reason = summary["end_reason"]
    call.ai_tokens = usage.total_tokens
    call.ai_cost_usd = Decimal(str(round(usage.cost_usd, 5)))
    call.ai_detail = {
        **(call.ai_detail or {}),
        "agent": agent,
        "usage": summary["usage"],
        "handoff": summary["handoff"],
        "problems": summary["problems"],
        "started_at": summary["started_at"],
    }
    await leads_repo.add_event(
        session,
        tenant_id=relay.tenant_id,
        lead_id=relay.lead_id,
        kind="ai.call_summary",
        data={
            "call_id": str(relay.call_id),
            "outcome": call.ai_outcome,
            "end_reason": call.ai_end_reason,
            "qualification": call.qualification,
            "turns": len(call.transcript or []),
            "tokens": call.ai_tokens,
            "cost_usd": str(call.ai_cost_usd),
        },
    )


# ---- the session's glue ----------------------------------------------------------------------


def make_agent(state: AppState) -> Agent:
    """Gemini with the local floor when a client is configured; the local agent otherwise."""
    client = state.services.get("gemini_client")
    if client is None:
        return LocalAgent()

    def count(failure: GeminiFailure) -> None:
        state.metrics.ai_failures.labels("agent", failure.reason.value).inc()
        state.metrics.errors.labels("external", f"gemini.{failure.reason.value}").inc()

    return GeminiAgent(client=client, fallback=LocalAgent(), on_failure=count)


class _Relay:
    """One socket's conversation: event hook, transport, deadline, final record."""

    def __init__(self, *, state: AppState, websocket: WebSocket, relay: RelayCall) -> None:
        self.state = state
        self.websocket = websocket
        self.relay = relay
        self.agent = make_agent(state)
        self.session = RelaySession(
            context=relay.context, agent=self.agent, limits=relay.limits, on_event=self.on_event
        )
        self.send_lock = asyncio.Lock()
        self.end_sent = False
        self.stored = False

    async def on_event(self, event: SessionEvent) -> None:
        state = self.state
        match event:
            case OptOut():
                async with session_scope(state.sessions) as session:
                    await store_opt_out(session, relay=self.relay, event=event)
            case TransferRequested():
                async with session_scope(state.sessions) as session:
                    await store_transfer(session, relay=self.relay, event=event)
            case Booking():
                async with unit_of_work(state) as session:
                    await store_booking(session, state=state, relay=self.relay, event=event)
            case Ended():
                await self.store()

    async def store(self) -> None:
        if self.stored:
            return
        self.stored = True
        async with session_scope(self.state.sessions) as session:
            await store_record(
                session,
                relay=self.relay,
                record=self.session.record,
                qualification=self.session.qualification,
                agent=self.agent.name,
            )

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.send_lock:
            if self.websocket.application_state is not WebSocketState.CONNECTED:
                return
            try:
                await self.websocket.send_text(json.dumps(frame, ensure_ascii=False))
            except (WebSocketDisconnect, OSError, RuntimeError):
                # The caller hung up mid-reply: the read loop sees the close and ends the session.
                return
            if frame.get("type") == "end":
                self.end_sent = True

    async def receive(self) -> str | bytes | None:
        """The next frame from Twilio; None once the socket closed or the call-length cap ran
        out with nobody speaking (then the session says its closing line and ends first)."""
        while True:
            deadline = self.session.deadline
            # Before the session starts (its opening may still be running) look again soon.
            wait = (
                _NOT_STARTED_POLL_S
                if deadline is None
                else max(0.0, (deadline - utcnow()).total_seconds())
            )
            try:
                async with asyncio.timeout(wait):
                    message = await self.websocket.receive()
            except TimeoutError:
                if deadline is None:
                    continue
                async for frame in self.session.close(reason=EndReason.TIME_LIMIT):
                    await self.send(frame)
                return None
            if message["type"] == "websocket.disconnect":
                return None
            text: str | None = message.get("text")
            data: bytes | None = message.get("bytes")
            if text is not None:
                return text
            if data is not None:
                return data

    async def run(self) -> None:
        try:
            await run_relay(self.session, receive=self.receive, send=self.send)
        except Exception:
            # An effect could not be stored: still end the call cleanly, and make it visible.
            log.exception("relay session failed", extra={"call_id": str(self.relay.call_id)})
            self.state.metrics.errors.labels("internal", "relay.session_failed").inc()
            end = self.session.end_message
            if end is not None and not self.end_sent:
                await self.send(end)
        finally:
            if self.session.record.started_at is not None:
                await self.store()


# ---- the route -------------------------------------------------------------------------------


async def _refuse(websocket: WebSocket, *, status: int, code: str, message: str) -> None:
    """Refuse the handshake: with an HTTP answer where the server allows it, else close 1008."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(status, code, message))
    else:
        await websocket.close(code=POLICY_VIOLATION, reason=message)


async def relay(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.leadwire
    try:
        verify_websocket_handshake(
            auth_tokens=[state.settings.twilio_signing_token],
            public_base_url=state.settings.public_url,
            path=websocket.url.path,
            query=websocket.url.query,
            signature=websocket.headers.get(SIGNATURE_HEADER),
        )
    except BadTwilioSignature as exc:
        state.metrics.security_events.labels("bad_twilio_signature").inc()
        await _refuse(websocket, status=403, code=exc.code, message=str(exc))
        return
    async with session_scope(state.sessions) as session:
        call = await load_relay_call(session, call_id=websocket.path_params["call_id"])
    if call is None:
        await _refuse(websocket, status=404, code="not_found", message="no live call")
        return
    await websocket.accept()
    await _Relay(state=state, websocket=websocket, relay=call).run()
    if websocket.application_state is WebSocketState.CONNECTED:
        await websocket.close()


class WebSocketApiRoute(ApiRoute):
    """A WebSocket endpoint that carries its OpenAPI description (the handshake's GET).

    `api_route` builds HTTP routes only; matching and handling go to a `WebSocketRoute`.
    """

    def __init__(self, path: str, endpoint: Any, *, openapi: dict[str, dict[str, Any]]) -> None:
        super().__init__(path, endpoint, methods=["GET"], openapi=openapi)
        self._socket = WebSocketRoute(path, endpoint)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return self._socket.matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["leadwire.route"] = self.path
        await self._socket.handle(scope, receive, send)


route = WebSocketApiRoute(
    urls.RELAY_PATH,
    relay,
    openapi=api_route(
        urls.RELAY_PATH,
        relay,
        "GET",
        summary="Twilio ConversationRelay session with the AI agent (WebSocket)",
        description="The handshake must carry X-Twilio-Signature over the wss:// URL. Twilio "
        "sends setup, prompt, interrupt, dtmf, error and info frames (JSON text); the agent "
        "answers with text tokens and ends with an `end` frame carrying handoffData.",
        tags=["telephony"],
        security="twilioSignature",
        responses={
            101: "switching protocols: the session runs",
            403: "X-Twilio-Signature missing or wrong (or close 1008)",
            404: "no such live call (or close 1008)",
        },
    ).openapi,
)

__all__ = [
    "RelayCall",
    "WebSocketApiRoute",
    "load_relay_call",
    "make_agent",
    "route",
    "store_booking",
    "store_opt_out",
    "store_record",
    "store_transfer",
]
