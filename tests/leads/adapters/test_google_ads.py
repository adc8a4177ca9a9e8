import hashlib
import json

import pytest

from leadwire.leads.adapters.google_ads import ADAPTER, google_key_fingerprint
from leadwire.platform.errors import BadRequest, BadSignature, InvalidPayload
from tests.leads.helpers import NO_PLATFORM, creds, flip_one_byte, request

KEY = "my-google-key-4f9a"
LEAD_ID = (
    "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz-0123456789"
    "-AaBbCcDdEeFfGgHhIiJjKkLl"
)
# Google's "Send test data" payload (integrations.md 4.1).
SAMPLE = {
    "lead_id": LEAD_ID,
    "user_column_data": [
        {
            "column_name": "Full Name",
            "string_value": "FirstName LastName",
            "column_id": "FULL_NAME",
        },
        {"column_name": "User Email", "string_value": "test@example.com", "column_id": "EMAIL"},
        {"column_name": "User Phone", "string_value": "+16505550123", "column_id": "PHONE_NUMBER"},
        {"column_name": "Postal Code", "string_value": "94043", "column_id": "POSTAL_CODE"},
    ],
    "api_version": "1.0",
    "form_id": 18698608977,
    "campaign_id": 991214827,
    "google_key": KEY,
    "is_test": True,
    "gcl_id": LEAD_ID,
    "adgroup_id": 20000000000,
    "creative_id": 30000000000,
}
SAMPLE_BYTES = json.dumps(SAMPLE).encode()
TENANT = creds(google_key=KEY)


def test_verify_accepts_the_tenant_key():
    ADAPTER.verify(request(SAMPLE_BYTES), credentials=TENANT, platform=NO_PLATFORM)


def test_one_changed_byte_in_the_key_fails():
    tampered = SAMPLE_BYTES.replace(KEY.encode(), flip_one_byte(KEY.encode()))
    assert tampered != SAMPLE_BYTES
    with pytest.raises(BadSignature):
        ADAPTER.verify(request(tampered), credentials=TENANT, platform=NO_PLATFORM)


@pytest.mark.parametrize(
    ("body", "credentials"),
    [
        (SAMPLE_BYTES, None),
        (SAMPLE_BYTES, creds()),
        (SAMPLE_BYTES, creds(google_key="")),
        (json.dumps({**SAMPLE, "google_key": None}).encode(), TENANT),
        (json.dumps({k: v for k, v in SAMPLE.items() if k != "google_key"}).encode(), TENANT),
        (json.dumps({**SAMPLE, "google_key": 12}).encode(), TENANT),
        (b"not json", TENANT),
        (b"[]", TENANT),
    ],
)
def test_verify_failures(body, credentials):
    with pytest.raises(BadSignature):
        ADAPTER.verify(request(body), credentials=credentials, platform=NO_PLATFORM)


def test_tenant_hint_is_a_fingerprint_never_the_key():
    req = request(SAMPLE_BYTES)
    assert ADAPTER.tenant_hints(req) == [hashlib.sha256(KEY.encode()).hexdigest()]
    assert google_key_fingerprint(KEY) == hashlib.sha256(KEY.encode()).hexdigest()
    (lead,) = ADAPTER.parse(req)
    assert lead.tenant_hint == google_key_fingerprint(KEY)
    assert KEY not in lead.model_dump_json()
    assert lead.raw["google_key"] == "***"


def test_parse_test_payload():
    (lead,) = ADAPTER.parse(request(SAMPLE_BYTES))
    assert lead.source == "google-ads"
    assert lead.natural_key == f"google-ads:{LEAD_ID}"
    assert lead.external_id == LEAD_ID
    assert (lead.name, lead.email, lead.phone, lead.postal_code) == (
        "FirstName LastName",
        "test@example.com",
        "+16505550123",
        "94043",
    )
    assert lead.campaign_id == "991214827"
    assert lead.is_test is True
    assert lead.needs_fetch is False
    assert lead.raw["form_id"] == 18698608977


def test_other_columns_and_custom_questions():
    body = {
        "lead_id": "L1",
        "google_key": KEY,
        "user_column_data": [
            {"column_id": "FIRST_NAME", "string_value": "Ada"},
            {"column_id": "LAST_NAME", "string_value": "Lovelace"},
            {"column_id": "WORK_PHONE", "string_value": "+15125550100"},
            {"column_id": "CITY", "string_value": "Austin", "column_name": "City"},
            {"column_id": "REGION", "string_value": "Texas"},
            {"column_id": "SERVICE", "string_value": "Furnace repair"},
            {"column_id": "QUESTION_1", "string_value": "Yes", "column_name": "Homeowner?"},
            {"column_id": "QUESTION_2", "string_value": ""},
        ],
    }
    (lead,) = ADAPTER.parse(request(json.dumps(body)))
    assert (lead.first_name, lead.last_name, lead.phone) == ("Ada", "Lovelace", "+15125550100")
    assert (lead.state, lead.service) == ("Texas", "Furnace repair")
    assert lead.custom_fields == {"CITY": "Austin", "QUESTION_1": "Yes"}
    assert lead.is_test is False
    assert lead.campaign_id is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lead_id": None}, "lead_id"),
        ({"lead_id": ""}, "lead_id"),
        ({"lead_id": ["x"]}, "lead_id"),
        ({"user_column_data": {}}, "user_column_data"),
        ({"user_column_data": ["x"]}, "user_column_data[0]"),
        ({"user_column_data": [{"string_value": "x"}]}, "user_column_data[0].column_id"),
        (
            {"user_column_data": [{"column_id": "A", "string_value": {}}]},
            "user_column_data[0].string_value",
        ),
        ({"is_test": "yes"}, "is_test"),
        ({"campaign_id": 1.5}, "campaign_id"),
        ({"form_id": "abc"}, "form_id"),
    ],
)
def test_wrong_fields_are_422(change, field):
    with pytest.raises(InvalidPayload) as caught:
        ADAPTER.parse(request(json.dumps({**SAMPLE, **change})))
    assert caught.value.field == field


def test_unparseable_is_400():
    with pytest.raises(BadRequest):
        ADAPTER.parse(request(b'{"lead_id": '))
