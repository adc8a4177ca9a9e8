"""From an adapter's lead to a storable row (pure), and the one-statement ingest (real DB)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import text

from leadwire.leads import repository
from leadwire.leads.canonical import InboundLead, Urgency
from leadwire.leads.fingerprints import purge_fingerprints
from leadwire.leads.records import PreparedLead, dedupe_key, prepare
from leadwire.leads.repository import dumps_for_postgres
from leadwire.platform.state import AppState
from tests.helpers import make_tenant
from tests.leads.checks import events_of, half_leads

TENANT = uuid.UUID("11111111-1111-1111-1111-111111111111")


def lead(**fields: object) -> InboundLead:
    return InboundLead.model_validate({"source": "api", **fields})


@pytest.mark.parametrize(
    ("fields", "status", "reason"),
    [
        ({"phone": "+15128670001"}, "accepted", None),
        ({"phone": "512 867 0001"}, "accepted", None),
        ({"phone": "not a phone"}, "rejected", "invalid_phone"),
        ({"phone": "+18005550199"}, "rejected", "invalid_phone"),  # toll-free: no one's line
        ({}, "rejected", "invalid_phone"),
        ({"phone": "+15128670001", "is_test": True}, "rejected", "test_lead"),
        ({"needs_fetch": True, "natural_key": "meta:1"}, "pending_fetch", None),
    ],
)
def test_status_at_intake(fields: dict[str, object], status: str, reason: str | None) -> None:
    prepared = prepare(lead(**fields), tenant_id=TENANT, default_region="US")
    assert (prepared.status, prepared.row.get("reject_reason")) == (status, reason)
    assert prepared.due is (status in {"accepted", "pending_fetch"})


def test_priority_comes_from_explicit_urgency_else_the_lead_s_words() -> None:
    words = prepare(
        lead(phone="+15128670001", message="water everywhere!"),
        tenant_id=TENANT,
        default_region="US",
    )
    assert words.priority == "emergency" and "urgency" not in words.row
    stated = prepare(
        lead(phone="+15128670001", message="flooding", urgency=Urgency.LOW),
        tenant_id=TENANT,
        default_region="US",
    )
    assert (stated.priority, stated.row["urgency"]) == ("low", "low")
    assert stated.event["data"]["urgency"]["source"] == "explicit"


def test_values_are_fitted_to_their_columns() -> None:
    prepared = prepare(
        lead(
            phone="+15128670001",
            name="N" * 500,
            first_name="F" * 500,
            service="S" * 400,
            state="Bavaria",
            postal_code="X" * 40,
        ),
        tenant_id=TENANT,
        default_region="DE",
    )
    row = prepared.row
    assert len(row["name"]) == 300 and len(row["first_name"]) == 150
    assert len(row["service"]) == 300
    assert "state" not in row and "postal_code" not in row
    assert row["custom_fields"]["_unnormalized"] == {"state": "Bavaria", "postal_code": "X" * 40}


def test_dedupe_keys() -> None:
    natural = prepare(lead(phone="+15128670001", natural_key="zapier:ext:7"), tenant_id=TENANT,
                      default_region="US")  # fmt: skip
    assert natural.row["dedupe_key"] == "zapier:ext:7" and "fingerprint" not in natural.row
    fp = prepare(lead(phone="+15128670001", email="A@x.io"), tenant_id=TENANT, default_region="US")
    assert fp.row["fingerprint"] and fp.row["dedupe_key"].startswith(f"fp:{fp.row['fingerprint']}")
    same = prepare(
        lead(phone="512-867-0001", email="a@x.io"), tenant_id=TENANT, default_region="US"
    )
    assert same.row["fingerprint"] == fp.row["fingerprint"]
    nothing = prepare(lead(name="anonymous"), tenant_id=TENANT, default_region="US")
    assert "fingerprint" not in nothing.row
    long_key = "form:wh:" + "k" * 400 + ":0"
    assert len(dedupe_key(long_key)) <= 300
    assert dedupe_key(long_key) == dedupe_key(long_key) != dedupe_key(long_key + "1")


def test_dumps_for_postgres_removes_what_postgresql_refuses() -> None:
    assert dumps_for_postgres({"a": "plain é"}) == '{"a":"plain é"}'
    cleaned = json.loads(dumps_for_postgres({"a\x00": ["x\x00y", "\ud800z"], "n": 2**80}))
    assert cleaned == {"a": ["xy", "?z"], "n": 2**80}


async def test_a_batch_is_one_statement_with_duplicates_inside_it(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    first = prepare(lead(phone="+15128670001", natural_key="api:ext:1"), tenant_id=tenant.id,
                    default_region="US")  # fmt: skip
    again = prepare(lead(phone="+15128670001", natural_key="api:ext:1"), tenant_id=tenant.id,
                    default_region="US")  # fmt: skip
    other = prepare(lead(phone="+15128670002", email="b@x.io"), tenant_id=tenant.id,
                    default_region="US")  # fmt: skip
    async with clean.engine.connect() as conn:
        stored = await repository.ingest_many(
            conn,
            rows=[first.row, again.row, other.row],
            events=[first.event, again.event, other.event],
        )
    assert [s.created for s in stored] == [True, False, True]
    assert stored[1].lead_id == stored[0].lead_id == first.lead_id
    assert [s.status for s in stored] == ["accepted"] * 3
    assert [e.kind for e in await events_of(clean, first.lead_id)] == ["lead.received"]
    assert await half_leads(clean) == 0


async def _ingest(state: AppState, prepared: PreparedLead) -> repository.Ingested:
    async with state.engine.connect() as conn:
        [stored] = await repository.ingest_many(conn, rows=[prepared.row], events=[prepared.event])
    return stored


async def test_a_fingerprint_dedupes_for_its_window_then_frees(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    other, _ = await make_tenant(clean, slug="other")

    def fresh(tenant_id: uuid.UUID) -> PreparedLead:
        return prepare(lead(phone="+15128670001", email="a@x.io"), tenant_id=tenant_id,
                       default_region="US")  # fmt: skip

    first = await _ingest(clean, fresh(tenant.id))
    again = await _ingest(clean, fresh(tenant.id))
    assert first.created and not again.created
    assert again.lead_id == first.lead_id and again.status == "accepted"
    # The same person at another tenant is that tenant's own lead.
    elsewhere = await _ingest(clean, fresh(other.id))
    assert elsewhere.created and elsewhere.lead_id != first.lead_id

    # Once the holder is older than the window, the next delivery is a new lead, and it then
    # holds the fingerprint for the next 24 hours.
    async with clean.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE lead_fingerprints SET received_at = received_at - interval '24 hours 1 s'"
                " WHERE tenant_id = :t"
            ),
            {"t": tenant.id},
        )
    later = await _ingest(clean, fresh(tenant.id))
    assert later.created and later.lead_id != first.lead_id
    assert (await _ingest(clean, fresh(tenant.id))).lead_id == later.lead_id
    assert await half_leads(clean) == 0


async def test_concurrent_deliveries_of_one_fingerprint_store_one_lead(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    deliveries = [
        prepare(
            lead(phone="+15128670009", email="c@x.io"), tenant_id=tenant.id, default_region="US"
        )
        for _ in range(12)
    ]
    stored = await asyncio.gather(*(_ingest(clean, d) for d in deliveries))
    assert sum(s.created for s in stored) == 1
    assert len({s.lead_id for s in stored}) == 1
    async with clean.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM leads WHERE tenant_id = :t"), {"t": tenant.id}
        )
    assert count == 1


async def test_the_purge_forgets_only_expired_fingerprints(clean: AppState) -> None:
    tenant, _ = await make_tenant(clean)
    for n in range(3):
        await _ingest(clean, prepare(lead(phone=f"+1512867000{n}"), tenant_id=tenant.id,
                                     default_region="US"))  # fmt: skip
    async with clean.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE lead_fingerprints SET received_at = now() - interval '25 hours'"
                " WHERE lead_id IN (SELECT lead_id FROM lead_fingerprints LIMIT 2)"
            )
        )
    assert await purge_fingerprints({"state": clean}) == 2
    async with clean.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM lead_fingerprints")) == 1
    assert await purge_fingerprints({"state": clean}) == 0
