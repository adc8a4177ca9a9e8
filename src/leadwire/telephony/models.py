"""Calls and the raw callbacks about them.

A `calls` row is written for an attempt *before* the provider is asked to place it: the row,
unique on (lead, attempt), is what guarantees that one attempt is dialed at most once. A row
without `provider_call_id` whose dial lease has passed is an attempt whose outcome at the
provider is unknown (the worker died mid-dial); recovery asks the provider before dialing.

`call_events` keeps every callback exactly as it arrived, linked to its call when the CallSid
is known (a callback can arrive before the CallSid is stored; it is linked and applied then).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from leadwire.platform.db import Base, new_id

MONEY = Numeric(12, 5)


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    # Twilio's vocabulary (queued ... completed|busy|no-answer|failed|canceled).
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    provider: Mapped[str] = mapped_column(String(16))
    provider_call_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    from_number: Mapped[str] = mapped_column(String(20))
    to_number: Mapped[str] = mapped_column(String(20))
    # The call state machine's snapshot (`telephony.state_machine.CallState`, as JSON).
    state: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    answered_by: Mapped[str | None] = mapped_column(String(24))
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_reason: Mapped[str | None] = mapped_column(String(64))
    duration_s: Mapped[int | None]
    price: Mapped[Decimal | None] = mapped_column(MONEY)  # the provider's, as a charge (>= 0)
    price_unit: Mapped[str | None] = mapped_column(String(3))
    cost_usd: Mapped[Decimal | None] = mapped_column(MONEY)  # what the budget is charged
    budget_reserved_usd: Mapped[Decimal] = mapped_column(MONEY, server_default=text("0"))
    budget_day: Mapped[str | None] = mapped_column(String(10))  # the tenant's local date
    voicemail_left: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    transfer_to: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[int | None]
    error_class: Mapped[str | None] = mapped_column(String(16))
    # How the dispatcher handed the attempt out: priority, sequence, posted/claimed/send times.
    dispatch: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    # Until when the dialing worker owns an attempt that has no provider call id yet.
    dial_lease_until: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    placed_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    # Set once the final status was applied to the lead (slot, budget, outcome).
    finalized_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    # What the AI conversation (ConversationRelay) left behind; `outcome` above is the
    # carrier's view of the call, `ai_outcome` the conversation's (qualified, booked, ...).
    transcript: Mapped[list[Any] | None]
    qualification: Mapped[dict[str, Any] | None]
    ai_outcome: Mapped[str | None] = mapped_column(String(32))
    ai_end_reason: Mapped[str | None] = mapped_column(String(32))
    ai_tokens: Mapped[int | None]
    ai_cost_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    # Usage detail, the handoff sent with `end`, a booking, unreadable frames.
    ai_detail: Mapped[dict[str, Any] | None]

    __table_args__ = (
        UniqueConstraint("lead_id", "attempt"),
        Index("ix_calls_tenant_lead", "tenant_id", "lead_id"),
        Index(
            "ix_calls_open",
            "tenant_id",
            "started_at",
            postgresql_where=text("finalized_at IS NULL"),
        ),
    )


class CallEvent(Base):
    """One callback (or provider reconciliation) exactly as received."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    call_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID | None]
    provider_call_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # The form as [[name, value], ...] in arrival order (repeated names kept).
    params: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    signature_valid: Mapped[bool] = mapped_column(Boolean)
    sequence_number: Mapped[int | None]
    effect: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (
        Index("ix_call_events_call", "call_id", "id"),
        Index(
            "ix_call_events_unlinked",
            "provider_call_id",
            postgresql_where=text("call_id IS NULL"),
        ),
    )
