"""Dead letters: work that failed for good, kept with everything needed to understand and replay it.

`platform.job_runner` writes one when a task's failure is not retryable or its retry budget is
spent. Admins list them, resolve them with a note, or replay them: the task is enqueued again
with its original arguments and a fresh attempt budget. A replay is idempotent: the letter is
row-locked, and a letter already replayed is not enqueued again.

Statuses: `open` -> `resolved` (a human dealt with it) or `replayed` (the work runs again; if
it fails again, that failure is a new letter). A resolved letter may still be replayed.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Index, Integer, String, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from leadwire.platform.db import Base, new_id, utcnow
from leadwire.platform.errors import Conflict, InvalidPayload, NotFound
from leadwire.platform.jobs import job_key
from leadwire.platform.observability import mask_pii
from leadwire.platform.state import AppState

STATUSES = ("open", "resolved", "replayed")
MAX_MESSAGE = 2000


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    task: Mapped[str] = mapped_column(String(120))
    queue: Mapped[str] = mapped_column(String(32))
    # The task's own keyword arguments: IDs by convention, so replaying needs nothing else.
    kwargs: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    tenant_id: Mapped[uuid.UUID | None]
    error_class: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(120))
    message: Mapped[str] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    attempts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_note: Mapped[str | None] = mapped_column(String(1000))
    resolved_at: Mapped[dt.datetime | None]
    replayed_by: Mapped[str | None] = mapped_column(String(120))
    replayed_at: Mapped[dt.datetime | None]
    replay_job_key: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_dead_letters_status_created", "status", "created_at", "id"),
        Index("ix_dead_letters_tenant_created", "tenant_id", "created_at"),
    )


class DeadLetterNotFound(NotFound):
    code = "dead_letter_not_found"


class DeadLetterReplayed(Conflict):
    code = "dead_letter_replayed"


def _uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def record(
    session: AsyncSession,
    *,
    task: str,
    queue: str,
    kwargs: dict[str, Any],
    error_class: str,
    code: str,
    message: str,
    attempts: int,
    tenant_id: uuid.UUID | str | None,
    context: dict[str, Any],
) -> DeadLetter:
    """Store one dead letter (flushed, not committed). The message is masked for PII."""
    now = utcnow()
    letter = DeadLetter(
        id=new_id(),
        task=task,
        queue=queue,
        kwargs=kwargs,
        tenant_id=_uuid(tenant_id),
        error_class=str(error_class),
        code=code[:120],
        message=mask_pii(message)[:MAX_MESSAGE],
        context=context,
        attempts=attempts,
        status="open",
        created_at=now,
        updated_at=now,
    )
    session.add(letter)
    await session.flush()
    return letter


async def get(session: AsyncSession, letter_id: uuid.UUID, *, lock: bool = False) -> DeadLetter:
    query = select(DeadLetter).where(DeadLetter.id == letter_id)
    if lock:
        query = query.with_for_update()
    letter = (await session.execute(query)).scalar_one_or_none()
    if letter is None:
        raise DeadLetterNotFound(f"no dead letter {letter_id}")
    return letter


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise DeadLetterNotFound(f"no dead letter {raw}") from None


# ---- listing ----------------------------------------------------------------------------------


def encode_cursor(letter: DeadLetter) -> str:
    raw = f"{letter.created_at.isoformat()}|{letter.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return dt.datetime.fromisoformat(at), uuid.UUID(ident)
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload("cursor is not one this API returned", field="cursor") from None


async def list_letters(
    session: AsyncSession,
    *,
    status: str | None = None,
    error_class: str | None = None,
    tenant_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[Sequence[DeadLetter], str | None]:
    """Newest first, keyset-paged: returns the page and the cursor of the next one (or None)."""
    query = select(DeadLetter).order_by(DeadLetter.created_at.desc(), DeadLetter.id.desc())
    if status is not None:
        query = query.where(DeadLetter.status == status)
    if error_class is not None:
        query = query.where(DeadLetter.error_class == error_class)
    if tenant_id is not None:
        query = query.where(DeadLetter.tenant_id == tenant_id)
    if cursor:
        at, ident = decode_cursor(cursor)
        query = query.where(
            (DeadLetter.created_at < at) | ((DeadLetter.created_at == at) & (DeadLetter.id < ident))
        )
    rows = (await session.execute(query.limit(limit + 1))).scalars().all()
    page = rows[:limit]
    return page, encode_cursor(page[-1]) if len(rows) > limit else None


async def count_by(
    session: AsyncSession, *, since: dt.datetime | None = None, tenant_id: uuid.UUID | None = None
) -> dict[str, dict[str, int]]:
    """{status: {error_class: count}} for letters created since `since` (all when None)."""
    query = select(DeadLetter.status, DeadLetter.error_class, func.count()).group_by(
        DeadLetter.status, DeadLetter.error_class
    )
    if since is not None:
        query = query.where(DeadLetter.created_at >= since)
    if tenant_id is not None:
        query = query.where(DeadLetter.tenant_id == tenant_id)
    out: dict[str, dict[str, int]] = {status: {} for status in STATUSES}
    for status, error_class, count in (await session.execute(query)).all():
        out.setdefault(status, {})[error_class] = count
    return out


async def open_count(session: AsyncSession) -> int:
    query = select(func.count()).select_from(DeadLetter).where(DeadLetter.status == "open")
    return int((await session.execute(query)).scalar_one())


# ---- admin actions ----------------------------------------------------------------------------


async def resolve(
    session: AsyncSession, *, letter_id: uuid.UUID, actor: str, note: str
) -> tuple[DeadLetter, bool]:
    """Mark a letter resolved; returns (letter, changed). Resolving twice changes nothing."""
    letter = await get(session, letter_id, lock=True)
    if letter.status == "resolved":
        return letter, False
    if letter.status == "replayed":
        raise DeadLetterReplayed(
            f"dead letter {letter_id} was replayed at {letter.replayed_at}; nothing to resolve"
        )
    now = utcnow()
    letter.status = "resolved"
    letter.resolved_by = actor
    letter.resolved_note = note
    letter.resolved_at = now
    letter.updated_at = now
    await session.flush()
    return letter, True


def replay_key(letter_id: uuid.UUID) -> str:
    return job_key("deadletter.replay", letter_id)


async def replay(
    session: AsyncSession, *, state: AppState, letter_id: uuid.UUID, actor: str
) -> tuple[DeadLetter, bool]:
    """Enqueue the letter's task again with a fresh attempt budget; returns (letter, enqueued).

    Unlike other services this enqueues before its transaction commits, on purpose: the job
    does not read this row, so running early is harmless, while enqueueing after the commit
    could mark the letter `replayed` and then fail to queue it (work lost). The row lock makes
    concurrent replays wait; the deterministic job key collapses a replay whose commit failed
    and that is asked for again while the first job is still pending.
    """
    letter = await get(session, letter_id, lock=True)
    if letter.status == "replayed":
        return letter, False
    key = replay_key(letter.id)
    timeout_s = int(letter.context.get("timeout_s") or 60)
    await state.queues.enqueue(
        letter.queue,
        letter.task,
        job_key=key,
        timeout_s=timeout_s,
        meta={"replay_of": str(letter.id)},
        **letter.kwargs,
    )
    now = utcnow()
    letter.status = "replayed"
    letter.replayed_by = actor
    letter.replayed_at = now
    letter.replay_job_key = key
    letter.updated_at = now
    await session.flush()
    return letter, True


def view(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": str(letter.id),
        "task": letter.task,
        "queue": letter.queue,
        "kwargs": letter.kwargs,
        "tenant_id": str(letter.tenant_id) if letter.tenant_id else None,
        "class": letter.error_class,
        "code": letter.code,
        "message": letter.message,
        "context": letter.context,
        "attempts": letter.attempts,
        "status": letter.status,
        "created_at": letter.created_at.isoformat() if letter.created_at else None,
        "resolved_by": letter.resolved_by,
        "note": letter.resolved_note,
        "resolved_at": letter.resolved_at.isoformat() if letter.resolved_at else None,
        "replayed_by": letter.replayed_by,
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
        "replay_job_key": letter.replay_job_key,
    }
