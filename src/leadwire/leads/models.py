"""Leads and their timeline."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from leadwire.platform.db import Base, new_id


class LeadStatus(enum.StrEnum):
    PENDING_FETCH = "pending_fetch"  # stored from an ids-only delivery; fields still to fetch
    ACCEPTED = "accepted"  # stored and valid; waiting for processing (fetch, enrich, priority)
    READY = "ready"  # processed and prioritized; waiting for the gate and a dial slot
    REJECTED = "rejected"  # never dialed (reject_reason says why)
    SCHEDULED = "scheduled"  # passed the gate (or deferred); in a dial queue or waiting
    BLOCKED = "blocked"  # the gate said block; never dialed
    DIALING = "dialing"  # an attempt is being placed or is live
    CLOSED = "closed"  # done; `outcome` says how


class Priority(enum.StrEnum):
    EMERGENCY = "emergency"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    # Natural key of the source (meta:<leadgen_id>, ...) or a fingerprint; unique per tenant.
    dedupe_key: Mapped[str] = mapped_column(String(300))
    # Leads without a natural key: sha256 of tenant, phone, email and campaign, deduplicated
    # within a 24 h window by `leadwire_ingest` (see the migration).
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(24))
    reject_reason: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16), server_default=Priority.MEDIUM.value)
    urgency: Mapped[str | None] = mapped_column(String(16))

    phone_raw: Mapped[str | None] = mapped_column(String(64))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    phone_info: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    name: Mapped[str | None] = mapped_column(String(300))
    first_name: Mapped[str | None] = mapped_column(String(150))
    last_name: Mapped[str | None] = mapped_column(String(150))
    email: Mapped[str | None] = mapped_column(String(320))
    service: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(2))
    campaign_id: Mapped[str | None] = mapped_column(String(300))
    message: Mapped[str | None] = mapped_column(Text)
    consent: Mapped[dict[str, Any] | None]
    custom_fields: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    enrichment: Mapped[dict[str, Any] | None]
    raw: Mapped[dict[str, Any] | None]

    outcome: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    # When the next piece of work is due; the sweeper re-queues leads whose work went missing.
    next_action_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_leads_tenant_received", "tenant_id", "received_at", "id"),
        Index("ix_leads_tenant_status", "tenant_id", "status"),
        Index("ix_leads_phone", "phone_e164"),
        Index(
            "ix_leads_due",
            "next_action_at",
            postgresql_where=text(
                "status IN ('pending_fetch','accepted','ready','scheduled','dialing')"
            ),
        ),
    )


class LeadFingerprint(Base):
    """The lead that holds a fingerprint (leads without a natural key) for the dedupe window.

    `leadwire_ingest` claims the row by primary key, or takes it over once `received_at` is
    older than the window (migration 0410 says why this is a table of its own).
    """

    __tablename__ = "lead_fingerprints"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column()
    received_at: Mapped[dt.datetime] = mapped_column()


class LeadEvent(Base):
    """The lead's timeline: every step, decision and callback that touched it."""

    __tablename__ = "lead_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (Index("ix_lead_events_lead", "lead_id", "id"),)
