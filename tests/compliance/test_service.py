"""The compliance service on the real database: facts gathered, gate asked, evidence kept."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from leadwire.compliance import dnc_store, service
from leadwire.compliance.decision import Decision, Outcome, Verdict
from leadwire.compliance.dnc_store import DncTarget
from leadwire.compliance.schemas import CheckRequest, InvalidPhone
from leadwire.compliance.service import UsageFacts
from leadwire.leads.models import Lead, LeadEvent
from leadwire.platform import flags
from leadwire.platform.db import session_scope
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.compliance.helpers import WEDNESDAY_10AM_AUSTIN
from tests.compliance.records import (
    AUSTIN,
    MIAMI,
    compliant_tenant,
    consent_payload,
    count_rows,
    make_lead,
    statements,
)

NOW = WEDNESDAY_10AM_AUSTIN  # 10:00 in Austin and 11:00 in Miami, a Wednesday
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


async def evaluate(
    state: AppState,
    tenant: Tenant,
    lead: Lead,
    *,
    now: dt.datetime = NOW,
    stage: str = "dial",
    **kwargs: Any,
) -> Decision:
    async with session_scope(state.sessions) as session:
        return await service.evaluate(
            session,
            state=state,
            tenant=tenant,
            lead=lead,
            stage=stage,  # type: ignore[arg-type]
            now=now,
            **kwargs,
        )


async def load(
    state: AppState, target: DncTarget, *numbers: str, as_of: dt.datetime | None = None
) -> None:
    async with session_scope(state.sessions) as session:
        await dnc_store.import_numbers(
            session,
            target=target,
            lines=list(numbers),
            source="test",
            now=NOW,
            data_as_of=as_of,
        )


async def opt_out(state: AppState, tenant: Tenant, phone: str = AUSTIN) -> None:
    async with session_scope(state.sessions) as session:
        await service.record_opt_out(
            session,
            tenant_id=tenant.id,
            phone_e164=phone,
            source="call",
            detail={"words": "stop calling me", "call_id": "CA" + "0" * 32},
        )


async def decision_events(state: AppState, lead: Lead) -> list[dict[str, Any]]:
    async with state.sessions() as session:
        rows = await session.execute(
            select(LeadEvent.data)
            .where(LeadEvent.lead_id == lead.id, LeadEvent.kind == "compliance.decision")
            .order_by(LeadEvent.id)
        )
        return [row[0] for row in rows]


def outcome(decision: Decision, name: str) -> tuple[Outcome, str | None]:
    check = decision.check(name)
    assert check is not None, name
    return check.outcome, check.reason


async def test_a_compliant_lead_is_called_and_the_decision_is_kept(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant)
    with statements(clean) as sent:
        decision = await evaluate(clean, tenant, lead, stage="queue")
    assert decision.verdict is Verdict.CALL, decision.to_json()
    # One read for every stored fact, one insert for the evidence.
    assert len(sent) == 2, sent
    [event] = await decision_events(clean, lead)
    assert event["stage"] == "queue"
    assert event["decision"] == "call"
    assert event["evaluated_at"] == "2026-06-10T15:00:00Z"
    assert [c["name"] for c in event["checks"]] == [c.name for c in decision.checks]
    inputs = event["inputs"]
    assert inputs["tenant"] == {"plan": "pro", "status": "active", "business_name": "Acme HVAC"}
    assert inputs["phone"] == {"area_code": "512", "number_type": "FIXED_LINE_OR_MOBILE"}
    assert inputs["consent"]["present"] is True
    assert inputs["usage"] is None
    assert len(inputs["rules_version"]) == 16


async def test_an_opt_out_blocks_the_next_evaluation(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant)
    assert (await evaluate(clean, tenant, lead)).verdict is Verdict.CALL
    await opt_out(clean, tenant)
    decision = await evaluate(clean, tenant, lead)
    assert decision.verdict is Verdict.BLOCK
    assert decision.reason == "internal_dnc"
    assert outcome(decision, "consent") == (Outcome.BLOCK, "consent_revoked")
    async with clean.sessions() as session:
        row = (
            await session.execute(text("SELECT channel, detail, phone FROM consent_revocations"))
        ).one()
    assert row.channel == "call"
    assert row.detail["words"] == "stop calling me"
    assert row.phone == 15125550100


async def test_a_revocation_outlives_the_dnc_entry(clean: AppState) -> None:
    """Taking the number off the list does not bring back consent given before the opt-out."""
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant)
    await opt_out(clean, tenant)
    async with session_scope(clean.sessions) as session:
        await service.remove_from_dnc(session, tenant_id=tenant.id, phone_e164=AUSTIN)
    decision = await evaluate(clean, tenant, lead)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "consent_revoked")
    assert outcome(decision, "internal_dnc") == (Outcome.PASS, None)
    # A consent given after the revocation is not revoked by it.
    async with clean.sessions() as session:
        revoked_at = (
            await session.execute(text("SELECT revoked_at FROM consent_revocations"))
        ).scalar_one()
    later = revoked_at + dt.timedelta(minutes=1)
    fresh = await make_lead(clean, tenant, consent=consent_payload(timestamp=later.isoformat()))
    again = await evaluate(clean, tenant, fresh, now=later + HOUR)
    assert outcome(again, "consent") == (Outcome.PASS, None)


async def test_numbers_on_the_tenant_list_are_blocked(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    other, _ = await compliant_tenant(clean, slug="other")
    await load(clean, DncTarget.tenant(other.id), "5125550100")
    lead = await make_lead(clean, tenant)
    assert (await evaluate(clean, tenant, lead)).verdict is Verdict.CALL  # not our list
    await load(clean, DncTarget.tenant(tenant.id), "5125550100")
    decision = await evaluate(clean, tenant, lead)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "internal_dnc")


async def test_national_registry_needs_written_permission(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    await load(clean, DncTarget.national(), "5125550100")
    with_pewc = await make_lead(clean, tenant)
    decision = await evaluate(clean, tenant, with_pewc)
    assert decision.verdict is Verdict.CALL
    registry = decision.check("dnc_registry")
    assert registry is not None
    assert registry.evidence["written_permission"] is True
    assert registry.evidence["hits"] == [
        {"kind": "national", "name": "national", "data_age_days": 0}
    ]

    without = await make_lead(clean, tenant, no_consent=True)
    blocked = await evaluate(clean, tenant, without)
    assert (blocked.verdict, blocked.reason) == (Verdict.BLOCK, "no_consent")
    assert outcome(blocked, "dnc_registry") == (Outcome.BLOCK, "national_dnc")


async def test_a_state_list_blocks_even_with_written_permission(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    await load(clean, DncTarget.state("TX"), "5125550100")
    lead = await make_lead(clean, tenant)
    decision = await evaluate(clean, tenant, lead)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "state_dnc_tx")


async def test_registry_age_is_in_the_evidence_and_stale_lists_hold(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    await load(clean, DncTarget.national(), "2125550100", as_of=NOW - 40 * DAY)
    await load(clean, DncTarget.state("TX"), "2145550100", as_of=NOW - 32 * DAY)
    await load(clean, DncTarget.state("WY"), "3075550100", as_of=NOW - 90 * DAY)
    lead = await make_lead(clean, tenant)
    decision = await evaluate(clean, tenant, lead)
    # The stale national list does not hold a call with written permission; the stale Texas
    # list (the callee's state) does; Wyoming's is not this callee's and is not relied on.
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "dnc_data_stale")
    assert decision.not_before is None
    registry = decision.check("dnc_registry")
    assert registry is not None
    assert registry.evidence["lists"] == [
        {"kind": "national", "name": "national", "data_age_days": 40, "stale": True},
        {"kind": "state", "name": "TX", "data_age_days": 32, "stale": True},
    ]
    [event] = await decision_events(clean, lead)
    assert event["inputs"]["dnc"]["lists"] == [
        {
            "kind": "national",
            "name": "national",
            "data_as_of": "2026-05-01T15:00:00Z",
            "data_age_days": 40,
        },
        {"kind": "state", "name": "TX", "data_as_of": "2026-05-09T15:00:00Z", "data_age_days": 32},
    ]
    await load(clean, DncTarget.state("TX"), "2145550100", as_of=NOW - DAY)
    assert (await evaluate(clean, tenant, lead)).verdict is Verdict.CALL


async def test_cross_tenant_optout_setting(clean: AppState) -> None:
    acme, _ = await compliant_tenant(clean, slug="acme")
    other, _ = await compliant_tenant(clean, slug="other")
    await opt_out(clean, other)
    lead = await make_lead(clean, acme)
    assert clean.settings.cross_tenant_optout is False
    assert (await evaluate(clean, acme, lead)).verdict is Verdict.CALL
    shared = dataclasses.replace(
        clean, settings=clean.settings.model_copy(update={"cross_tenant_optout": True})
    )
    decision = await evaluate(shared, acme, lead)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "platform_optout")
    # The other tenant's revocation is its own: Acme's consent is not revoked by it.
    assert outcome(decision, "consent") == (Outcome.PASS, None)


async def test_the_24_hour_cap_counts_the_ledger(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    first = await make_lead(clean, tenant, phone=MIAMI)
    second = await make_lead(clean, tenant, phone=MIAMI)
    async with session_scope(clean.sessions) as session:
        for hours_ago, lead in ((20, first), (5, first), (2, second), (30, second)):
            await service.record_attempt(
                session,
                tenant_id=tenant.id,
                lead_id=lead.id,
                phone_e164=MIAMI,
                at=NOW - hours_ago * HOUR,
            )
        # The same attempt recorded twice (a re-run dial job) counts once.
        await service.record_attempt(
            session, tenant_id=tenant.id, lead_id=first.id, phone_e164=MIAMI, at=NOW - 5 * HOUR
        )
    assert (await count_rows(clean, "contact_attempts"))["contact_attempts"] == 4
    decision = await evaluate(clean, tenant, first)
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "cap_24h_fl")
    # Florida: three attempts in the last 24 h, the oldest 20 h ago clears 4 h from now.
    assert decision.not_before == NOW + 4 * HOUR
    cap = decision.check("cap_24h")
    assert cap is not None
    assert cap.evidence["attempts_last_24h"] == 3


async def test_lead_attempts_over_its_life(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant)
    async with session_scope(clean.sessions) as session:
        for days_ago in (3, 5, 9):
            await service.record_attempt(
                session,
                tenant_id=tenant.id,
                lead_id=lead.id,
                phone_e164=AUSTIN,
                at=NOW - days_ago * DAY,
            )
    decision = await evaluate(clean, tenant, lead)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "max_attempts")


async def test_holds_defer_and_never_block(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant)
    decision = await evaluate(clean, tenant, lead, queue_paused=True)
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "queue_paused")

    async with session_scope(clean.sessions) as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        row.paused_until = NOW + 2 * HOUR
        row.pause_reason = "billing"
    # `tenant` is the stale object the caller loaded earlier: the pause is read fresh.
    paused = await evaluate(clean, tenant, lead)
    assert (paused.verdict, paused.reason) == (Verdict.DEFER, "tenant_paused")
    assert paused.not_before == NOW + 2 * HOUR

    async with session_scope(clean.sessions) as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        row.paused_until = None
        row.pause_reason = None
        await flags.set_emergency(
            session, reason="carrier incident", actor="admin", duration_s=None, hangup_active=False
        )
    held = await evaluate(clean, tenant, lead)
    assert (held.verdict, held.reason, held.not_before) == (Verdict.DEFER, "emergency_mode", None)
    check = held.check("emergency_mode")
    assert check is not None
    assert check.evidence["reason"] == "carrier incident"


async def test_an_indefinite_tenant_pause_holds(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant)
    async with session_scope(clean.sessions) as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        row.pause_reason = "until further notice"
    decision = await evaluate(clean, tenant, lead)
    assert (decision.verdict, decision.reason, decision.not_before) == (
        Verdict.DEFER,
        "tenant_paused",
        None,
    )


async def test_budget_resets_at_the_tenants_midnight(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean, limits={"daily_budget_usd": 50.0})
    lead = await make_lead(clean, tenant)
    spent = UsageFacts(spent_usd=50.0, calls_today=10)
    decision = await evaluate(clean, tenant, lead, usage=spent)
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "budget_exhausted")
    budget = decision.check("budget")
    assert budget is not None
    # America/Chicago midnight after Wednesday 10:00 CDT is Thursday 05:00 UTC; the Texas
    # window then opens at 09:00 CDT (+5 min margin).
    assert budget.clears_at == dt.datetime(2026, 6, 11, 5, 0, tzinfo=dt.UTC)
    assert decision.not_before == dt.datetime(2026, 6, 11, 14, 5, tzinfo=dt.UTC)
    [event] = await decision_events(clean, lead)
    assert event["inputs"]["usage"] == {"spent_usd": 50.0, "calls_today": 10}
    under = await evaluate(clean, tenant, lead, usage=UsageFacts(spent_usd=49.0, calls_today=10))
    assert under.verdict is Verdict.CALL


async def test_tenant_settings_feed_the_policy(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean, caller_ids=[])
    lead = await make_lead(clean, tenant)
    decision = await evaluate(clean, tenant, lead)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "no_valid_caller_id")

    unnamed, _ = await compliant_tenant(clean, slug="unnamed", agent={"business_name": None})
    lead = await make_lead(clean, unnamed)
    decision = await evaluate(clean, unnamed, lead)
    # Without a business name the consent must name the tenant's own name ("Unnamed").
    assert outcome(decision, "consent") == (Outcome.BLOCK, "consent_wrong_seller")
    assert outcome(decision, "disclosure_script") == (Outcome.BLOCK, "no_disclosure_script")

    narrow, _ = await compliant_tenant(
        clean, slug="narrow", calling_hours={"start": "12:00", "end": "17:00", "days": ["wed"]}
    )
    lead = await make_lead(clean, narrow)
    decision = await evaluate(clean, narrow, lead)
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "outside_tenant_hours")
    assert decision.not_before == dt.datetime(2026, 6, 10, 17, 5, tzinfo=dt.UTC)


async def test_the_lead_consent_shape_from_ad_platforms(clean: AppState) -> None:
    """Meta forms carry the consent text as `disclaimer_text` and the seller apart."""
    tenant, _ = await compliant_tenant(clean)
    payload = consent_payload(text=None, disclaimer_text=consent_payload()["text"])
    lead = await make_lead(clean, tenant, consent=payload)
    assert (await evaluate(clean, tenant, lead)).verdict is Verdict.CALL
    malformed = await make_lead(clean, tenant, consent={"granted": "maybe"})
    assert (await evaluate(clean, tenant, malformed)).reason == "no_consent"


async def test_a_lead_without_a_phone_is_blocked(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant, phone=None)
    decision = await evaluate(clean, tenant, lead)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "invalid_phone")


async def test_the_dry_run_stores_nothing(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    await opt_out(clean, tenant, phone=MIAMI)
    await make_lead(clean, tenant)
    tables = (
        "lead_events",
        "consent_revocations",
        "contact_attempts",
        "dnc_entries",
        "dnc_lists",
        "leads",
    )
    before = await count_rows(clean, *tables)
    request = CheckRequest.model_validate(
        {
            "phone": "(512) 555-0100",
            "consent": consent_payload(),
            "state": "Texas",
            "postal_code": "78701",  # Austin: Central time only (Texas also spans Mountain)
        }
    )
    async with clean.sessions() as session:
        with statements(clean) as sent:
            decision = await service.check(
                session, state=clean, tenant=tenant, request=request, now=NOW
            )
        assert not session.new and not session.dirty
    assert len(sent) == 1
    assert decision.verdict is Verdict.CALL
    async with clean.sessions() as session:
        blocked = await service.check(
            session,
            state=clean,
            tenant=tenant,
            request=CheckRequest(phone=MIAMI, at=NOW + DAY),
            now=NOW,
        )
    assert (blocked.verdict, blocked.reason) == (Verdict.BLOCK, "internal_dnc")
    assert await count_rows(clean, *tables) == before


@pytest.mark.parametrize("phone", ["5125550100", "+1512555010x", ""])
async def test_record_opt_out_needs_an_e164_number(clean: AppState, phone: str) -> None:
    tenant, _ = await compliant_tenant(clean)
    async with clean.sessions() as session:
        with pytest.raises(InvalidPhone) as raised:
            await service.record_opt_out(
                session, tenant_id=tenant.id, phone_e164=phone, source="call", detail={}
            )
    assert raised.value.field == "phone"
    assert await count_rows(clean, "consent_revocations") == {"consent_revocations": 0}


async def test_unknown_lead_ids_count_no_attempts(clean: AppState) -> None:
    tenant, _ = await compliant_tenant(clean)
    lead = await make_lead(clean, tenant)
    async with session_scope(clean.sessions) as session:
        await service.record_attempt(
            session, tenant_id=tenant.id, lead_id=uuid.uuid4(), phone_e164=AUSTIN, at=NOW - 3 * DAY
        )
    decision = await evaluate(clean, tenant, lead)
    check = decision.check("max_attempts")
    assert check is not None
    assert check.evidence["lead_attempts"] == 0
