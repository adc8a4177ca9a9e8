"""Telephony routes: Twilio's callbacks (signed) and the tenant's call read.

Every Twilio request is checked against `X-Twilio-Signature` over `LEADWIRE_PUBLIC_URL` + the
path (+ query) and every form field; a wrong or missing signature gets 403 and changes nothing
(the request is kept raw, flagged unsigned, linked to no call). Callbacks answer 204 at once;
the voice and relay-ended webhooks answer TwiML.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.http import ApiRoute, api_route, app_state
from leadwire.platform.jobs import unit_of_work
from leadwire.telephony import service, urls
from leadwire.telephony.errors import BadTwilioSignature
from leadwire.telephony.signatures import SIGNATURE_HEADER, verify_form_request
from leadwire.tenants.auth import authenticate_tenant

XML = "application/xml"


async def _signed_form(request: Request, *, kind: str) -> list[tuple[str, str]]:
    """The form Twilio posted, after its signature was verified."""
    state = app_state(request)
    body = await request.body()
    form = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    try:
        verify_form_request(
            auth_tokens=[state.settings.twilio_signing_token],
            public_base_url=state.settings.public_url,
            path=request.url.path,
            query=request.url.query,
            params=form,
            signature=request.headers.get(SIGNATURE_HEADER),
        )
    except BadTwilioSignature:
        state.metrics.security_events.labels("bad_twilio_signature").inc()
        async with session_scope(state.sessions) as session:
            await service.store_rejected(session, kind=kind, form=form)
        raise
    return form


async def _callback(request: Request, kind: str) -> Response:
    state = app_state(request)
    form = await _signed_form(request, kind=kind)
    async with unit_of_work(state) as session:
        result = await service.record_callback(
            session, state=state, kind=kind, form=form, now=utcnow()
        )
    if result.error is not None:
        raise result.error
    await service.run_provider_actions(state, result.actions)
    return Response(status_code=204)


async def status_callback(request: Request) -> Response:
    return await _callback(request, "status")


async def amd_callback(request: Request) -> Response:
    return await _callback(request, "amd")


async def voice(request: Request) -> Response:
    state = app_state(request)
    form = await _signed_form(request, kind="voice")
    async with unit_of_work(state) as session:
        body = await service.voice_twiml(
            session,
            state=state,
            call_id=request.path_params["call_id"],
            form=form,
            now=utcnow(),
        )
    return Response(body, media_type=XML)


async def relay_ended(request: Request) -> Response:
    state = app_state(request)
    form = await _signed_form(request, kind="relay_ended")
    async with unit_of_work(state) as session:
        body = await service.relay_ended_twiml(
            session,
            state=state,
            call_id=request.path_params["call_id"],
            form=form,
            now=utcnow(),
        )
    return Response(body, media_type=XML)


async def get_call(request: Request) -> JSONResponse:
    tenant = await authenticate_tenant(request)
    state = app_state(request)
    async with state.sessions() as session:
        view = await service.get_call(
            session, tenant_id=tenant.id, call_id=request.path_params["call_id"]
        )
    return JSONResponse(view)


_FORM_BODY = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    },
}
_TWIML = {"description": "TwiML", "content": {XML: {"schema": {"type": "string"}}}}
_CALLBACK_RESPONSES: dict[int | str, str | dict[str, object]] = {
    204: "stored and applied",
    403: "X-Twilio-Signature missing or wrong; nothing changed",
    422: "CallSid or CallStatus missing or malformed (stored raw)",
}

routes: list[ApiRoute] = [
    api_route(
        urls.STATUS_PATH,
        status_callback,
        "POST",
        summary="Twilio call status callback (any order, any number of times)",
        tags=["telephony"],
        security="twilioSignature",
        request_body=_FORM_BODY,
        responses=_CALLBACK_RESPONSES,
    ),
    api_route(
        urls.AMD_PATH,
        amd_callback,
        "POST",
        summary="Twilio asynchronous answering-machine detection result",
        description="A machine gets the tenant's voicemail (or a hang-up, by `call_retry`/"
        "`agent.machine_handling`).",
        tags=["telephony"],
        security="twilioSignature",
        request_body=_FORM_BODY,
        responses=_CALLBACK_RESPONSES,
    ),
    api_route(
        urls.VOICE_PATH,
        voice,
        "POST",
        summary="TwiML for the answered call: the AI agent over ConversationRelay",
        tags=["telephony"],
        security="twilioSignature",
        request_body=_FORM_BODY,
        responses={200: _TWIML, 403: "X-Twilio-Signature missing or wrong"},
    ),
    api_route(
        urls.RELAY_ENDED_PATH,
        relay_ended,
        "POST",
        summary="TwiML after the AI session (<Connect action>): transfer or hang up",
        tags=["telephony"],
        security="twilioSignature",
        request_body=_FORM_BODY,
        responses={200: _TWIML, 403: "X-Twilio-Signature missing or wrong"},
    ),
    api_route(
        "/v1/calls/{call_id}",
        get_call,
        "GET",
        summary="One of the tenant's calls: status, outcome, duration, cost, transcript",
        tags=["tenant"],
        security="tenantKey",
        responses={200: "the call", 404: "no such call for this tenant"},
    ),
]
