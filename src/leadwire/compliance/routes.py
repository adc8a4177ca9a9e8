"""Tenant API of the compliance area: the DNC list and the gate's dry run."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from leadwire.compliance import dnc_store, service
from leadwire.compliance.dnc_store import DncTarget
from leadwire.compliance.schemas import CheckRequest, DncAdd, parse_phone
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.errors import InvalidPayload, UnsupportedMediaType
from leadwire.platform.http import ApiRoute, api_route, app_state, parse_body
from leadwire.tenants import repository as tenants_repository
from leadwire.tenants.auth import authenticate_tenant
from leadwire.tenants.errors import UnknownTenant
from leadwire.tenants.models import Tenant
from leadwire.tenants.service import TenantContext
from leadwire.tenants.settings_schema import TenantSettings

_CSV_TYPES = ("text/csv", "text/plain")


async def _tenant_row(request: Request, ctx: TenantContext) -> Tenant:
    async with app_state(request).sessions() as session:
        tenant = await tenants_repository.get_by_id(session, ctx.id)
    if tenant is None:
        raise UnknownTenant("tenant is gone")
    return tenant


def _region(tenant: Tenant) -> str:
    return TenantSettings.model_validate(tenant.settings or {}).default_region


async def add_dnc(request: Request) -> JSONResponse:
    ctx = await authenticate_tenant(request)
    body = await parse_body(request, DncAdd)
    tenant = await _tenant_row(request, ctx)
    phone = parse_phone(body.phone, region=_region(tenant))
    async with session_scope(app_state(request).sessions) as session:
        added = await service.opt_out(
            session,
            tenant_id=tenant.id,
            phone_e164=phone,
            source="api",
            detail={"route": "POST /v1/dnc"},
        )
    return JSONResponse(
        {"phone": phone, "list": "tenant", "added": added}, status_code=201 if added else 200
    )


async def remove_dnc(request: Request) -> Response:
    ctx = await authenticate_tenant(request)
    tenant = await _tenant_row(request, ctx)
    phone = parse_phone(request.path_params["phone"], region=_region(tenant))
    async with session_scope(app_state(request).sessions) as session:
        await service.remove_from_dnc(session, tenant_id=tenant.id, phone_e164=phone)
    return Response(status_code=204)


async def import_dnc(request: Request) -> JSONResponse:
    ctx = await authenticate_tenant(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _CSV_TYPES:
        raise UnsupportedMediaType(
            f"expected Content-Type text/csv (one number a line), got {content_type or 'none'}"
        )
    replace_raw = request.query_params.get("replace", "false").lower()
    if replace_raw not in ("true", "false"):
        raise InvalidPayload("replace must be true or false", field="replace")
    body = await request.body()
    if not body.strip():
        raise InvalidPayload("the body is empty: send one number a line", field="body")
    lines = body.decode("utf-8", errors="replace").splitlines()
    async with session_scope(app_state(request).sessions) as session:
        result = await dnc_store.import_numbers(
            session,
            target=DncTarget.tenant(ctx.id),
            lines=lines,
            source="POST /v1/dnc/import",
            now=utcnow(),
            replace=replace_raw == "true",
        )
    return JSONResponse(result.to_json())


async def check(request: Request) -> JSONResponse:
    ctx = await authenticate_tenant(request)
    body = await parse_body(request, CheckRequest)
    state = app_state(request)
    async with state.sessions() as session:
        tenant = await tenants_repository.get_by_id(session, ctx.id)
        if tenant is None:
            raise UnknownTenant("tenant is gone")
        decision = await service.check(
            session, state=state, tenant=tenant, request=body, now=utcnow()
        )
    return JSONResponse(decision.to_json())


_DNC_ENTRY = {
    "description": "The number as stored and whether it was new to the list",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "phone": {"type": "string", "example": "+15125550100"},
                    "list": {"type": "string", "example": "tenant"},
                    "added": {"type": "boolean"},
                },
            }
        }
    },
}
_IMPORT_BODY = {
    "required": True,
    "description": (
        "One number a line: 10-digit, 1+10-digit or E.164, or CSV with the number first, or "
        "the registry's `NPA,NXXXXXX` area-code files. Blank lines and # comments are skipped. "
        "The body is limited by LEADWIRE_MAX_BODY_BYTES; load larger files with "
        "`leadwire dnc import`."
    ),
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}
_IMPORT_RESULT = {
    "description": "What was read and stored; rejected lines are given by number",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "list": {"type": "object"},
                    "lines": {"type": "integer"},
                    "accepted": {"type": "integer"},
                    "rejected": {"type": "integer"},
                    "skipped": {"type": "integer"},
                    "rejected_lines": {"type": "array", "items": {"type": "integer"}},
                    "inserted": {"type": "integer"},
                    "removed": {"type": "integer"},
                    "row_count": {"type": "integer"},
                    "replace": {"type": "boolean"},
                    "loaded_at": {"type": "string", "format": "date-time"},
                    "data_as_of": {"type": "string", "format": "date-time"},
                },
            }
        }
    },
}
_DECISION = {
    "description": "The gate's answer with every check it ran and its evidence",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["decision", "reason", "not_before", "checks"],
                "properties": {
                    "decision": {"type": "string", "enum": ["call", "defer", "block"]},
                    "reason": {"type": "string", "example": "all_checks_passed"},
                    "not_before": {"type": ["string", "null"], "format": "date-time"},
                    "checks": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "outcome": {
                                    "type": "string",
                                    "enum": ["pass", "defer", "block", "skipped"],
                                },
                                "reason": {"type": ["string", "null"]},
                                "evidence": {"type": "object"},
                                "clears_at": {"type": ["string", "null"], "format": "date-time"},
                            },
                        },
                    },
                },
            }
        }
    },
}

routes: list[ApiRoute] = [
    api_route(
        "/v1/dnc",
        add_dnc,
        "POST",
        summary="Put a number on the tenant's Do-Not-Call list (an opt-out: effective at once)",
        tags=["compliance"],
        security="tenantKey",
        request_body=DncAdd,
        responses={
            201: _DNC_ENTRY,
            200: {**_DNC_ENTRY, "description": "Already on the list"},
            422: "phone missing or not a valid number (field `phone`)",
        },
    ),
    api_route(
        "/v1/dnc/{phone}",
        remove_dnc,
        "DELETE",
        summary="Take a number off the tenant's Do-Not-Call list",
        description=(
            "Consent given before an opt-out stays revoked: calling the number again also "
            "needs a newer consent."
        ),
        tags=["compliance"],
        security="tenantKey",
        responses={
            204: "Removed",
            404: "The number is not on the list",
            422: "Not a valid phone number (field `phone`)",
        },
    ),
    api_route(
        "/v1/dnc/import",
        import_dnc,
        "POST",
        summary="Bulk-load numbers into the tenant's Do-Not-Call list",
        tags=["compliance"],
        security="tenantKey",
        request_body=_IMPORT_BODY,
        parameters=[
            {
                "name": "replace",
                "in": "query",
                "description": "true: the list becomes exactly the file's numbers",
                "schema": {"type": "boolean", "default": False},
            }
        ],
        responses={
            200: _IMPORT_RESULT,
            413: "Body over LEADWIRE_MAX_BODY_BYTES",
            415: "Not text/csv",
            422: "Empty body, or `replace` not true/false",
        },
    ),
    api_route(
        "/v1/compliance/check",
        check,
        "POST",
        summary="Ask the compliance gate about a number (a dry run that stores nothing)",
        tags=["compliance"],
        security="tenantKey",
        request_body=CheckRequest,
        responses={200: _DECISION, 422: "Invalid field (named in `field`)"},
    ),
]
