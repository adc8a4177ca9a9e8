"""Tenant API: `GET`/`PATCH /v1/settings`, `GET /v1/settings/escalation-secret`."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse

from leadwire.platform.db import session_scope
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.escalation import tenant_signing_secret
from leadwire.platform.http import ApiRoute, api_route, app_state, read_json
from leadwire.tenants import repository, service
from leadwire.tenants.auth import authenticate_tenant
from leadwire.tenants.errors import UnknownTenant
from leadwire.tenants.settings_schema import TenantSettings

log = logging.getLogger("leadwire.tenants")


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


async def get_escalation_secret(request: Request) -> JSONResponse:
    """The `whsec_` secret the tenant's escalation webhooks are signed with (Standard Webhooks),
    so its endpoint at `escalation_webhook_url` can verify them. Derived, not stored: it is the
    same on every read, and changes only if the platform's LEADWIRE_SECRET_KEY is rotated."""
    ctx = await authenticate_tenant(request)
    state = app_state(request)
    secret = tenant_signing_secret(state.settings, ctx.id)
    log.info("escalation signing secret read", extra={"tenant": str(ctx.id)})
    return JSONResponse({"secret": secret}, headers={"Cache-Control": "no-store"})


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
    api_route(
        "/v1/settings/escalation-secret",
        get_escalation_secret,
        "GET",
        summary="Read the secret the tenant's escalation webhooks are signed with",
        description=(
            "Escalations for the tenant are POSTed to its `escalation_webhook_url` as Standard "
            "Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), signed with this "
            "`whsec_` secret; verify them with any Standard Webhooks library. The secret is the "
            "same on every read (derived, not stored) and is sent with `Cache-Control: "
            "no-store`."
        ),
        tags=["tenant"],
        security="tenantKey",
        responses={
            200: {
                "description": "The tenant's signing secret",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["secret"],
                            "properties": {
                                "secret": {
                                    "type": "string",
                                    "pattern": "^whsec_",
                                    "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                }
                            },
                        }
                    }
                },
            },
            401: "missing or unknown API key",
        },
    ),
]
