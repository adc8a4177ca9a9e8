"""Tenant authentication: `Authorization: Bearer <tenant api key>`.

Keys are looked up by their SHA-256. A short in-process cache (10 s) keeps the hot intake path
to one database round trip per lead; a revoked key stops working within that time.
"""

from __future__ import annotations

import time

from starlette.requests import Request

from leadwire.platform.http import app_state
from leadwire.platform.observability import tenant_id_var
from leadwire.platform.security import bearer_token, hash_token
from leadwire.tenants import repository
from leadwire.tenants.errors import InvalidApiKey
from leadwire.tenants.service import TenantContext, context_of

_CACHE_TTL_S = 10.0
_cache: dict[str, tuple[float, TenantContext]] = {}


async def authenticate_tenant(request: Request) -> TenantContext:
    token = bearer_token(request.headers.get("authorization"))
    state = app_state(request)
    if token is None:
        state.metrics.security_events.labels("missing_api_key").inc()
        raise InvalidApiKey("missing bearer API key", code="missing_api_key")
    key_hash = hash_token(token)
    now = time.monotonic()
    cached = _cache.get(key_hash)
    if cached and cached[0] > now:
        tenant = cached[1]
    else:
        async with state.sessions() as session:
            row = await repository.tenant_for_key_hash(session, key_hash)
        if row is None:
            state.metrics.security_events.labels("invalid_api_key").inc()
            raise InvalidApiKey("invalid API key")
        tenant = context_of(row)
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key_hash] = (now + _CACHE_TTL_S, tenant)
    if tenant.status != "active":
        raise InvalidApiKey(f"tenant {tenant.slug} is {tenant.status}", code="tenant_suspended")
    tenant_id_var.set(str(tenant.id))
    return tenant


def forget_cached_keys() -> None:
    _cache.clear()
