"""Platform-wide switches: emergency mode and queue pauses.

PostgreSQL is the source of truth (they survive restarts and a Redis wipe); the dial step
reads them in its own transaction, so a switch is effective on every worker for the next
dial, well within one second. Admin writes them; compliance and telephony read them.
Tenant pauses live on the tenant row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from leadwire.platform.db import Base, utcnow

EMERGENCY = "emergency"
QUEUE_PAUSE = "queue_pause:"


class Flag(Base):
    __tablename__ = "platform_flags"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))


@dataclass(frozen=True)
class Emergency:
    reason: str
    since: dt.datetime
    until: dt.datetime | None
    hangup_active: bool
    actor: str

    def to_json(self) -> dict[str, Any]:
        return {
            "active": True,
            "reason": self.reason,
            "since": self.since.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "hangup_active": self.hangup_active,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class Flags:
    emergency: Emergency | None
    paused_queues: dict[str, dict[str, Any]]

    def queue_paused(self, priority: str) -> bool:
        return priority in self.paused_queues or "all" in self.paused_queues


def _emergency(value: dict[str, Any], now: dt.datetime) -> Emergency | None:
    until = dt.datetime.fromisoformat(value["until"]) if value.get("until") else None
    if until is not None and until <= now:
        return None  # expired by itself
    return Emergency(
        reason=value.get("reason", ""),
        since=dt.datetime.fromisoformat(value["since"]),
        until=until,
        hangup_active=bool(value.get("hangup_active")),
        actor=value.get("actor", "unknown"),
    )


_READ = select(Flag.key, Flag.value)


async def read_flags(session: AsyncSession, *, now: dt.datetime | None = None) -> Flags:
    rows = (await session.execute(_READ)).all()
    return _flags([(key, value) for key, value in rows], now or utcnow())


async def read_flags_now(engine: AsyncEngine, *, now: dt.datetime | None = None) -> Flags:
    """The switches as committed this instant: one statement, outside any transaction (no
    BEGIN, no COMMIT), for a read that must be as late as possible and cost little."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = (await conn.execute(_READ)).all()
    return _flags([(key, value) for key, value in rows], now or utcnow())


def _flags(rows: Sequence[tuple[str, dict[str, Any]]], now: dt.datetime) -> Flags:
    emergency = None
    paused: dict[str, dict[str, Any]] = {}
    for key, value in rows:
        if key == EMERGENCY:
            emergency = _emergency(value, now)
        elif key.startswith(QUEUE_PAUSE):
            paused[key.removeprefix(QUEUE_PAUSE)] = value
    return Flags(emergency=emergency, paused_queues=paused)


async def _put(session: AsyncSession, key: str, value: dict[str, Any]) -> None:
    await session.execute(
        insert(Flag)
        .values(key=key, value=value)
        .on_conflict_do_update(
            index_elements=["key"], set_={"value": value, "updated_at": text("now()")}
        )
    )


async def set_emergency(
    session: AsyncSession,
    *,
    reason: str,
    actor: str,
    duration_s: int | None,
    hangup_active: bool,
    now: dt.datetime | None = None,
) -> Emergency:
    now = now or utcnow()
    until = now + dt.timedelta(seconds=duration_s) if duration_s else None
    value = {
        "reason": reason,
        "since": now.isoformat(),
        "until": until.isoformat() if until else None,
        "hangup_active": hangup_active,
        "actor": actor,
    }
    await _put(session, EMERGENCY, value)
    emergency = _emergency(value, now)
    assert emergency is not None
    return emergency


async def clear_emergency(session: AsyncSession) -> bool:
    result = await session.execute(delete(Flag).where(Flag.key == EMERGENCY))
    return bool(getattr(result, "rowcount", 0))


async def pause_queue(
    session: AsyncSession, *, priority: str, actor: str, reason: str | None
) -> None:
    await _put(
        session,
        QUEUE_PAUSE + priority,
        {"actor": actor, "reason": reason, "since": utcnow().isoformat()},
    )


async def resume_queue(session: AsyncSession, *, priority: str) -> None:
    if priority == "all":
        await session.execute(delete(Flag).where(Flag.key.startswith(QUEUE_PAUSE)))
    else:
        await session.execute(delete(Flag).where(Flag.key == QUEUE_PAUSE + priority))
