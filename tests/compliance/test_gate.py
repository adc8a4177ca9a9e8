"""The gate: every reason code, the order of checks, and the call/defer properties."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from leadwire.compliance.consent import CallPurpose
from leadwire.compliance.decision import Decision, Outcome, Verdict
from leadwire.compliance.facts import (
    Budget,
    DncHit,
    DncListKind,
    DncSource,
    GateFacts,
    GatePolicy,
    Hold,
    RndAnswer,
    TenantPolicy,
)
from leadwire.compliance.gate import decide
from leadwire.compliance.locate import PhoneFacts, location_tables, phone_facts
from leadwire.compliance.windows import NO_MARGIN, CallingHours
from tests.compliance.helpers import WEDNESDAY_10AM_AUSTIN, good_consent, local, make_facts

NOW = WEDNESDAY_10AM_AUSTIN
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
CHECK_ORDER = [
    "phone_number", "tenant", "internal_dnc", "consent", "reassigned_number", "dnc_registry",
    "state_recorded_message", "location", "calling_window", "cap_24h", "max_attempts",
    "caller_id", "disclosure_script", "emergency_mode", "tenant_paused", "queue_paused",
    "budget", "daily_call_cap",
]  # fmt: skip


def tenant(**overrides: object) -> TenantPolicy:
    return dataclasses.replace(TenantPolicy(business_name="Acme HVAC"), **overrides)  # type: ignore[arg-type]


def test_baseline_calls_and_runs_every_check_in_order() -> None:
    decision = decide(make_facts(), now=NOW)
    assert decision.verdict is Verdict.CALL
    assert decision.reason == "all_checks_passed"
    assert decision.not_before is None
    assert [check.name for check in decision.checks] == CHECK_ORDER
    body = decision.to_json()
    assert set(body) == {"decision", "reason", "not_before", "checks"}
    assert body["decision"] == "call"
    json.dumps(body)  # JSON-able all the way down


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        decide(make_facts(), now=dt.datetime(2026, 6, 10, 15))


BLOCKS: list[tuple[str, GateFacts]] = [
    ("invalid_phone", make_facts(phone="+15555550123")),
    ("invalid_phone", make_facts(phone="garbage")),
    ("unsupported_region", make_facts(phone="+14165550100")),
    ("non_geographic", make_facts(phone="+18005551234")),
    ("non_geographic", make_facts(phone="+19005551234")),
    ("tenant_disabled", make_facts(tenant=tenant(enabled=False))),
    ("plan_excludes_ai_voice", make_facts(tenant=tenant(ai_voice_allowed=False))),
    ("internal_dnc", make_facts(dnc_hits=(DncHit(DncListKind.TENANT, "acme"),))),
    ("platform_optout", make_facts(dnc_hits=(DncHit(DncListKind.PLATFORM_OPTOUT, "stop"),))),
    ("no_consent", make_facts(consent=None)),
    ("no_consent", make_facts(consent=good_consent(granted=False))),
    ("consent_revoked", make_facts(consent=good_consent(revoked_at=NOW - HOUR))),
    ("consent_wrong_number", make_facts(consent=good_consent(phone_e164="+15125550199"))),
    ("consent_text_missing", make_facts(consent=good_consent(text=None))),
    (
        "consent_no_artificial_voice",
        make_facts(consent=good_consent(text="Acme HVAC may call me.")),
    ),
    ("consent_wrong_seller", make_facts(consent=good_consent(text="Zenith may call me by AI."))),
    ("consent_timestamp_missing", make_facts(consent=good_consent(timestamp=None))),
    (
        "consent_timestamp_invalid",
        make_facts(consent=good_consent(timestamp=None, timestamp_invalid=True)),
    ),
    ("consent_timestamp_future", make_facts(consent=good_consent(timestamp=NOW + DAY))),
    ("consent_expired", make_facts(tenant=tenant(consent_max_age_days=3))),
    ("reassigned_number", make_facts(reassigned=RndAnswer.YES)),
    ("rnd_no_data", make_facts(reassigned=RndAnswer.NO_DATA)),
    ("state_dnc_tx", make_facts(dnc_hits=(DncHit(DncListKind.STATE, "TX", 10),))),
    (
        "national_dnc",
        make_facts(
            dnc_hits=(DncHit(DncListKind.NATIONAL, "national", 3),),
            policy=GatePolicy(national_dnc_written_permission=False),
        ),
    ),
    (
        "national_dnc",  # relaxed informational consent is no written permission
        make_facts(
            dnc_hits=(DncHit(DncListKind.NATIONAL, "national", 3),),
            tenant=tenant(consent_required=False),
            purpose=CallPurpose.INFORMATIONAL,
            consent=good_consent(text=None),
        ),
    ),
    ("state_recorded_message_ban_ma", make_facts(phone="+16175550100")),
    ("state_recorded_message_ban_mi", make_facts(phone="+13135550100")),
    ("state_recorded_message_ban_nm", make_facts(phone="+15055550100")),
    ("state_recorded_message_ban_ms", make_facts(phone="+16015550100")),
    ("state_recorded_message_ban_nv", make_facts(phone="+17025550100")),
    (
        "state_recorded_message_ban_nv",
        make_facts(phone="+17025550100", has_ebr=True, hung_up_on_prior_ai_call=True),
    ),
    ("state_recorded_message_ban_ma", make_facts(lead_state="MA")),  # stated state counts
    (
        "unknown_location",
        make_facts(
            phone=PhoneFacts(
                e164="+19995550100", valid=True, number_type="FIXED_LINE_OR_MOBILE", region="US"
            )
        ),
    ),
    (
        "no_window_found",
        make_facts(
            tenant=tenant(calling_hours=CallingHours.parse(start="09:00", end="17:00", days=[]))
        ),
    ),
    ("max_attempts", make_facts(tenant=tenant(max_attempts_per_lead=3), lead_attempts=3)),
    ("no_valid_caller_id", make_facts(tenant=tenant(has_caller_id=False))),
    ("no_disclosure_script", make_facts(tenant=tenant(has_disclosure_script=False))),
]


@pytest.mark.parametrize(
    ("reason", "facts"), BLOCKS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BLOCKS)]
)
def test_block_reasons(reason: str, facts: GateFacts) -> None:
    decision = decide(facts, now=NOW)
    assert (decision.verdict, decision.reason, decision.not_before) == (Verdict.BLOCK, reason, None)
    blocking = [check for check in decision.checks if check.outcome is Outcome.BLOCK]
    assert blocking[0].reason == reason
    assert decision.to_json()["decision"] == "block"


@pytest.mark.parametrize(
    "facts",
    [
        make_facts(phone="+15055550100", has_ebr=True),  # NM with EBR
        make_facts(phone="+17025550100", has_ebr=True),  # NV with EBR, no prior hang-up
        make_facts(phone="+14155550100"),  # CA: PEWC is the prior agreement
        make_facts(reassigned=RndAnswer.NO),
        make_facts(reassigned=RndAnswer.NO_DATA, policy=GatePolicy(rnd_no_data_blocks=False)),
        make_facts(tenant=tenant(max_attempts_per_lead=3), lead_attempts=2),
        make_facts(dnc_hits=(DncHit(DncListKind.NATIONAL, "national", 3),)),  # written permission
    ],
)
def test_allowed_variants_call(facts: GateFacts) -> None:
    at = NOW + HOUR * 3  # 13:00 Central, 11:00 Pacific, 12:00 Mountain
    assert decide(facts, now=at).verdict is Verdict.CALL


def test_tenant_may_waive_the_seller_name_but_then_has_no_written_permission() -> None:
    consent = good_consent(text="I agree to calls from partners using an AI voice.")
    assert decide(make_facts(consent=consent), now=NOW).reason == "consent_wrong_seller"
    relaxed = make_facts(consent=consent, tenant=tenant(consent_must_name_seller=False))
    assert decide(relaxed, now=NOW).verdict is Verdict.CALL
    on_registry = dataclasses.replace(
        relaxed, dnc_hits=(DncHit(DncListKind.NATIONAL, "national", 1),)
    )
    assert decide(on_registry, now=NOW).reason == "national_dnc"


def test_written_permission_is_recorded_on_a_national_hit() -> None:
    decision = decide(make_facts(dnc_hits=(DncHit(DncListKind.NATIONAL, "national", 3),)), now=NOW)
    registry = decision.check("dnc_registry")
    assert registry is not None
    assert registry.evidence["written_permission"] is True
    assert registry.evidence["hits"] == [
        {"kind": "national", "name": "national", "data_age_days": 3}
    ]


def test_california_needs_written_permission() -> None:
    decision = decide(make_facts(phone="+14155550100", consent=good_consent(text=None)), now=NOW)
    recorded = decision.check("state_recorded_message")
    assert recorded is not None
    assert recorded.outcome is Outcome.BLOCK
    assert recorded.reason == "state_recorded_message_ban_ca"
    assert decision.reason == "consent_text_missing"  # the earlier check is reported


def test_informational_calls_skip_the_recorded_message_rules() -> None:
    facts = make_facts(
        phone="+16175550100",
        purpose=CallPurpose.INFORMATIONAL,
        tenant=tenant(consent_required=False),
        consent=good_consent(text=None),
    )
    decision = decide(facts, now=NOW)
    assert decision.verdict is Verdict.CALL
    check = decision.check("state_recorded_message")
    assert check is not None
    assert check.outcome is Outcome.SKIPPED


def test_invalid_phone_skips_location_window_and_cap() -> None:
    decision = decide(make_facts(phone="+15555550123"), now=NOW)
    for name in ("location", "calling_window", "cap_24h"):
        check = decision.check(name)
        assert check is not None
        assert check.outcome is Outcome.SKIPPED


# --- DNC data freshness -----------------------------------------------------------------------


def test_stale_national_registry_holds_the_call_without_written_permission() -> None:
    facts = make_facts(
        dnc_sources=(DncSource(DncListKind.NATIONAL, "national", 32),),
        policy=GatePolicy(national_dnc_written_permission=False),
    )
    decision = decide(facts, now=NOW)
    assert (decision.verdict, decision.reason, decision.not_before) == (
        Verdict.DEFER,
        "dnc_data_stale",
        None,
    )
    registry = decision.check("dnc_registry")
    assert registry is not None
    assert registry.evidence["lists"] == [
        {"kind": "national", "name": "national", "data_age_days": 32, "stale": True}
    ]


def test_thirty_one_days_is_still_fresh() -> None:
    facts = make_facts(
        dnc_sources=(DncSource(DncListKind.NATIONAL, "national", 31),),
        policy=GatePolicy(national_dnc_written_permission=False),
    )
    assert decide(facts, now=NOW).verdict is Verdict.CALL


def test_stale_national_registry_with_written_permission_calls_but_shows_it() -> None:
    facts = make_facts(dnc_sources=(DncSource(DncListKind.NATIONAL, "national", 45),))
    decision = decide(facts, now=NOW)
    assert decision.verdict is Verdict.CALL
    registry = decision.check("dnc_registry")
    assert registry is not None
    assert registry.evidence["lists"][0]["stale"] is True


def test_stale_state_list_holds_even_with_written_permission() -> None:
    facts = make_facts(dnc_sources=(DncSource(DncListKind.STATE, "TX", 100),))
    decision = decide(facts, now=NOW)
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "dnc_data_stale")


def test_hit_from_stale_data_blocks_and_is_marked() -> None:
    facts = make_facts(dnc_hits=(DncHit(DncListKind.STATE, "TX", 90),))
    decision = decide(facts, now=NOW)
    assert decision.reason == "state_dnc_tx"
    registry = decision.check("dnc_registry")
    assert registry is not None
    assert registry.evidence["stale_hits"][0]["data_age_days"] == 90


def test_registry_evidence_lists_expected_state_lists() -> None:
    facts = make_facts(dnc_sources=(DncSource(DncListKind.NATIONAL, "national", 2),))
    registry = decide(facts, now=NOW).check("dnc_registry")
    assert registry is not None
    assert registry.evidence["national_registry_loaded"] is True
    assert registry.evidence["state_lists_expected"] == ["TX"]
    assert registry.evidence["state_lists_missing"] == ["TX"]


# --- defer reasons ------------------------------------------------------------------------------

CHI = "America/Chicago"


@pytest.mark.parametrize(
    ("reason", "now", "facts", "not_before"),
    [
        (
            "outside_window",
            local(CHI, 2026, 6, 10, 22, 0),
            make_facts(),
            local(CHI, 2026, 6, 11, 9, 5),
        ),
        (
            "outside_window_tx",
            local(CHI, 2026, 6, 10, 8, 30),
            make_facts(),
            local(CHI, 2026, 6, 10, 9, 5),
        ),
        (
            "sunday_al",
            local(CHI, 2026, 6, 14, 13, 0),
            make_facts(phone="+12055550100"),
            local(CHI, 2026, 6, 15, 8, 5),
        ),
        (
            "state_holiday_ut",
            local("America/Denver", 2026, 12, 25, 12, 0),
            make_facts(phone="+18015550100"),
            local("America/Denver", 2026, 12, 26, 8, 5),
        ),
        (
            "outside_tenant_hours",
            local(CHI, 2026, 6, 10, 10, 0),
            make_facts(
                tenant=tenant(
                    calling_hours=CallingHours.parse(start="12:00", end="17:00", days=["wed"])
                )
            ),
            local(CHI, 2026, 6, 10, 12, 5),
        ),
        (
            "emergency_mode",
            NOW,
            make_facts(emergency=Hold(active=True, until=NOW + 2 * HOUR, reason="carrier outage")),
            NOW + 2 * HOUR,
        ),
        (
            "tenant_paused",
            NOW,
            make_facts(tenant_pause=Hold(active=True, until=NOW + 30 * HOUR)),
            NOW + 30 * HOUR,
        ),
        (
            "budget_exhausted",
            NOW,
            make_facts(
                budget=Budget(resets_at=NOW + 5 * HOUR, spent_usd=100.0, daily_budget_usd=100.0)
            ),
            NOW + 5 * HOUR,
        ),
        (
            "daily_call_cap",
            NOW,
            make_facts(
                budget=Budget(resets_at=NOW + 5 * HOUR, calls_today=1000, calls_per_day=1000)
            ),
            NOW + 5 * HOUR,
        ),
        (
            "cap_24h",
            NOW,
            make_facts(
                tenant=tenant(max_attempts_per_number_24h=2),
                number_attempts=(NOW - 23 * HOUR, NOW - 2 * HOUR, NOW - 30 * HOUR),
            ),
            NOW + HOUR,
        ),
        (
            "cap_24h_fl",
            local("America/New_York", 2026, 6, 10, 11, 0),
            make_facts(
                phone="+13055550100",
                number_attempts=(
                    local("America/New_York", 2026, 6, 9, 12, 0),
                    local("America/New_York", 2026, 6, 9, 15, 0),
                    local("America/New_York", 2026, 6, 10, 9, 0),
                ),
            ),
            local("America/New_York", 2026, 6, 10, 12, 0),
        ),
    ],
)
def test_defer_reasons(
    reason: str, now: dt.datetime, facts: GateFacts, not_before: dt.datetime
) -> None:
    decision = decide(facts, now=now)
    assert (decision.verdict, decision.reason, decision.not_before) == (
        Verdict.DEFER,
        reason,
        not_before,
    )
    assert decide(facts, now=not_before).verdict is Verdict.CALL
    assert decision.to_json()["not_before"] == not_before.astimezone(dt.UTC).isoformat().replace(
        "+00:00", "Z"
    )


@pytest.mark.parametrize(
    ("reason", "facts"),
    [
        ("emergency_mode", make_facts(emergency=Hold(active=True))),
        ("tenant_paused", make_facts(tenant_pause=Hold(active=True, reason="billing"))),
        ("queue_paused", make_facts(queue_paused=True)),
    ],
)
def test_holds_without_an_end_have_no_not_before(reason: str, facts: GateFacts) -> None:
    decision = decide(facts, now=NOW)
    assert (decision.verdict, decision.reason, decision.not_before) == (Verdict.DEFER, reason, None)
    assert decision.to_json()["not_before"] is None


def test_expired_holds_and_budget_counters_do_not_defer() -> None:
    facts = make_facts(
        emergency=Hold(active=True, until=NOW - HOUR),
        tenant_pause=Hold(active=True, until=NOW),
        budget=Budget(
            resets_at=NOW, spent_usd=500.0, daily_budget_usd=100.0, calls_today=5, calls_per_day=5
        ),
    )
    assert decide(facts, now=NOW).verdict is Verdict.CALL


def test_block_wins_over_defer() -> None:
    facts = make_facts(consent=None, emergency=Hold(active=True), queue_paused=True)
    decision = decide(facts, now=local(CHI, 2026, 6, 10, 23, 0))
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "no_consent")
    outcomes = {check.name: check.outcome for check in decision.checks}
    assert outcomes["calling_window"] is Outcome.DEFER
    assert outcomes["emergency_mode"] is Outcome.DEFER


def test_the_reason_is_the_defer_that_clears_last() -> None:
    # Night in Austin (window opens 09:05) and a pause until 11:00 the next day.
    night = local(CHI, 2026, 6, 10, 23, 0)
    pause_end = local(CHI, 2026, 6, 11, 11, 0)
    decision = decide(make_facts(tenant_pause=Hold(active=True, until=pause_end)), now=night)
    assert (decision.reason, decision.not_before) == ("tenant_paused", pause_end)
    # A pause that ends at 02:00 still has to wait for the window.
    early = local(CHI, 2026, 6, 11, 2, 0)
    decision = decide(make_facts(tenant_pause=Hold(active=True, until=early)), now=night)
    assert (decision.reason, decision.not_before) == (
        "outside_window",
        local(CHI, 2026, 6, 11, 9, 5),
    )


def test_cap_release_after_the_window_closes_moves_to_the_next_morning() -> None:
    ny = "America/New_York"
    attempts = tuple(local(ny, 2026, 6, 9, 19, 55) + i * dt.timedelta(minutes=1) for i in range(3))
    decision = decide(
        make_facts(phone="+13055550100", number_attempts=attempts), now=local(ny, 2026, 6, 10, 12)
    )
    assert decision.reason == "cap_24h_fl"
    assert decision.not_before == local(ny, 2026, 6, 11, 8, 5)


def test_lowest_cap_wins_among_candidates() -> None:
    # A Texas number whose lead says Maryland: MD's cap of 3 applies.
    attempts = (NOW - 3 * HOUR, NOW - 2 * HOUR, NOW - HOUR)
    decision = decide(make_facts(lead_state="MD", number_attempts=attempts), now=NOW)
    assert decision.reason == "cap_24h_md"
    cap = decision.check("cap_24h")
    assert cap is not None
    assert cap.evidence["limit"] == 3


# --- location through the gate -----------------------------------------------------------------


def test_split_zone_area_code_waits_for_the_later_zone() -> None:
    # 850-555 (library: Eastern only) at 08:30 Eastern = 07:30 Central: not yet.
    ny = "America/New_York"
    decision = decide(make_facts(phone="+18505551234"), now=local(ny, 2026, 6, 10, 8, 30))
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "outside_window")
    assert decision.not_before == local(CHI, 2026, 6, 10, 8, 5)


def test_stated_state_disagreeing_with_the_area_code_stricter_wins() -> None:
    # Texas allows Sunday 12:00-21:00; the lead says Alabama, which bans Sundays.
    sunday = local(CHI, 2026, 6, 14, 13, 0)
    assert decide(make_facts(), now=sunday).verdict is Verdict.CALL
    decision = decide(make_facts(lead_state="AL"), now=sunday)
    assert (decision.verdict, decision.reason) == (Verdict.DEFER, "sunday_al")
    assert decision.not_before == local(CHI, 2026, 6, 15, 9, 5)  # Monday, TX opens at 09:00
    location = decision.check("location")
    assert location is not None
    assert location.evidence["sources_disagree"] is True


def test_zip_in_another_zone_narrows_the_window() -> None:
    # Austin number, lead's ZIP in El Paso (Mountain): 09:05 Central is 08:05 Mountain, TX
    # opens at 09:00 Mountain.
    decision = decide(make_facts(lead_postal_code="79901"), now=local(CHI, 2026, 6, 10, 9, 30))
    assert decision.reason == "outside_window_tx"
    assert decision.not_before == local("America/Denver", 2026, 6, 10, 9, 5)


def test_dst_spring_forward_through_the_gate() -> None:
    decision = decide(make_facts(), now=local(CHI, 2026, 3, 7, 23, 0))
    assert decision.not_before == dt.datetime(2026, 3, 8, 17, 5, tzinfo=dt.UTC)  # Sun 12:05 CDT


def test_dst_fall_back_through_the_gate() -> None:
    decision = decide(
        make_facts(phone="+12125550100"), now=local("America/New_York", 2026, 10, 31, 22, 0)
    )
    assert decision.not_before == dt.datetime(2026, 11, 1, 13, 5, tzinfo=dt.UTC)  # Sun 08:05 EST


def test_no_window_found_after_other_defers() -> None:
    # The window exists today, but a pause pushes past it and tenant hours allow only today.
    hours = CallingHours.parse(start="09:00", end="17:00", days=["wed"])
    facts = make_facts(
        tenant=tenant(calling_hours=hours),
        tenant_pause=Hold(active=True, until=NOW + 30 * DAY),
        policy=GatePolicy(search_horizon=dt.timedelta(days=3)),
    )
    decision = decide(facts, now=NOW)
    assert (decision.verdict, decision.reason) == (Verdict.BLOCK, "no_window_found")
    assert decision.checks[-1].name == "schedule"


def test_margin_is_a_policy() -> None:
    at = local(CHI, 2026, 6, 10, 9, 0)
    assert decide(make_facts(), now=at).verdict is Verdict.DEFER
    assert decide(make_facts(policy=GatePolicy(margin=NO_MARGIN)), now=at).verdict is Verdict.CALL


# --- properties ---------------------------------------------------------------------------

TABLES = location_tables()
NPAS = sorted(TABLES.area_codes)
STATES = sorted(TABLES.state_zones)
ZIPS = ["78701", "79901", "32501", "33101", "10001", "86033", "96813", "99501", "35203", "84101"]


def _possible_zones(facts: GateFacts) -> set[str]:
    entry = TABLES.area_codes[facts.phone.e164[2:5]] if facts.phone.e164 else None
    return set(entry.zones if entry else ()) | set(facts.phone.time_zones)


@st.composite
def gate_inputs(draw: st.DrawFn, *, operational: bool = True) -> tuple[GateFacts, dt.datetime]:
    """Random facts for a valid US number; `operational` adds attempts, budgets and holds."""
    npa = draw(st.sampled_from(NPAS))
    number = f"+1{npa}{draw(st.integers(200, 999))}{draw(st.integers(0, 9999)):04d}"
    phone = phone_facts(number)
    assume(phone.valid and phone.region == "US" and phone.callable_type)
    now = draw(
        st.datetimes(
            min_value=dt.datetime(2024, 6, 1),
            max_value=dt.datetime(2030, 12, 31),
            timezones=st.just(dt.UTC),
        )
    )
    offsets = st.integers(0, 30 * 60).map(lambda minutes: now - dt.timedelta(minutes=minutes))
    ahead = st.integers(1, 72 * 60).map(lambda minutes: now + dt.timedelta(minutes=minutes))
    if not operational:
        facts = make_facts(
            phone=phone,
            now=now,
            lead_state=draw(st.none() | st.sampled_from(STATES)),
            lead_postal_code=draw(st.none() | st.sampled_from(ZIPS)),
            consent=good_consent(timestamp=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
            has_ebr=True,
        )
        return facts, now
    hours = draw(
        st.sampled_from(
            [
                CallingHours(),
                CallingHours.parse(
                    start="08:00", end="21:00", days=["mon", "tue", "wed", "thu", "fri", "sat"]
                ),
                CallingHours.parse(start="10:00", end="16:30", days=["mon", "wed", "fri"]),
            ]
        )
    )
    facts = GateFacts(
        phone=phone,
        tenant=TenantPolicy(
            business_name="Acme HVAC",
            calling_hours=hours,
            max_attempts_per_number_24h=draw(st.none() | st.integers(1, 4)),
        ),
        budget=Budget(
            resets_at=draw(ahead),
            spent_usd=draw(st.sampled_from([0.0, 100.0])),
            daily_budget_usd=100.0,
            calls_today=draw(st.integers(0, 2)),
            calls_per_day=2,
        ),
        lead_state=draw(st.none() | st.sampled_from(STATES)),
        lead_postal_code=draw(st.none() | st.sampled_from(ZIPS)),
        consent=good_consent(timestamp=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        has_ebr=draw(st.booleans()),
        number_attempts=tuple(draw(st.lists(offsets, max_size=4))),
        emergency=Hold(active=draw(st.booleans()), until=draw(ahead)),
        tenant_pause=Hold(active=draw(st.booleans()), until=draw(ahead)),
    )
    return facts, now


@settings(max_examples=120, deadline=None)
@given(inputs=gate_inputs(operational=False))
def test_call_only_between_eight_and_nine_in_every_possible_zone(
    inputs: tuple[GateFacts, dt.datetime],
) -> None:
    facts, now = inputs
    decision = decide(facts, now=now)
    if decision.verdict is Verdict.CALL:
        for zone in _possible_zones(facts):
            local_time = now.astimezone(ZoneInfo(zone)).time()
            assert dt.time(8, 0) <= local_time < dt.time(21, 0), zone


@settings(max_examples=120, deadline=None)
@given(inputs=gate_inputs())
def test_not_before_is_an_instant_the_gate_calls(inputs: tuple[GateFacts, dt.datetime]) -> None:
    facts, now = inputs
    decision = decide(facts, now=now)
    if decision.verdict is Verdict.DEFER and decision.not_before is not None:
        assert decision.not_before >= now
        again = decide(facts, now=decision.not_before)
        assert again.verdict is Verdict.CALL, _why(again)


def _why(decision: Decision) -> str:
    return json.dumps(decision.to_json())[:2000]
