"""compliance: DNC lists and entries, consent revocations, contact attempts

Revision ID: 0100_compliance
Revises: 0003_platform_flags
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0100_compliance"
down_revision: str | Sequence[str] | None = "0003_platform_flags"
branch_labels: str | Sequence[str] | None = ("compliance",)
depends_on: str | Sequence[str] | None = None

# Revocations are evidence: never rewritten. Deleting stays possible for a retention job.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION leadwire_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;
"""


def upgrade() -> None:
    op.create_table(
        "dnc_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data_as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("row_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_dnc_lists_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_lists")),
        sa.UniqueConstraint("key", name=op.f("uq_dnc_lists_key")),
    )
    op.create_index("ix_dnc_lists_kind", "dnc_lists", ["kind"], unique=False)
    op.create_index("ix_dnc_lists_tenant_id", "dnc_lists", ["tenant_id"], unique=False)
    op.create_table(
        "dnc_entries",
        sa.Column("phone", sa.BigInteger(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("phone", "list_id", name=op.f("pk_dnc_entries")),
    )
    op.create_table(
        "consent_revocations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_consent_revocations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_revocations")),
    )
    op.create_index(
        "ix_consent_revocations_tenant_phone",
        "consent_revocations",
        ["tenant_id", "phone", "revoked_at"],
        unique=False,
    )
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER consent_revocations_append_only BEFORE UPDATE ON consent_revocations "
        "FOR EACH ROW EXECUTE FUNCTION leadwire_append_only()"
    )
    op.create_table(
        "contact_attempts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_contact_attempts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempts")),
        sa.UniqueConstraint("lead_id", "at", name=op.f("uq_contact_attempts_lead_id_at")),
    )
    op.create_index(
        "ix_contact_attempts_tenant_phone",
        "contact_attempts",
        ["tenant_id", "phone", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_contact_attempts_tenant_phone", table_name="contact_attempts")
    op.drop_table("contact_attempts")
    op.execute("DROP TRIGGER IF EXISTS consent_revocations_append_only ON consent_revocations")
    op.execute("DROP FUNCTION IF EXISTS leadwire_append_only()")
    op.drop_index("ix_consent_revocations_tenant_phone", table_name="consent_revocations")
    op.drop_table("consent_revocations")
    op.drop_table("dnc_entries")
    op.drop_index("ix_dnc_lists_tenant_id", table_name="dnc_lists")
    op.drop_index("ix_dnc_lists_kind", table_name="dnc_lists")
    op.drop_table("dnc_lists")
