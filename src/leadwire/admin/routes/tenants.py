"""Admin API: tenants and the audit log (thin: parse, authorize, call one service, audit)."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse

from leadwire.admin import audit
from leadwire.admin.auth import client_ip, require_admin
from leadwire.admin.schemas import TenantCreate, TenantPatch
from leadwire.platform.db import session_scope
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.http import ApiRoute, api_route, app_state, parse_body
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants import service as tenants
from leadwire.tenants.auth import forget_cached_keys


async def create_tenant(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    body = await parse_body(request, TenantCreate)
    state = app_state(request)
    async with session_scope(state.sessions) as session:
        tenant, api_key = await tenants.create_tenant(
            session,
            slug=body.slug,
            name=body.name,
            plan=body.plan,
            settings=body.settings,
            secret_box=state.secret_box,
        )
        await audit.record(
            session,
            actor=admin.actor,
            action="tenant.create",
            target=body.slug,
            details={"plan": body.plan},
            ip=client_ip(request),
        )
        view = tenants.tenant_view(tenant)
    return JSONResponse({**view, "api_key": api_key}, status_code=201)


async def list_tenants(request: Request) -> JSONResponse:
    await require_admin(request, "read")
    state = app_state(request)
    async with state.sessions() as session:
        rows = await tenants_repo.list_all(session)
    return JSONResponse({"tenants": [tenants.tenant_view(t) for t in rows]})


async def patch_tenant(request: Request) -> JSONResponse:
    admin = await require_admin(request)
    body = await parse_body(request, TenantPatch)
    changes = body.model_dump(exclude_none=True, exclude={"reason"})
    if not changes:
        raise InvalidPayload("nothing to change: give name, plan or status")
    state = app_state(request)
    slug = request.path_params["slug"]
    async with session_scope(state.sessions) as session:
        tenant = await tenants.update_tenant(session, slug=slug, **changes)
        await audit.record(
            session,
            actor=admin.actor,
            action="tenant.update",
            target=slug,
            reason=body.reason,
            details=changes,
            ip=client_ip(request),
        )
        view = tenants.tenant_view(tenant)
    forget_cached_keys()
    return JSONResponse(view)


async def audit_log(request: Request) -> JSONResponse:
    await require_admin(request, "read")
    since_raw = request.query_params.get("since")
    since = None
    if since_raw:
        try:
            since = dt.datetime.fromisoformat(since_raw)
        except ValueError:
            raise InvalidPayload("since must be an RFC 3339 time", field="since") from None
        if since.tzinfo is None:
            raise InvalidPayload("since must include a time zone offset", field="since")
    state = app_state(request)
    async with state.sessions() as session:
        rows = await audit.entries(session, since=since, actor=request.query_params.get("actor"))
    return JSONResponse({"entries": [audit.view(e) for e in rows]})


TENANT_RESPONSE = {
    "description": "The tenant",
    "content": {"application/json": {"schema": {"type": "object"}}},
}

routes: list[ApiRoute] = [
    api_route(
        "/v1/admin/tenants",
        create_tenant,
        "POST",
        summary="Create a tenant; answers its API key once",
        tags=["admin"],
        request_body=TenantCreate,
        responses={201: TENANT_RESPONSE, 409: "slug taken", 422: "invalid body"},
        security="adminToken",
    ),
    api_route(
        "/v1/admin/tenants",
        list_tenants,
        "GET",
        summary="List tenants",
        tags=["admin"],
        security="adminToken",
    ),
    api_route(
        "/v1/admin/tenants/{slug}",
        patch_tenant,
        "PATCH",
        summary="Change a tenant's name, plan or status",
        tags=["admin"],
        request_body=TenantPatch,
        responses={200: TENANT_RESPONSE, 404: "unknown tenant"},
        security="adminToken",
    ),
    api_route(
        "/v1/admin/audit",
        audit_log,
        "GET",
        summary="The audit log, newest first",
        tags=["admin"],
        security="adminToken",
        parameters=[
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "actor", "in": "query", "schema": {"type": "string"}},
        ],
    ),
]
