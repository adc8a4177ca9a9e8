"""telephony: calls (one row per attempt, written before dialing) and raw call events

Revision ID: 0200_telephony_calls
Revises: 0003_platform_flags
Create Date: 2026-11-21 23:48:10.518833
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0200_telephony_calls"
down_revision: str | Sequence[str] | None = "0003_platform_flags"
branch_labels: str | Sequence[str] | None = ("telephony",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_call_id", sa.String(length=64), nullable=True),
        sa.Column("from_number", sa.String(length=20), nullable=False),
        sa.Column("to_number", sa.String(length=20), nullable=False),
        sa.Column(
            "state",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("answered_by", sa.String(length=24), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("outcome_reason", sa.String(length=64), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("price", sa.Numeric(precision=12, scale=5), nullable=True),
        sa.Column("price_unit", sa.String(length=3), nullable=True),
        sa.Column("cost_usd", sa.Numeric(precision=12, scale=5), nullable=True),
        sa.Column(
            "budget_reserved_usd",
            sa.Numeric(precision=12, scale=5),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("budget_day", sa.String(length=10), nullable=True),
        sa.Column("voicemail_left", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("transfer_to", sa.String(length=20), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_class", sa.String(length=16), nullable=True),
        sa.Column(
            "dispatch",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("dial_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_calls_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_calls_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("lead_id", "attempt", name=op.f("uq_calls_lead_id_attempt")),
        sa.UniqueConstraint("provider_call_id", name=op.f("uq_calls_provider_call_id")),
    )
    op.create_index(
        "ix_calls_open",
        "calls",
        ["tenant_id", "started_at"],
        unique=False,
        postgresql_where=sa.text("finalized_at IS NULL"),
    )
    op.create_index("ix_calls_tenant_lead", "calls", ["tenant_id", "lead_id"], unique=False)
    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("provider_call_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("signature_valid", sa.Boolean(), nullable=False),
        sa.Column("sequence_number", sa.Integer(), nullable=True),
        sa.Column("effect", sa.String(length=16), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_events_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
    )
    op.create_index("ix_call_events_call", "call_events", ["call_id", "id"], unique=False)
    op.create_index(
        "ix_call_events_unlinked",
        "call_events",
        ["provider_call_id"],
        unique=False,
        postgresql_where=sa.text("call_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_call_events_unlinked",
        table_name="call_events",
        postgresql_where=sa.text("call_id IS NULL"),
    )
    op.drop_index("ix_call_events_call", table_name="call_events")
    op.drop_table("call_events")
    op.drop_index("ix_calls_tenant_lead", table_name="calls")
    op.drop_index(
        "ix_calls_open", table_name="calls", postgresql_where=sa.text("finalized_at IS NULL")
    )
    op.drop_table("calls")
