"""leads: ingest answers the stored status, fills timestamps itself, and takes batches

Revision ID: 0400_leads_intake
Revises: 0003_platform_flags
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0400_leads_intake"
down_revision: str | Sequence[str] | None = "0003_platform_flags"
branch_labels: str | Sequence[str] | None = ("leads",)
depends_on: str | Sequence[str] | None = None

# Same contract as 0002's function, plus:
# - it answers the lead's status (the duplicate's current one on a redelivery);
# - keys missing from p_lead take the defaults below, computed by the database: the receipt
#   time is the server's clock for every API replica (cursor order, the fingerprint window),
#   and due work (pending_fetch, accepted) gets next_action_at = now for the sweeper.
INGEST = """
CREATE FUNCTION leadwire_ingest(p_lead jsonb, p_event jsonb, p_window interval)
RETURNS TABLE (lead_id uuid, created boolean, status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid := (p_lead->>'tenant_id')::uuid;
    v_now timestamptz := now();
    v_id uuid;
    v_status text;
BEGIN
    IF p_lead->>'fingerprint' IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(v_tenant::text || (p_lead->>'fingerprint'), 0));
        -- The window test is written so no index can use it: as `received_at > now - window`
        -- it lets the planner (with a new table's missing statistics, or a tenant that grew
        -- since the last analyze) walk the tenant's whole day through ix_leads_tenant_received
        -- looking for a fingerprint that is not there, milliseconds per lead; this way the
        -- only plan is ix_leads_fingerprint's (tenant, fingerprint) probe.
        SELECT l.id, l.status INTO v_id, v_status FROM leads l
         WHERE l.tenant_id = v_tenant AND l.fingerprint = p_lead->>'fingerprint'
           AND l.received_at + p_window > v_now
         ORDER BY l.received_at LIMIT 1;
        IF v_id IS NOT NULL THEN
            RETURN QUERY SELECT v_id, false, v_status;
            RETURN;
        END IF;
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

# Several leads of one delivery in one statement: one round trip, one transaction. Element i of
# p_leads goes with element i of p_events; `ord` is that index.
INGEST_BATCH = """
CREATE FUNCTION leadwire_ingest_batch(p_leads jsonb, p_events jsonb, p_window interval)
RETURNS TABLE (ord integer, lead_id uuid, created boolean, status text)
LANGUAGE plpgsql AS $$
DECLARE
    i integer;
    r record;
BEGIN
    FOR i IN 0 .. jsonb_array_length(p_leads) - 1 LOOP
        SELECT * INTO r FROM leadwire_ingest(p_leads->i, p_events->i, p_window);
        ord := i;
        lead_id := r.lead_id;
        created := r.created;
        status := r.status;
        RETURN NEXT;
    END LOOP;
END;
$$;
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS leadwire_ingest(jsonb, jsonb, interval)")
    op.execute(INGEST)
    op.execute(INGEST_BATCH)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS leadwire_ingest_batch(jsonb, jsonb, interval)")
    op.execute("DROP FUNCTION IF EXISTS leadwire_ingest(jsonb, jsonb, interval)")
    previous = importlib.import_module("leadwire.migrations.versions.0002_leads_ingest")
    op.execute(previous.INGEST)
