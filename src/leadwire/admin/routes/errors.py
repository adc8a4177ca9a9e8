"""Admin API: dead letters (list, resolve, replay) and escalations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from leadwire.admin.auth import require_admin
from leadwire.admin.routes._common import (
    OBJECT,
    SECURITY,
    TAGS,
    TENANT_PARAM,
    int_param,
    optional_body,
    optional_request_body,
    record,
    tenant_filter,
)
from leadwire.admin.schemas import Reason, Resolve
from leadwire.platform import deadletters, escalation
from leadwire.platform.db import session_scope
from leadwire.platform.errors import ErrorClass, InvalidPayload
from leadwire.platform.http import ApiRoute, api_route, app_state, parse_body

CLASSES = [c.value for c in ErrorClass]


async def list_errors(request: Request) -> JSONResponse:
    await require_admin(request, "read")
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in deadletters.STATUSES:
        raise InvalidPayload(
            f"status must be one of {', '.join(deadletters.STATUSES)}", field="status"
        )
    error_class = params.get("class") or None
    if error_class is not None and error_class not in CLASSES:
        raise InvalidPayload(f"class must be one of {', '.join(CLASSES)}", field="class")
    limit = int_param(request, "limit", default=50, low=1, high=200)
    state = app_state(request)
    async with state.sessions() as session:
        tenant = await tenant_filter(session, request)
        page, cursor = await deadletters.list_letters(
            session,
            status=status,
            error_class=error_class,
            tenant_id=tenant.id if tenant else None,
            cursor=params.get("cursor") or None,
            limit=limit,
        )
    return JSONResponse({"errors": [deadletters.view(d) for d in page], "next_cursor": cursor})


async def resolve_error(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    letter_id = deadletters.parse_id(request.path_params["error_id"])
    body = await parse_body(request, Resolve)
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        letter, changed = await deadletters.resolve(
            session, letter_id=letter_id, actor=admin.actor, note=body.note
        )
        if changed:
            await record(
                session,
                request,
                admin,
                action="dead_letter.resolve",
                target=str(letter.id),
                reason=body.note,
                details={"task": letter.task, "code": letter.code},
            )
        view = deadletters.view(letter)
    return JSONResponse({**view, "changed": changed})


async def replay_error(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    letter_id = deadletters.parse_id(request.path_params["error_id"])
    body = await optional_body(request, Reason)
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        letter, enqueued = await deadletters.replay(
            session, state=state, letter_id=letter_id, actor=admin.actor
        )
        if enqueued:
            await record(
                session,
                request,
                admin,
                action="dead_letter.replay",
                target=str(letter.id),
                reason=body.reason,
                details={"task": letter.task, "job_key": letter.replay_job_key},
            )
        view = deadletters.view(letter)
    return JSONResponse({**view, "enqueued": enqueued})


async def list_escalations(request: Request) -> JSONResponse:
    await require_admin(request, "read")
    limit = int_param(request, "limit", default=50, low=1, high=200)
    state = app_state(request)
    async with state.sessions() as session:
        tenant = await tenant_filter(session, request)
        rows = await escalation.recent(
            session, limit=limit, tenant_id=tenant.id if tenant else None
        )
    return JSONResponse({"escalations": rows})


_LIST_PARAMS = [
    {
        "name": "status",
        "in": "query",
        "schema": {"type": "string", "enum": list(deadletters.STATUSES)},
    },
    {"name": "class", "in": "query", "schema": {"type": "string", "enum": CLASSES}},
    TENANT_PARAM,
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
]

routes: list[ApiRoute] = [
    api_route(
        "/v1/admin/errors",
        list_errors,
        "GET",
        summary="Dead letters, newest first, paged (next_cursor)",
        tags=TAGS,
        responses={200: OBJECT, 422: "invalid filter"},
        security=SECURITY,
        parameters=_LIST_PARAMS,
    ),
    api_route(
        "/v1/admin/errors/{error_id}/resolve",
        resolve_error,
        "POST",
        summary="Resolve a dead letter with a note (resolving twice changes nothing)",
        tags=TAGS,
        request_body=Resolve,
        responses={200: OBJECT, 404: "unknown dead letter", 409: "already replayed"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/errors/{error_id}/replay",
        replay_error,
        "POST",
        summary="Enqueue a dead letter's task again with a fresh attempt budget (idempotent)",
        description=(
            "The first replay enqueues the task with its original arguments under the job key "
            "`deadletter.replay:<id>` and marks the letter `replayed`; later replays answer "
            '`"enqueued": false` and enqueue nothing.'
        ),
        tags=TAGS,
        request_body=optional_request_body(Reason),
        responses={200: OBJECT, 404: "unknown dead letter"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/escalations",
        list_escalations,
        "GET",
        summary="Recent escalations with every delivery attempt",
        tags=TAGS,
        responses={200: OBJECT},
        security=SECURITY,
        parameters=[
            TENANT_PARAM,
            {"name": "limit", "in": "query", "schema": {"type": "integer"}},
        ],
    ),
]
