"""Helpers shared by the admin route modules."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from leadwire.admin import audit
from leadwire.admin.auth import Admin, client_ip
from leadwire.platform.errors import InvalidPayload
from leadwire.platform.http import read_json, validation_error
from leadwire.tenants.models import Tenant
from leadwire.tenants.service import require_tenant

M = TypeVar("M", bound=BaseModel)

TAGS = ["admin"]
SECURITY = "adminToken"
OBJECT: dict[str, Any] = {
    "description": "OK",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


async def optional_body(request: Request, model: type[M]) -> M:
    """The JSON body as `model`; an empty body means every field's default."""
    data = await read_json(request, allow_empty=True)
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def optional_request_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI request body for routes whose body may be omitted."""
    return {
        "required": False,
        "content": {
            "application/json": {
                "schema": model.model_json_schema(ref_template="#/components/schemas/{model}")
            }
        },
    }


async def record(
    session: AsyncSession,
    request: Request,
    admin: Admin,
    *,
    action: str,
    target: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit one admin action in the action's own transaction."""
    await audit.record(
        session,
        actor=admin.actor,
        action=action,
        target=target,
        reason=reason,
        details=details,
        ip=client_ip(request),
    )


async def tenant_filter(session: AsyncSession, request: Request) -> Tenant | None:
    """The tenant named by the `tenant` query parameter (a slug), or None; 404 if unknown."""
    slug = request.query_params.get("tenant")
    if not slug:
        return None
    return await require_tenant(session, slug)


def int_param(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidPayload(f"{name} must be an integer", field=name) from None
    if not low <= value <= high:
        raise InvalidPayload(f"{name} must be between {low} and {high}", field=name)
    return value


TENANT_PARAM: dict[str, Any] = {
    "name": "tenant",
    "in": "query",
    "description": "a tenant's slug: only that tenant's figures",
    "schema": {"type": "string"},
}
