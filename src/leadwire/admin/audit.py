"""The audit log: who did what, when and why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.admin.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
    outcome: str = "ok",
) -> None:
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            target=target,
            reason=reason,
            details=details or {},
            ip=ip,
            outcome=outcome,
        )
    )
    await session.flush()


async def entries(
    session: AsyncSession, *, since: dt.datetime | None, actor: str | None, limit: int = 200
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
    if since is not None:
        query = query.where(AuditEntry.created_at >= since)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    result = await session.execute(query.limit(limit))
    return result.scalars().all()


def view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.created_at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "reason": entry.reason,
        "outcome": entry.outcome,
        "details": entry.details,
        "ip": entry.ip,
    }
