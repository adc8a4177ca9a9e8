"""Consent evidence against the PEWC elements (reference 1.2-1.5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadwire.compliance.consent import (
    CallPurpose,
    ConsentEvidence,
    ConsentLevel,
    ConsentPolicy,
    evaluate_consent,
    names_seller,
    parse_flags,
)
from leadwire.platform.errors import InvalidPayload
from tests.compliance.helpers import CONSENTED_AT, GOOD_TEXT, good_consent

NOW = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC)
PHONE = "+15125550100"
POLICY = ConsentPolicy(business_name="Acme HVAC")


def _evaluate(
    evidence: ConsentEvidence | None,
    *,
    policy: ConsentPolicy = POLICY,
    purpose: CallPurpose = CallPurpose.TELEMARKETING,
) -> tuple[bool, str | None]:
    result = evaluate_consent(evidence, policy=policy, purpose=purpose, phone_e164=PHONE, now=NOW)
    return result.ok, result.reason


CASES: list[tuple[str, ConsentEvidence | None, ConsentPolicy, CallPurpose, str | None]] = [
    ("good", good_consent(), POLICY, CallPurpose.TELEMARKETING, None),
    ("missing", None, POLICY, CallPurpose.TELEMARKETING, "no_consent"),
    ("not granted", good_consent(granted=False), POLICY, CallPurpose.TELEMARKETING, "no_consent"),
    (
        "revoked",
        good_consent(revoked_at=NOW - dt.timedelta(minutes=1)),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_revoked",
    ),
    (
        "revocation recorded after now (dry run in the past)",
        good_consent(revoked_at=NOW + dt.timedelta(days=1)),
        POLICY,
        CallPurpose.TELEMARKETING,
        None,
    ),
    ("no text", good_consent(text=None), POLICY, CallPurpose.TELEMARKETING, "consent_text_missing"),
    (
        "text without artificial voice",
        good_consent(text="I agree that Acme HVAC may call me about my request."),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_no_artificial_voice",
    ),
    (
        "autodialer only",
        good_consent(text="I agree that Acme HVAC may call me using an autodialer."),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_no_artificial_voice",
    ),
    (
        "autodialer only, accepted by policy",
        good_consent(text="I agree that Acme HVAC may call me using an autodialer."),
        ConsentPolicy(business_name="Acme HVAC", accept_autodialer_only=True),
        CallPurpose.TELEMARKETING,
        None,
    ),
    (
        "another seller",
        good_consent(text="I agree that Zenith Plumbing may call me using an AI voice."),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_wrong_seller",
    ),
    (
        "another seller, seller name not required",
        good_consent(text="I agree that Zenith Plumbing may call me using an AI voice."),
        ConsentPolicy(business_name="Acme HVAC", require_seller_name=False),
        CallPurpose.TELEMARKETING,
        None,
    ),
    (
        "seller named through an alias",
        good_consent(text="I agree that Acme Heating & Air may call me with an AI voice."),
        ConsentPolicy(business_name="Acme HVAC", seller_aliases=("Acme Heating & Air",)),
        CallPurpose.TELEMARKETING,
        None,
    ),
    (
        "seller named in the form's seller list",
        good_consent(
            text="I agree that the companies listed may call me with an AI voice.",
            seller_names=("Acme HVAC, Inc.",),
        ),
        POLICY,
        CallPurpose.TELEMARKETING,
        None,
    ),
    (
        "no timestamp",
        good_consent(timestamp=None),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_timestamp_missing",
    ),
    (
        "unparseable timestamp",
        good_consent(timestamp=None, timestamp_invalid=True),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_timestamp_invalid",
    ),
    (
        "timestamp in the future",
        good_consent(timestamp=NOW + dt.timedelta(hours=1)),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_timestamp_future",
    ),
    (
        "timestamp within clock skew",
        good_consent(timestamp=NOW + dt.timedelta(minutes=4)),
        POLICY,
        CallPurpose.TELEMARKETING,
        None,
    ),
    (
        "expired by tenant policy",
        good_consent(timestamp=NOW - dt.timedelta(days=91)),
        ConsentPolicy(business_name="Acme HVAC", max_age_days=90),
        CallPurpose.TELEMARKETING,
        "consent_expired",
    ),
    (
        "consented number differs",
        good_consent(phone_e164="+15125550199"),
        POLICY,
        CallPurpose.TELEMARKETING,
        "consent_wrong_number",
    ),
    (
        "tenant relaxation is ignored for telemarketing",
        good_consent(text=None),
        ConsentPolicy(business_name="Acme HVAC", required=False),
        CallPurpose.TELEMARKETING,
        "consent_text_missing",
    ),
    (
        "informational call, relaxed: granted is enough",
        good_consent(text=None, timestamp=None),
        ConsentPolicy(business_name="Acme HVAC", required=False),
        CallPurpose.INFORMATIONAL,
        None,
    ),
    (
        "informational call, relaxed, still needs consent",
        None,
        ConsentPolicy(business_name="Acme HVAC", required=False),
        CallPurpose.INFORMATIONAL,
        "no_consent",
    ),
    (
        "informational call, relaxed, revoked",
        good_consent(revoked_at=NOW),
        ConsentPolicy(business_name="Acme HVAC", required=False),
        CallPurpose.INFORMATIONAL,
        "consent_revoked",
    ),
    (
        "informational call, tenant requires written consent",
        good_consent(text=None),
        POLICY,
        CallPurpose.INFORMATIONAL,
        "consent_text_missing",
    ),
]


@pytest.mark.parametrize(
    ("evidence", "policy", "purpose", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_consent_table(
    evidence: ConsentEvidence | None,
    policy: ConsentPolicy,
    purpose: CallPurpose,
    reason: str | None,
) -> None:
    assert _evaluate(evidence, policy=policy, purpose=purpose) == (reason is None, reason)


def test_good_consent_is_written_permission_and_evidence_is_json_safe() -> None:
    result = evaluate_consent(
        good_consent(), policy=POLICY, purpose=CallPurpose.TELEMARKETING, phone_e164=PHONE, now=NOW
    )
    assert result.level is ConsentLevel.PEWC
    assert result.written_permission
    assert result.evidence["seller_named"] is True
    assert result.evidence["mentions_not_condition_of_purchase"] is True
    assert result.evidence["age_days"] == (NOW - CONSENTED_AT).days == 191
    assert GOOD_TEXT not in str(result.evidence)  # the hash, not the text


def test_relaxed_consent_is_not_written_permission() -> None:
    result = evaluate_consent(
        good_consent(text=None),
        policy=ConsentPolicy(business_name="Acme HVAC", required=False),
        purpose=CallPurpose.INFORMATIONAL,
        phone_e164=PHONE,
        now=NOW,
    )
    assert result.ok
    assert not result.written_permission


@pytest.mark.parametrize(
    ("text", "artificial", "autodialer", "not_condition"),
    [
        ("calls using an artificial or prerecorded voice", True, False, False),
        ("calls using artificial voices", True, False, False),
        ("an AI-powered assistant may call", True, False, False),
        ("our A.I. agent will call", True, False, False),
        ("calls may use artificial intelligence", True, False, False),
        ("pre-recorded messages", True, False, False),
        ("an automated voice assistant", True, False, False),
        ("a computer-generated voice", True, False, False),
        ("using an automatic telephone dialing system", False, True, False),
        ("using auto-dialed calls", False, True, False),
        ("using automated technology", False, True, False),
        ("Consent is not a condition of any purchase.", False, False, True),
        ("You are not required to agree in order to purchase.", False, False, True),
        ("We will email you", False, False, False),  # "email" is not "ai"
        ("Call Mai about it", False, False, False),
    ],
)
def test_flags(text: str, artificial: bool, autodialer: bool, not_condition: bool) -> None:
    flags = parse_flags(text)
    assert (flags.artificial_voice, flags.autodialer, flags.not_condition_of_purchase) == (
        artificial,
        autodialer,
        not_condition,
    )


@pytest.mark.parametrize(
    ("text", "names", "found"),
    [
        ("Acme HVAC LLC may call me", ("Acme HVAC",), "Acme HVAC"),
        ("ACME   hvac, inc. may call me", ("Acme HVAC Inc.",), "Acme HVAC Inc."),
        ("Acme HVACS may call me", ("Acme HVAC",), None),  # whole words only
        ("AcmeHVAC may call me", ("Acme HVAC",), None),
        ("O'Brien's Roofing may call", ("OBriens Roofing",), "OBriens Roofing"),
        ("anyone may call", ("",), None),
    ],
)
def test_names_seller(text: str, names: tuple[str, ...], found: str | None) -> None:
    assert names_seller(text, names) == found


# --- parsing the lead's consent object (contract section 5) ------------------------------------


def test_from_payload_contract_shape() -> None:
    evidence = ConsentEvidence.from_payload(
        {
            "granted": True,
            "text": GOOD_TEXT,
            "timestamp": "2026-06-01T12:00:00Z",
            "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0",
            "page_url": "https://example.com/form",
        }
    )
    assert evidence is not None
    assert evidence.granted
    assert evidence.timestamp == dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert evidence.page_url == "https://example.com/form"
    assert _evaluate(evidence) == (True, None)


@pytest.mark.parametrize(
    ("payload", "granted", "timestamp_invalid"),
    [
        ({"granted": "on", "timestamp": "2026-06-01T12:00:00+02:00"}, True, False),
        ({"granted": "false"}, False, False),
        ({"granted": 1}, False, False),  # only JSON true or the checkbox strings
        ({"granted": True, "timestamp": "2026-06-01T12:00:00"}, True, True),  # no offset
        ({"granted": True, "timestamp": "yesterday"}, True, True),
        ({"granted": True, "timestamp": 1717243200}, True, True),
        ({"granted": True, "text": "   "}, True, False),
    ],
)
def test_from_payload_is_strict(
    payload: dict[str, Any], granted: bool, timestamp_invalid: bool
) -> None:
    evidence = ConsentEvidence.from_payload(payload)
    assert evidence is not None
    assert evidence.granted is granted
    assert evidence.timestamp_invalid is timestamp_invalid
    if "text" in payload:
        assert evidence.text is None


def test_from_payload_none_and_wrong_type() -> None:
    assert ConsentEvidence.from_payload(None) is None
    with pytest.raises(InvalidPayload):
        ConsentEvidence.from_payload(["granted"])  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300))
def test_consent_without_seller_or_voice_never_passes_for_sales(text: str) -> None:
    flags = parse_flags(text)
    ok, _ = _evaluate(good_consent(text=text))
    if ok:
        assert flags.artificial_voice
        assert names_seller(text, ("Acme HVAC",)) is not None
