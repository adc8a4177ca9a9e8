"""What the intake needs to know about a tenant, cached in-process for a few seconds.

Every webhook names its tenant (by slug, or by a page / portal / org / key in the payload) and
needs its source credentials, `default_region` and `field_map`. Reading them from PostgreSQL
and decrypting the secrets on every delivery would double the intake's round trips, so this
process keeps them for `TTL_S` seconds. A change to a tenant row made through this process's ORM
(settings PATCH, status change, pause) forgets that tenant as soon as it commits; another
API replica sees it within `TTL_S`. A deleted tenant is forgotten the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session, object_session

from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants.models import Tenant

__all__ = [
    "TTL_S",
    "IntakeTenant",
    "forget",
    "platform_secrets",
    "tenant_by_id",
    "tenant_by_slug",
    "tenant_by_source_key",
]

log = logging.getLogger("leadwire.leads")

TTL_S = 5.0
_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class IntakeTenant:
    """A tenant as the intake sees it; `credentials` are the `sources.<key>` blocks with their
    secrets decrypted (only in this process's memory, never logged: `SourceCredentials` keeps
    them as `SecretStr`)."""

    id: uuid.UUID
    slug: str
    status: str
    default_region: str = "US"
    field_map: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, SourceCredentials] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def source(self, settings_key: str) -> SourceCredentials | None:
        return self.credentials.get(settings_key)


def _credentials(
    settings: Mapping[str, Any], secrets: Mapping[str, Any], slug: str
) -> dict[str, SourceCredentials]:
    blocks: dict[str, dict[str, Any]] = {}
    for key, block in (settings.get("sources") or {}).items():
        if isinstance(block, dict):
            blocks[key] = dict(block)
    for name, value in secrets.items():
        source, _, secret_field = name.partition(".")
        if secret_field:
            blocks.setdefault(source, {})[secret_field] = value
    found: dict[str, SourceCredentials] = {}
    for key, block in blocks.items():
        try:
            found[key] = SourceCredentials.model_validate(block)
        except ValidationError:
            # Settings are validated on write; an unreadable block means "not configured"
            # (401 for that source) rather than a failure of every source.
            log.error("unreadable source settings", extra={"tenant": slug, "source": key})
    return found


def intake_tenant(row: Tenant, *, secrets: Mapping[str, Any]) -> IntakeTenant:
    settings = row.settings or {}
    field_map = settings.get("field_map") or {}
    return IntakeTenant(
        id=row.id,
        slug=row.slug,
        status=row.status,
        default_region=str(settings.get("default_region") or "US"),
        field_map={str(k): str(v) for k, v in field_map.items()},
        credentials=_credentials(settings, secrets, row.slug),
    )


class _Cache:
    def __init__(self) -> None:
        self.by_id: dict[uuid.UUID, tuple[float, IntakeTenant]] = {}
        self.by_slug: dict[str, tuple[float, uuid.UUID]] = {}
        self.by_key: dict[tuple[str, str], tuple[float, uuid.UUID]] = {}

    def get(self, tenant_id: uuid.UUID, now: float) -> IntakeTenant | None:
        hit = self.by_id.get(tenant_id)
        return hit[1] if hit is not None and hit[0] > now else None

    def put(self, tenant: IntakeTenant, now: float) -> None:
        if len(self.by_id) > _MAX_ENTRIES or len(self.by_key) > _MAX_ENTRIES:
            self.clear()
        expires = now + TTL_S
        self.by_id[tenant.id] = (expires, tenant)
        self.by_slug[tenant.slug] = (expires, tenant.id)

    def forget(self, tenant_id: uuid.UUID) -> None:
        self.by_id.pop(tenant_id, None)
        self.by_slug = {k: v for k, v in self.by_slug.items() if v[1] != tenant_id}
        self.by_key = {k: v for k, v in self.by_key.items() if v[1] != tenant_id}

    def clear(self) -> None:
        self.by_id.clear()
        self.by_slug.clear()
        self.by_key.clear()


_cache = _Cache()


def forget(tenant_id: uuid.UUID | None = None) -> None:
    """Drop one tenant (or, without an id, every tenant) from this process's cache."""
    if tenant_id is None:
        _cache.clear()
        _loading.clear()
    else:
        _cache.forget(tenant_id)


def _load(state: AppState, row: Tenant | None, now: float) -> IntakeTenant | None:
    if row is None:
        return None
    tenant = intake_tenant(row, secrets=state.secret_box.open(row.secrets))
    _cache.put(tenant, now)
    return tenant


def _cached_by_id(tenant_id: uuid.UUID) -> IntakeTenant | None:
    return _cache.get(tenant_id, time.monotonic())


def _cached_by_slug(slug: str) -> IntakeTenant | None:
    now = time.monotonic()
    known = _cache.by_slug.get(slug)
    return _cache.get(known[1], now) if known is not None and known[0] > now else None


def _cached_by_key(source: str, key: str) -> IntakeTenant | None:
    now = time.monotonic()
    known = _cache.by_key.get((source, key))
    return _cache.get(known[1], now) if known is not None and known[0] > now else None


def _loader(key: tuple[str, ...]) -> asyncio.Lock:
    """One load per key at a time: when an entry expires under load, the requests that all
    miss it wait for one query instead of each running its own (a burst of queries past the
    pool's size would also make it open and close overflow connections)."""
    lock = _loading.get(key)
    if lock is None:
        if len(_loading) > _MAX_ENTRIES:
            _loading.clear()
        lock = _loading[key] = asyncio.Lock()
    return lock


_loading: dict[tuple[str, ...], asyncio.Lock] = {}


async def tenant_by_id(state: AppState, tenant_id: uuid.UUID) -> IntakeTenant | None:
    cached = _cached_by_id(tenant_id)
    if cached is not None:
        return cached
    async with _loader(("id", str(tenant_id))):
        cached = _cached_by_id(tenant_id)
        if cached is not None:
            return cached
        async with state.sessions() as session:
            row = await tenants_repo.get_by_id(session, tenant_id)
        return _load(state, row, time.monotonic())


async def tenant_by_slug(state: AppState, slug: str) -> IntakeTenant | None:
    cached = _cached_by_slug(slug)
    if cached is not None:
        return cached
    async with _loader(("slug", slug)):
        cached = _cached_by_slug(slug)
        if cached is not None:
            return cached
        async with state.sessions() as session:
            row = await tenants_repo.get_by_slug(session, slug)
        return _load(state, row, time.monotonic())


async def tenant_by_source_key(state: AppState, source: str, key: str) -> IntakeTenant | None:
    """The tenant holding an app-level routing key (`("meta", page_id)`, ...), or None."""
    cached = _cached_by_key(source, key)
    if cached is not None:
        return cached
    async with _loader(("key", source, key)):
        cached = _cached_by_key(source, key)
        if cached is not None:
            return cached
        async with state.sessions() as session:
            row = await tenants_repo.tenant_for_source_key(session, source, key)
        now = time.monotonic()
        tenant = _load(state, row, now)
        if tenant is not None:
            _cache.by_key[(source, key)] = (now + TTL_S, tenant.id)
        return tenant


_platform: tuple[Settings, PlatformSecrets] | None = None


def platform_secrets(settings: Settings) -> PlatformSecrets:
    """The platform's own app secrets (Meta, HubSpot), built once per settings object."""
    global _platform
    if _platform is None or _platform[0] is not settings:
        _platform = (
            settings,
            PlatformSecrets(
                meta_app_secret=settings.meta_app_secret,
                meta_verify_token=settings.meta_verify_token,
                hubspot_client_secret=settings.hubspot_client_secret,
            ),
        )
    return _platform[1]


# --- invalidation on commit of a changed tenant row ---------------------------------------------
_CHANGED = "leads.tenants_changed"


def _tenant_changed(mapper: Mapper[Tenant], connection: Connection, target: Tenant) -> None:
    session = object_session(target)
    if session is not None:
        session.info.setdefault(_CHANGED, set()).add(target.id)


def _after_commit(session: Session) -> None:
    for tenant_id in session.info.pop(_CHANGED, ()):
        _cache.forget(tenant_id)


def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)


if not event.contains(Tenant, "after_update", _tenant_changed):
    event.listen(Tenant, "after_update", _tenant_changed)
    event.listen(Tenant, "after_delete", _tenant_changed)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
