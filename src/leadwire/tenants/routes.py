"""Tenant API: `GET`/`PATCH /v1/settings`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from leadwire.platform.db import session_scope
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.http import ApiRoute, api_route, app_state, read_json
from leadwire.tenants import repository, service
from leadwire.tenants.auth import authenticate_tenant
from leadwire.tenants.errors import UnknownTenant
from leadwire.tenants.settings_schema import TenantSettings


async def get_settings(request: Request) -> JSONResponse:
    ctx = await authenticate_tenant(request)
    state = app_state(request)
    async with state.sessions() as session:
        tenant = await repository.get_by_id(session, ctx.id)
        if tenant is None:
            raise UnknownTenant("tenant is gone")
        return JSONResponse(service.read_settings(tenant, state.secret_box))


async def patch_settings(request: Request) -> JSONResponse:
    ctx = await authenticate_tenant(request)
    patch = await read_json(request)
    if not isinstance(patch, dict):
        raise InvalidPayload("body must be a JSON object of settings to merge")
    state = app_state(request)
    # Checks other areas register (telephony: caller IDs the provider lets us present).
    for validate in state.services.get("settings_validators", ()):
        await validate(patch)
    async with session_scope(state.sessions) as session:
        tenant = await repository.get_by_id(session, ctx.id)
        if tenant is None:
            raise UnknownTenant("tenant is gone")
        view = await service.update_settings(
            session, tenant=tenant, patch=patch, secret_box=state.secret_box
        )
    return JSONResponse(view)


_SETTINGS_SCHEMA = TenantSettings.model_json_schema(ref_template="#/components/schemas/{model}")
_SETTINGS_RESPONSE = {
    "description": 'The tenant\'s settings; secrets read back as "***"',
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TenantSettings"}}},
}

routes: list[ApiRoute] = [
    api_route(
        "/v1/settings",
        get_settings,
        "GET",
        summary="Read the tenant's settings",
        tags=["tenant"],
        security="tenantKey",
        responses={200: _SETTINGS_RESPONSE},
    ),
    api_route(
        "/v1/settings",
        patch_settings,
        "PATCH",
        summary="Merge changes into the tenant's settings (objects merge; null removes)",
        tags=["tenant"],
        security="tenantKey",
        request_body=TenantSettings,
        responses={200: _SETTINGS_RESPONSE, 422: "invalid settings, naming the field"},
    ),
]
