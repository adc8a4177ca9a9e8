"""Admin tokens beyond the bootstrap one: created (shown once), listed, revoked; stored hashed."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.admin.models import AdminToken
from leadwire.platform.db import new_id, utcnow
from leadwire.platform.errors import NotFound
from leadwire.platform.security import hash_token

TOKEN_PREFIX = "lwa_"  # noqa: S105 - a prefix, not a secret
Scope = Literal["read", "operate"]


class UnknownAdminToken(NotFound):
    code = "unknown_admin_token"


def new_admin_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def create(
    session: AsyncSession, *, name: str, scope: Scope, created_by: str
) -> tuple[AdminToken, str]:
    """A new token; returns the row and the token itself (never stored, shown once)."""
    token = new_admin_token()
    row = AdminToken(
        id=new_id(),
        name=name,
        scope=scope,
        prefix=token[:10],
        token_hash=hash_token(token),
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row, token


async def find_active(session: AsyncSession, token: str) -> AdminToken | None:
    result = await session.execute(
        select(AdminToken).where(
            AdminToken.token_hash == hash_token(token), AdminToken.revoked_at.is_(None)
        )
    )
    return result.scalar_one_or_none()


async def list_all(session: AsyncSession) -> Sequence[AdminToken]:
    result = await session.execute(select(AdminToken).order_by(AdminToken.created_at))
    return result.scalars().all()


async def revoke(session: AsyncSession, *, token_id: uuid.UUID, actor: str) -> AdminToken:
    """Revoke a token (revoking twice keeps the first revocation)."""
    row = await session.get(AdminToken, token_id, with_for_update=True)
    if row is None:
        raise UnknownAdminToken(f"no admin token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = actor
        await session.flush()
    return row


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise UnknownAdminToken(f"no admin token {raw}") from None


def view(row: AdminToken) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "scope": row.scope,
        "prefix": row.prefix,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }
