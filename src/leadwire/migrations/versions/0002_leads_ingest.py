"""leads: fingerprint column and the one-round-trip ingest function

Revision ID: 0002_leads_ingest
Revises: 0001_spine
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_leads_ingest"
down_revision: str | Sequence[str] | None = "0001_spine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One call stores a lead and its first timeline event, or finds the lead it duplicates.
# - natural key: INSERT ... ON CONFLICT DO NOTHING on (tenant_id, dedupe_key); on conflict the
#   next statement (a new snapshot under READ COMMITTED) reads the first row, including one a
#   concurrent redelivery committed a moment ago.
# - fingerprint: a transaction-scoped advisory lock on (tenant, fingerprint) serializes
#   concurrent deliveries; a lead with the same fingerprint received within the window is the
#   duplicate, otherwise the new lead is stored with a unique key of its own.
INGEST = """
CREATE OR REPLACE FUNCTION leadwire_ingest(p_lead jsonb, p_event jsonb, p_window interval)
RETURNS TABLE (lead_id uuid, created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid := (p_lead->>'tenant_id')::uuid;
    v_id uuid;
BEGIN
    IF p_lead->>'fingerprint' IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(v_tenant::text || (p_lead->>'fingerprint'), 0));
        SELECT l.id INTO v_id FROM leads l
         WHERE l.tenant_id = v_tenant AND l.fingerprint = p_lead->>'fingerprint'
           AND l.received_at > now() - p_window
         ORDER BY l.received_at LIMIT 1;
        IF v_id IS NOT NULL THEN
            RETURN QUERY SELECT v_id, false;
            RETURN;
        END IF;
    END IF;
    INSERT INTO leads SELECT * FROM jsonb_populate_record(NULL::leads, p_lead)
    ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT l.id INTO v_id FROM leads l
         WHERE l.tenant_id = v_tenant AND l.dedupe_key = p_lead->>'dedupe_key';
        RETURN QUERY SELECT v_id, false;
        RETURN;
    END IF;
    INSERT INTO lead_events (lead_id, tenant_id, kind, data, created_at)
    VALUES (v_id, v_tenant, p_event->>'kind', COALESCE(p_event->'data', '{}'::jsonb), now());
    RETURN QUERY SELECT v_id, true;
END;
$$;
"""


def upgrade() -> None:
    op.add_column("leads", sa.Column("fingerprint", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_leads_fingerprint",
        "leads",
        ["tenant_id", "fingerprint", "received_at"],
        unique=False,
        postgresql_where=sa.text("fingerprint IS NOT NULL"),
    )
    op.execute(INGEST)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS leadwire_ingest(jsonb, jsonb, interval)")
    op.drop_index("ix_leads_fingerprint", table_name="leads")
    op.drop_column("leads", "fingerprint")
