"""Tenant lifecycle and settings. Services flush, never commit."""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.platform.http import validation_error
from leadwire.platform.security import SecretBox, hash_token, new_api_key
from leadwire.tenants import repository
from leadwire.tenants.errors import InvalidSettings, TenantExists, UnknownTenant
from leadwire.tenants.models import ApiKey, Tenant
from leadwire.tenants.plans import PLANS, plan_summary
from leadwire.tenants.settings_schema import (
    TenantSettings,
    deep_merge,
    masked_view,
    split_secrets,
)
from leadwire.tenants.source_keys import google_key_fingerprint, organization_key

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class TenantContext:
    """What a request or a job needs to know about its tenant."""

    id: uuid.UUID
    slug: str
    name: str
    plan: str
    status: str


def context_of(tenant: Tenant) -> TenantContext:
    return TenantContext(tenant.id, tenant.slug, tenant.name, tenant.plan, tenant.status)


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "plan": tenant.plan,
        "plan_details": plan_summary(tenant.plan),
        "status": tenant.status,
        "paused_until": tenant.paused_until.isoformat() if tenant.paused_until else None,
        "pause_reason": tenant.pause_reason,
        "created_at": tenant.created_at.isoformat() if tenant.created_at else None,
    }


def _check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise InvalidSettings(
            f"plan must be one of {', '.join(PLANS)}", field="plan", code="invalid_plan"
        )


async def create_tenant(
    session: AsyncSession,
    *,
    slug: str,
    name: str | None = None,
    plan: str = "starter",
    settings: dict[str, Any] | None = None,
    secret_box: SecretBox,
) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the key is returned once, stored hashed."""
    if not SLUG.match(slug):
        raise InvalidSettings(
            "slug must be 1-63 lowercase letters, digits or dashes, not starting or ending "
            "with a dash",
            field="slug",
            code="invalid_slug",
        )
    _check_plan(plan)
    tenant = Tenant(id=uuid.uuid4(), slug=slug, name=name or slug, plan=plan, settings={})
    session.add(tenant)
    try:
        await session.flush()
    except IntegrityError:
        raise TenantExists(f"tenant {slug!r} already exists", field="slug") from None
    if settings:
        await update_settings(session, tenant=tenant, patch=settings, secret_box=secret_box)
    else:
        tenant.settings = TenantSettings().model_dump(mode="json")
    key = new_api_key()
    session.add(ApiKey(tenant_id=tenant.id, prefix=key[:10], key_hash=hash_token(key)))
    await session.flush()
    return tenant, key


async def update_tenant(
    session: AsyncSession,
    *,
    slug: str,
    name: str | None = None,
    plan: str | None = None,
    status: str | None = None,
) -> Tenant:
    tenant = await require_tenant(session, slug)
    if name is not None:
        tenant.name = name
    if plan is not None:
        _check_plan(plan)
        tenant.plan = plan
    if status is not None:
        if status not in ("active", "suspended"):
            raise InvalidSettings("status must be active or suspended", field="status")
        tenant.status = status
    await session.flush()
    return tenant


async def require_tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = await repository.get_by_slug(session, slug)
    if tenant is None:
        raise UnknownTenant(f"no tenant {slug!r}")
    return tenant


def tenant_secrets(tenant: Tenant, secret_box: SecretBox) -> dict[str, Any]:
    return secret_box.open(tenant.secrets)


# The last validated settings per tenant: the dial path reads a tenant's settings several
# times per call, and validating them (caller IDs parsed by phonenumbers, ...) costs more than
# comparing the stored dict with the one validated last. Read-only: nobody mutates the model.
_VALIDATED: dict[uuid.UUID | None, tuple[dict[str, Any], TenantSettings]] = {}
_VALIDATED_MAX = 4096


def effective_settings(tenant: Tenant) -> TenantSettings:
    raw = tenant.settings or {}
    cached = _VALIDATED.get(tenant.id)
    if cached is not None and cached[0] == raw:
        return cached[1]
    settings = TenantSettings.model_validate(raw)
    if len(_VALIDATED) >= _VALIDATED_MAX:
        _VALIDATED.clear()
    _VALIDATED[tenant.id] = (copy.deepcopy(raw), settings)
    return settings


def read_settings(tenant: Tenant, secret_box: SecretBox) -> dict[str, Any]:
    return masked_view(tenant.settings or {}, tenant_secrets(tenant, secret_box))


def _routing_keys(settings: TenantSettings, secrets: dict[str, Any]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    src = settings.sources
    if src.meta:
        keys += [("meta", page_id) for page_id in src.meta.page_ids]
    if src.hubspot and src.hubspot.portal_id:
        keys.append(("hubspot", str(src.hubspot.portal_id)))
    if src.salesforce and src.salesforce.organization_id:
        keys.append(("salesforce", organization_key(src.salesforce.organization_id)))
    google_key = secrets.get("google_ads.google_key")
    if google_key:
        keys.append(("google-ads", google_key_fingerprint(google_key)))
    return keys


async def update_settings(
    session: AsyncSession, *, tenant: Tenant, patch: dict[str, Any], secret_box: SecretBox
) -> dict[str, Any]:
    """Merge `patch` into the tenant's settings; secrets are encrypted; returns the masked view."""
    current_secrets = tenant_secrets(tenant, secret_box)
    merged = deep_merge(tenant.settings or {}, patch)
    # Validate the merged document with the secrets in place so required pairs are checked.
    try:
        validated = TenantSettings.model_validate(merged)
    except ValidationError as exc:
        error = validation_error(exc)
        raise InvalidSettings(error.message, field=error.field) from None
    public, new_secrets = split_secrets(validated.model_dump(mode="json", exclude_none=True))
    secrets = {**current_secrets, **new_secrets}
    # A secret explicitly set to null in the patch is removed.
    for source, block in (patch.get("sources") or {}).items():
        if isinstance(block, dict):
            for name, value in block.items():
                if value is None:
                    secrets.pop(f"{source}.{name}", None)
        elif block is None:
            secrets = {k: v for k, v in secrets.items() if not k.startswith(f"{source}.")}
    taken = await repository.replace_source_keys(
        session, tenant_id=tenant.id, keys=_routing_keys(validated, secrets)
    )
    if taken:
        source = taken[0][0]
        raise InvalidSettings(
            f"this {source} account is already connected to another tenant",
            field=f"sources.{source.replace('-', '_')}",
            code="source_in_use",
        )
    tenant.settings = public
    tenant.secrets = secret_box.seal(secrets) if secrets else None
    await session.flush()
    return masked_view(public, secrets)
