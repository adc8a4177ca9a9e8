"""platform flags (emergency, queue pauses); the due-work index covers `ready` leads

Revision ID: 0003_platform_flags
Revises: 0002_leads_ingest
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_platform_flags"
down_revision: str | Sequence[str] | None = "0002_leads_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUE = "status IN ('pending_fetch','accepted','ready','scheduled','dialing')"
_DUE_OLD = "status IN ('pending_fetch','accepted','scheduled','dialing')"


def upgrade() -> None:
    op.create_table(
        "platform_flags",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "value",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_platform_flags")),
    )
    op.drop_index("ix_leads_due", table_name="leads")
    op.create_index("ix_leads_due", "leads", ["next_action_at"], postgresql_where=sa.text(_DUE))


def downgrade() -> None:
    op.drop_index("ix_leads_due", table_name="leads")
    op.create_index("ix_leads_due", "leads", ["next_action_at"], postgresql_where=sa.text(_DUE_OLD))
    op.drop_table("platform_flags")
