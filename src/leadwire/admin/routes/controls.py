"""Admin API: emergency mode, queue pauses, tenant pauses and the simulated carrier's numbers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from leadwire.admin import controls
from leadwire.admin.auth import Admin, require_admin
from leadwire.admin.routes._common import (
    OBJECT,
    SECURITY,
    TAGS,
    optional_body,
    optional_request_body,
    record,
)
from leadwire.admin.schemas import EmergencyOn, QueuePause, Reason, SimulatorOverride, TenantPause
from leadwire.platform import flags
from leadwire.platform.db import session_scope
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.http import ApiRoute, api_route, app_state, parse_body
from leadwire.platform.observability import mask_pii
from leadwire.tenants.models import Tenant

# ---- emergency --------------------------------------------------------------------------------


async def get_emergency(request: Request) -> JSONResponse:
    await require_admin(request, "read")
    state = app_state(request)
    async with state.sessions() as session:
        view = await controls.read_emergency(session)
    return JSONResponse(view)


async def put_emergency(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    body = await parse_body(request, EmergencyOn)
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        emergency = await flags.set_emergency(
            session,
            reason=body.reason,
            actor=admin.actor,
            duration_s=body.duration_s,
            hangup_active=body.hangup_active,
        )
        await record(
            session,
            request,
            admin,
            action="emergency.on",
            target="platform",
            reason=body.reason,
            details={"duration_s": body.duration_s, "hangup_active": body.hangup_active},
        )
    view: dict[str, Any] = controls.emergency_view(emergency)
    if body.hangup_active:
        # After the commit: whatever happens to the calls, the switch is on.
        hangup = await controls.hangup_active_calls(state)
        async with session_scope(state.sessions) as session:
            await record(
                session,
                request,
                admin,
                action="emergency.hangup",
                target="platform",
                reason=body.reason,
                details=hangup,
            )
        view["hangup"] = hangup
    return JSONResponse(view)


async def delete_emergency(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    body = await optional_body(request, Reason)
    reason = body.reason or request.query_params.get("reason")
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        cleared = await flags.clear_emergency(session)
        await record(
            session,
            request,
            admin,
            action="emergency.off",
            target="platform",
            reason=reason,
            details={"was_set": cleared},
        )
    return JSONResponse({"active": False, "cleared": cleared})


# ---- queues and tenants: pause and resume share one shape ---------------------------------------
#
# Each handler reads its body, then in one transaction changes the pause, audits the action and
# reads back what it shows; the pair differs only in the change and the action's name.

QueueChange = Callable[[AsyncSession, str, Admin, QueuePause], Awaitable[None]]
TenantChange = Callable[[AsyncSession, str], Awaitable[Tenant]]


async def _change_queues(request: Request, *, action: str, change: QueueChange) -> JSONResponse:
    admin = await require_admin(request)
    body = await optional_body(request, QueuePause)
    target = controls.queue_target(body.priority)
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        await change(session, target, admin, body)
        await record(session, request, admin, action=action, target=target, reason=body.reason)
        paused = await controls.paused_queues(session)
    return JSONResponse(controls.queues_view(paused))


async def _pause_queue(session: AsyncSession, target: str, admin: Admin, body: QueuePause) -> None:
    await flags.pause_queue(session, priority=target, actor=admin.actor, reason=body.reason)


async def _resume_queue(session: AsyncSession, target: str, admin: Admin, body: QueuePause) -> None:
    await flags.resume_queue(session, priority=target)


async def pause_queues(request: Request) -> JSONResponse:
    return await _change_queues(request, action="queue.pause", change=_pause_queue)


async def resume_queues(request: Request) -> JSONResponse:
    return await _change_queues(request, action="queue.resume", change=_resume_queue)


async def _change_tenant(
    request: Request,
    admin: Admin,
    *,
    action: str,
    change: TenantChange,
    reason: str | None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    slug = request.path_params["slug"]
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        tenant = await change(session, slug)
        await record(
            session, request, admin, action=action, target=slug, reason=reason, details=details
        )
        view = controls.tenant_pause_view(tenant)
    return JSONResponse(view)


async def pause_tenant(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    body = await parse_body(request, TenantPause)

    async def pause(session: AsyncSession, slug: str) -> Tenant:
        return await controls.pause_tenant(session, slug=slug, reason=body.reason, until=body.until)

    return await _change_tenant(
        request,
        admin,
        action="tenant.pause",
        change=pause,
        reason=body.reason,
        details={"until": body.until.isoformat() if body.until else None},
    )


async def resume_tenant(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    body = await optional_body(request, Reason)

    async def resume(session: AsyncSession, slug: str) -> Tenant:
        return await controls.resume_tenant(session, slug=slug)

    return await _change_tenant(
        request, admin, action="tenant.resume", change=resume, reason=body.reason
    )


# ---- simulated carrier --------------------------------------------------------------------------


def _e164(raw: str) -> str:
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPayload("the number must be a valid E.164 phone number", field="e164")
    formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted


async def put_simulator_number(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    e164 = _e164(request.path_params["e164"])
    body = await parse_body(request, SimulatorOverride)
    state = app_state(request)
    result = await controls.set_simulator_override(
        state,
        e164=e164,
        outcome=body.outcome,
        duration_s=body.duration_s,
        error_code=body.error_code,
    )
    async with session_scope(state.sessions) as session:
        await record(
            session,
            request,
            admin,
            action="simulator.override",
            target=mask_pii(e164),
            details=body.model_dump(exclude_none=True),
        )
    view: dict[str, Any] = {"e164": e164, **body.model_dump()}
    if isinstance(result, dict):
        view.update(result)
    return JSONResponse(view)


_EMERGENCY_DESCRIPTION = (
    "Emergency mode stops all new dialing on every worker (the dialer reads it from "
    "PostgreSQL in each dial's transaction and again right before it calls the carrier) and "
    "holds pending work; intake continues. With `duration_s` it expires by itself; "
    "`hangup_active` also asks telephony to hang up live calls."
)

routes: list[ApiRoute] = [
    api_route(
        "/v1/admin/emergency",
        get_emergency,
        "GET",
        summary="Emergency mode: whether it is on, why, since and until when",
        tags=TAGS,
        responses={200: OBJECT},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/emergency",
        put_emergency,
        "PUT",
        summary="Switch emergency mode on",
        description=_EMERGENCY_DESCRIPTION,
        tags=TAGS,
        request_body=EmergencyOn,
        responses={200: OBJECT, 422: "invalid body"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/emergency",
        delete_emergency,
        "DELETE",
        summary="Switch emergency mode off",
        tags=TAGS,
        request_body=optional_request_body(Reason),
        responses={200: OBJECT},
        security=SECURITY,
        parameters=[{"name": "reason", "in": "query", "schema": {"type": "string"}}],
    ),
    api_route(
        "/v1/admin/queues/pause",
        pause_queues,
        "POST",
        summary="Pause one dial priority, or all when no priority is given",
        tags=TAGS,
        request_body=optional_request_body(QueuePause),
        responses={200: OBJECT, 422: "unknown priority"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/queues/resume",
        resume_queues,
        "POST",
        summary="Resume one dial priority, or clear every queue pause when none is given",
        tags=TAGS,
        request_body=optional_request_body(QueuePause),
        responses={200: OBJECT, 422: "unknown priority"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/tenants/{slug}/pause",
        pause_tenant,
        "POST",
        summary="Pause a tenant's dialing until a time, or indefinitely without `until`",
        tags=TAGS,
        request_body=TenantPause,
        responses={200: OBJECT, 404: "unknown tenant", 422: "invalid body"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/tenants/{slug}/resume",
        resume_tenant,
        "POST",
        summary="Resume a paused tenant",
        tags=TAGS,
        request_body=optional_request_body(Reason),
        responses={200: OBJECT, 404: "unknown tenant"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/simulator/numbers/{e164}",
        put_simulator_number,
        "PUT",
        summary="Simulated carrier only: fix what the carrier does when this number is called",
        tags=TAGS,
        request_body=SimulatorOverride,
        responses={200: OBJECT, 422: "invalid number or body", 501: "not simulated"},
        security=SECURITY,
    ),
]
