"""SQL for tenants, keys and source keys. Every tenant-scoped query names the tenant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.tenants.models import ApiKey, Tenant, TenantSourceKey


async def get_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    result = await session.execute(select(Tenant).where(Tenant.slug == slug))
    return result.scalar_one_or_none()


async def get_by_id(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def list_all(session: AsyncSession) -> Sequence[Tenant]:
    result = await session.execute(select(Tenant).order_by(Tenant.created_at, Tenant.slug))
    return result.scalars().all()


async def tenant_for_key_hash(session: AsyncSession, key_hash: str) -> Tenant | None:
    result = await session.execute(
        select(Tenant)
        .join(ApiKey, ApiKey.tenant_id == Tenant.id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    return result.scalar_one_or_none()


async def tenant_for_source_key(session: AsyncSession, source: str, key: str) -> Tenant | None:
    result = await session.execute(
        select(Tenant)
        .join(TenantSourceKey, TenantSourceKey.tenant_id == Tenant.id)
        .where(TenantSourceKey.source == source, TenantSourceKey.key == key)
    )
    return result.scalar_one_or_none()


async def replace_source_keys(
    session: AsyncSession, *, tenant_id: uuid.UUID, keys: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Set the tenant's routing keys; returns the keys another tenant already holds."""
    await session.execute(delete(TenantSourceKey).where(TenantSourceKey.tenant_id == tenant_id))
    taken: list[tuple[str, str]] = []
    for source, key in keys:
        result = await session.execute(
            insert(TenantSourceKey)
            .values(tenant_id=tenant_id, source=source, key=key)
            .on_conflict_do_nothing(index_elements=["source", "key"])
            .returning(TenantSourceKey.id)
        )
        if result.scalar_one_or_none() is None:
            taken.append((source, key))
    return taken
