"""ai: what the AI conversation leaves on its call (transcript, qualification, outcome, usage)

Revision ID: 0500_ai_call_records
Revises: 0200_telephony_calls
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0500_ai_call_records"
# The columns live on `calls`, so this chains after the telephony branch that creates it.
down_revision: str | Sequence[str] | None = "0200_telephony_calls"
branch_labels: str | Sequence[str] | None = ("ai",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("transcript", postgresql.JSONB(), nullable=True))
    op.add_column("calls", sa.Column("qualification", postgresql.JSONB(), nullable=True))
    op.add_column("calls", sa.Column("ai_outcome", sa.String(length=32), nullable=True))
    op.add_column("calls", sa.Column("ai_end_reason", sa.String(length=32), nullable=True))
    op.add_column("calls", sa.Column("ai_tokens", sa.Integer(), nullable=True))
    op.add_column(
        "calls", sa.Column("ai_cost_usd", sa.Numeric(precision=12, scale=5), nullable=True)
    )
    op.add_column("calls", sa.Column("ai_detail", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    for column in (
        "ai_detail",
        "ai_cost_usd",
        "ai_tokens",
        "ai_end_reason",
        "ai_outcome",
        "qualification",
        "transcript",
    ):
        op.drop_column("calls", column)
