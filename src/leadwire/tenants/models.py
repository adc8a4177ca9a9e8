"""Tenants, their API keys and the source keys that route app-level webhooks to them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from leadwire.platform.db import Base, TimestampMixin, new_id


class Tenant(TimestampMixin, Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    # Non-secret settings (CONTRACT.md section 5); secrets live encrypted in `secrets`.
    settings: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary)
    paused_until: Mapped[dt.datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(String(500))


class ApiKey(Base):
    """A tenant API key, stored as its SHA-256; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    revoked_at: Mapped[dt.datetime | None]

    __table_args__ = (Index("ix_api_keys_tenant_id", "tenant_id"),)


class TenantSourceKey(Base):
    """Routes app-level webhooks: (source, key) -> tenant, e.g. ("meta", page_id).

    Secret keys (Google's google_key) are stored as their SHA-256, never in clear.
    """

    __tablename__ = "tenant_source_keys"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("source", "key"),
        Index("ix_tenant_source_keys_tenant_id", "tenant_id"),
    )
