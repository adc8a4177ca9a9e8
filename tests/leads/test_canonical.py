from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from leadwire.leads.canonical import (
    ConsentEvidence,
    DirectLeadIn,
    DisclaimerResponse,
    InboundLead,
    LeadUpdate,
    Urgency,
    apply_update,
    invalid_payload_from,
)


def test_urgency_ranks():
    assert sorted(Urgency, key=lambda u: u.rank) == [
        Urgency.LOW,
        Urgency.MEDIUM,
        Urgency.HIGH,
        Urgency.EMERGENCY,
    ]


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("0", False), (True, True), (None, None), ("x", None)]
)
def test_disclaimer_checkbox_values(value, expected):
    assert DisclaimerResponse(checkbox_key="k", is_checked=value).is_checked is expected


def test_consent_ip_is_normalized_and_extras_kept():
    consent = ConsentEvidence.model_validate(
        {"ip": " 2001:DB8::1 ", "jornaya_leadid": "abc", "timestamp": "2026-11-21T10:00:00-05:00"}
    )
    assert consent.ip == "2001:db8::1"
    assert consent.timestamp == datetime(2026, 11, 21, 15, tzinfo=UTC)
    assert consent.model_extra == {"jornaya_leadid": "abc"}
    assert ConsentEvidence(ip="").ip is None


def test_apply_update_prefers_fetched_values():
    lead = InboundLead(
        source="hubspot",
        natural_key="hubspot:1",
        name="Old",
        needs_fetch=True,
        custom_fields={"a": 1, "b": 2},
    )
    merged = apply_update(
        lead, LeadUpdate(name="New", phone="+15125550100", custom_fields={"b": 3})
    )
    assert (merged.name, merged.phone, merged.needs_fetch) == ("New", "+15125550100", False)
    assert merged.custom_fields == {"a": 1, "b": 3}
    assert merged.natural_key == "hubspot:1"
    assert apply_update(lead, LeadUpdate()).name == "Old"


def test_invalid_payload_paths():
    with pytest.raises(ValidationError) as caught:
        DirectLeadIn.model_validate({"phone": "1", "consent": {"disclaimer_responses": [{}]}})
    error = invalid_payload_from(caught.value, prefix="[3]")
    assert error.field == "[3].consent.disclaimer_responses[0].checkbox_key"
    assert error.status_code == 422
