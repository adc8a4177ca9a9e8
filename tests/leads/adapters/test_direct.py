import json
from datetime import UTC, datetime

import pytest

from leadwire.leads.adapters.direct import SOURCE, parse_direct
from leadwire.platform.errors import BadRequest, InvalidPayload, UnsupportedMediaType
from tests.leads.helpers import request

# The contract's lead shape (CONTRACT.md section 5).
CONTRACT_LEAD = {
    "external_id": "optional",
    "name": "Sarah Johnson",
    "phone": "+15551234567",
    "email": "sarah@example.com",
    "service": "HVAC Emergency",
    "urgency": "emergency",
    "postal_code": "78701",
    "state": "TX",
    "campaign_id": "google_ads_hvac",
    "message": "free text",
    "consent": {
        "granted": True,
        "text": "...",
        "timestamp": "2026-11-21T15:00:00-05:00",
        "ip": "203.0.113.7",
        "user_agent": "...",
        "page_url": "https://...",
    },
    "custom_fields": {"any": "thing"},
}


def test_contract_shape():
    (lead,) = parse_direct(request(json.dumps(CONTRACT_LEAD)))
    assert lead.source == SOURCE == "api"
    assert lead.natural_key == "api:ext:optional"
    assert lead.urgency == "emergency"
    assert lead.consent is not None
    assert lead.consent.timestamp == datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
    assert lead.custom_fields == {"any": "thing"}
    assert lead.raw == CONTRACT_LEAD


def test_unknown_keys_become_custom_fields_explicit_wins():
    body = {"phone": 15125550100, "roof_age": 12, "any": "extra", "custom_fields": {"any": "x"}}
    (lead,) = parse_direct(request(json.dumps(body)))
    assert lead.phone == "15125550100"
    assert lead.custom_fields == {"roof_age": 12, "any": "x"}
    assert lead.natural_key is None


def test_urgency_any_case():
    (lead,) = parse_direct(request('{"phone": "1", "urgency": " HIGH "}'))
    assert lead.urgency == "high"


def test_idempotency_key():
    req = request(
        '[{"phone": "1"}, {"phone": "2", "external_id": "e"}]', headers={"Idempotency-Key": "k1"}
    )
    first, second = parse_direct(req)
    assert first.natural_key == "api:idem:k1:0"
    assert second.natural_key == "api:ext:e"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phone"),
        ({"phone": ""}, "phone"),
        ({"phone": "   "}, "phone"),
        ({"phone": None}, "phone"),
        ({"phone": "1", "urgency": "critical"}, "urgency"),
        ({"phone": "1", "consent": {"timestamp": "2026-11-21T15:00:00"}}, "consent.timestamp"),
        ({"phone": "1", "consent": {"ip": "nope"}}, "consent.ip"),
        ({"phone": "1", "consent": "yes"}, "consent"),
        ({"phone": "1", "custom_fields": []}, "custom_fields"),
        ({"phone": "1", "name": "x" * 501}, "name"),
        ({"phone": "1", "external_id": ""}, "external_id"),
        ([{"phone": "1"}, {"phone": "1", "urgency": 3}], "[1].urgency"),
        ([{"phone": "1"}, 7], "[1]"),
        ([], "body"),
        ([{"phone": "1"}] * 101, "body"),
        ("lead", "body"),
    ],
)
def test_precise_422s(body, field):
    with pytest.raises(InvalidPayload) as caught:
        parse_direct(request(json.dumps(body)))
    assert caught.value.status_code == 422
    assert caught.value.field == field
    assert caught.value.to_body()["error"]["field"] == field


def test_too_long_idempotency_key():
    with pytest.raises(InvalidPayload):
        parse_direct(request('{"phone": "1"}', headers={"Idempotency-Key": "k" * 201}))


def test_unparseable_and_wrong_type():
    with pytest.raises(BadRequest):
        parse_direct(request("{"))
    with pytest.raises(UnsupportedMediaType):
        parse_direct(request('{"phone": "1"}', content_type="text/csv"))
