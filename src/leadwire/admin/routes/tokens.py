"""Admin API: admin tokens (created with a scope, shown once, listed, revoked)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from leadwire.admin import tokens
from leadwire.admin.auth import require_admin
from leadwire.admin.routes._common import OBJECT, SECURITY, TAGS, record
from leadwire.admin.schemas import TokenCreate
from leadwire.platform.db import session_scope
from leadwire.platform.http import ApiRoute, api_route, app_state, parse_body


async def create_token(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    body = await parse_body(request, TokenCreate)
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        row, token = await tokens.create(
            session, name=body.name, scope=body.scope, created_by=admin.actor
        )
        await record(
            session,
            request,
            admin,
            action="admin_token.create",
            target=str(row.id),
            details={"name": body.name, "scope": body.scope},
        )
        view = tokens.view(row)
    return JSONResponse({**view, "token": token}, status_code=201)


async def list_tokens(request: Request) -> JSONResponse:
    await require_admin(request, "read")
    state = app_state(request)
    async with state.sessions() as session:
        rows = await tokens.list_all(session)
    return JSONResponse({"tokens": [tokens.view(r) for r in rows]})


async def revoke_token(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    token_id = tokens.parse_id(request.path_params["token_id"])
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        row = await tokens.revoke(session, token_id=token_id, actor=admin.actor)
        await record(
            session,
            request,
            admin,
            action="admin_token.revoke",
            target=str(row.id),
            details={"name": row.name},
        )
        view = tokens.view(row)
    return JSONResponse(view)


routes: list[ApiRoute] = [
    api_route(
        "/v1/admin/tokens",
        create_token,
        "POST",
        summary="Create an admin token (scope read or operate); the token is shown once",
        tags=TAGS,
        request_body=TokenCreate,
        responses={201: OBJECT, 422: "invalid body"},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/tokens",
        list_tokens,
        "GET",
        summary="List admin tokens (never the tokens themselves)",
        tags=TAGS,
        responses={200: OBJECT},
        security=SECURITY,
    ),
    api_route(
        "/v1/admin/tokens/{token_id}",
        revoke_token,
        "DELETE",
        summary="Revoke an admin token",
        tags=TAGS,
        responses={200: OBJECT, 404: "unknown token"},
        security=SECURITY,
    ),
]
