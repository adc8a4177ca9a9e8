"""leads: fingerprints in their own table, claimed by primary key

Revision ID: 0410_leads_fingerprints
Revises: 0400_leads_intake

Leads without a natural key are deduplicated by fingerprint within 24 h. 0400 found the
previous lead with a search of `leads` under an advisory lock. PL/pgSQL plans that search once
per connection, usually while `leads` is small or has no statistics, and the plan it keeps (a
walk of the tenant's rows) grows with the table: measured 1.3 ms of database CPU per lead at
5,000 rows against 0.2 ms for a lead with a natural key. Here a fingerprint is a row of
`lead_fingerprints` keyed by (tenant, fingerprint): a lead claims it with one
`INSERT ... ON CONFLICT DO UPDATE WHERE expired`, a primary-key probe whatever the statistics.
The conflict itself serializes concurrent deliveries of the same lead, so the advisory lock
goes, and so does `ix_leads_fingerprint`, one index less to write per lead.
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0410_leads_fingerprints"
down_revision: str | Sequence[str] | None = "0400_leads_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same contract as 0400's function. A fingerprinted lead claims its fingerprint first: the row
# is inserted, or taken over when the lead holding it is older than the window; when neither
# happens a lead within the window holds it, and this delivery is its duplicate. A concurrent
# claim of the same fingerprint waits for the first one's commit and then sees its row.
INGEST = """
CREATE FUNCTION leadwire_ingest(p_lead jsonb, p_event jsonb, p_window interval)
RETURNS TABLE (lead_id uuid, created boolean, status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid := (p_lead->>'tenant_id')::uuid;
    v_fingerprint text := p_lead->>'fingerprint';
    v_now timestamptz := now();
    v_id uuid;
    v_status text;
BEGIN
    IF p_lead->>'id' IS NULL THEN
        p_lead := p_lead || jsonb_build_object('id', gen_random_uuid());
    END IF;
    IF v_fingerprint IS NOT NULL THEN
        INSERT INTO lead_fingerprints AS f (tenant_id, fingerprint, lead_id, received_at)
        VALUES (v_tenant, v_fingerprint, (p_lead->>'id')::uuid, v_now)
        ON CONFLICT (tenant_id, fingerprint) DO UPDATE
            SET lead_id = excluded.lead_id, received_at = excluded.received_at
            WHERE f.received_at + p_window <= excluded.received_at
        RETURNING f.lead_id INTO v_id;
        IF v_id IS NULL THEN
            SELECT l.id, l.status INTO v_id, v_status
              FROM lead_fingerprints f JOIN leads l ON l.id = f.lead_id
             WHERE f.tenant_id = v_tenant AND f.fingerprint = v_fingerprint;
            RETURN QUERY SELECT v_id, false, v_status;
            RETURN;
        END IF;
        v_id := NULL;
    END IF;
    INSERT INTO leads
    SELECT * FROM jsonb_populate_record(NULL::leads, jsonb_build_object(
        'received_at', v_now, 'updated_at', v_now, 'attempts', 0, 'priority', 'medium',
        'phone_info', '{}'::jsonb, 'custom_fields', '{}'::jsonb,
        'next_action_at', CASE WHEN p_lead->>'status' IN ('pending_fetch', 'accepted')
                               THEN v_now END
    ) || p_lead)
    ON CONFLICT (tenant_id, dedupe_key) DO NOTHING
    RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT l.id, l.status INTO v_id, v_status FROM leads l
         WHERE l.tenant_id = v_tenant AND l.dedupe_key = p_lead->>'dedupe_key';
        RETURN QUERY SELECT v_id, false, v_status;
        RETURN;
    END IF;
    INSERT INTO lead_events (lead_id, tenant_id, kind, data, created_at)
    VALUES (v_id, v_tenant, p_event->>'kind', COALESCE(p_event->'data', '{}'::jsonb), v_now);
    RETURN QUERY SELECT v_id, true, p_lead->>'status';
END;
$$;
"""


def upgrade() -> None:
    op.create_table(
        "lead_fingerprints",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "fingerprint", name=op.f("pk_lead_fingerprints")),
    )
    op.execute(
        "INSERT INTO lead_fingerprints (tenant_id, fingerprint, lead_id, received_at) "
        "SELECT DISTINCT ON (tenant_id, fingerprint) tenant_id, fingerprint, id, received_at "
        "FROM leads WHERE fingerprint IS NOT NULL "
        "ORDER BY tenant_id, fingerprint, received_at DESC"
    )
    op.drop_index("ix_leads_fingerprint", table_name="leads")
    op.execute("DROP FUNCTION IF EXISTS leadwire_ingest(jsonb, jsonb, interval)")
    op.execute(INGEST)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS leadwire_ingest(jsonb, jsonb, interval)")
    op.create_index(
        "ix_leads_fingerprint",
        "leads",
        ["tenant_id", "fingerprint", "received_at"],
        unique=False,
        postgresql_where=sa.text("fingerprint IS NOT NULL"),
    )
    op.drop_table("lead_fingerprints")
    previous = importlib.import_module("leadwire.migrations.versions.0400_leads_intake")
    op.execute(previous.INGEST)
