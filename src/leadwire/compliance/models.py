"""Compliance tables: DNC lists and their numbers, consent revocations, the attempts ledger.

Sized for the National Registry (tens of millions of numbers):

* a number is its E.164 digits as a BIGINT (`+15125550100` -> 15125550100), 8 bytes;
* `dnc_entries` is only (phone, list_id) with the primary key leading on `phone`, so one index
  probe finds every list a number is on; it has no foreign key (a per-row check would slow a
  10-million-row load) and no timestamps (when and why a number was added is kept, for
  opt-outs, in `consent_revocations`);
* `dnc_lists` holds one row per list with what the "registry older than 31 days" rule needs:
  where the data came from, when it was loaded, the date of the data and the row count.

Decision evidence is not here: every gate decision is a `compliance.decision` event on the
lead's timeline (`lead_events`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from leadwire.platform.db import Base


class DncList(Base):
    """One DNC list: the national registry, a state's list, a tenant's list, platform opt-outs.

    `key` names it uniquely: `national`, `state:TX`, `tenant:<tenant id>`, `platform_optout`.
    `data_as_of` is when the list's data was obtained (the registry download date when the
    importer gave one, else the load time); the 31-day freshness rule is measured from it.
    """

    __tablename__ = "dnc_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE")
    )
    source: Mapped[str | None] = mapped_column(String(500))
    loaded_at: Mapped[dt.datetime | None]
    data_as_of: Mapped[dt.datetime | None]
    row_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (
        Index("ix_dnc_lists_kind", "kind"),
        Index("ix_dnc_lists_tenant_id", "tenant_id"),
    )


class DncEntry(Base):
    """A number on a list. The primary key (phone, list_id) is the lookup index."""

    __tablename__ = "dnc_entries"

    phone: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    list_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ConsentRevocation(Base):
    """An opt-out or revocation of consent, append-only (a trigger refuses updates).

    Written before the call that heard it ends (reference 1.6); kept as the record of the DNC
    request (`channel`: api, call, dtmf, sms, ...; `detail`: words or keys used, call id, ...).
    It revokes the tenant's consent for the number given before `revoked_at`.
    """

    __tablename__ = "consent_revocations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    phone: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    revoked_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))

    __table_args__ = (
        Index("ix_consent_revocations_tenant_phone", "tenant_id", "phone", "revoked_at"),
    )


class ContactAttempt(Base):
    """One dial attempt, recorded before the provider is called (per-number 24 h caps)."""

    __tablename__ = "contact_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    lead_id: Mapped[uuid.UUID] = mapped_column()
    phone: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column()

    __table_args__ = (
        # A re-run of the dial job records the same attempt once.
        UniqueConstraint("lead_id", "at"),
        Index("ix_contact_attempts_tenant_phone", "tenant_id", "phone", "at"),
    )
