import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from standardwebhooks import Webhook

from leadwire.leads.adapters.zapier import ADAPTER
from leadwire.platform.errors import BadSignature, InvalidPayload, UnsupportedMediaType
from tests.leads.adapters.stdwebhooks import std_headers
from tests.leads.helpers import NO_PLATFORM, NOW, creds, flip_one_byte, request

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PLAIN_SECRET = "zapier-secret-123"
TENANT = creds(secret=SECRET)
LEAD = {
    "name": "Sarah Johnson",
    "phone": "+15125550100",
    "email": "sarah@example.com",
    "service": "HVAC Emergency",
    "zip": "78701",
    "state": "TX",
    "campaign": "google_ads_hvac",
    "comments": "no heat since last night",
    "what_service_do_you_need": "furnace",
}
BODY = json.dumps(LEAD).encode()


def verify(req, tenant=TENANT):
    ADAPTER.verify(req, credentials=tenant, platform=NO_PLATFORM)


# --- bearer ------------------------------------------------------------------------------------
def test_bearer_secret():
    verify(request(BODY, headers={"Authorization": f"Bearer {SECRET}"}))
    verify(request(BODY, headers={"authorization": f"bearer   {SECRET}"}))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {SECRET}"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {SECRET}x"},
        {"X-Api-Key": SECRET},
    ],
)
def test_bearer_failures(headers):
    with pytest.raises(BadSignature):
        verify(request(BODY, headers=headers))


@pytest.mark.parametrize("credentials", [None, creds(), creds(secret="")])
def test_unconfigured_source_fails(credentials):
    with pytest.raises(BadSignature):
        verify(request(BODY, headers={"Authorization": f"Bearer {SECRET}"}), credentials)


# --- Standard Webhooks --------------------------------------------------------------------------
@pytest.mark.parametrize("secret", [SECRET, PLAIN_SECRET])
def test_standard_webhooks_signature(secret):
    verify(request(BODY, headers=std_headers(secret, BODY)), creds(secret=secret))


def test_one_changed_byte_fails():
    headers = std_headers(SECRET, BODY)
    with pytest.raises(BadSignature):
        verify(request(flip_one_byte(BODY), headers=headers))


@pytest.mark.parametrize("skew", [timedelta(seconds=-301), timedelta(seconds=301)])
def test_stale_or_future_timestamp_fails(skew):
    with pytest.raises(BadSignature):
        verify(request(BODY, headers=std_headers(SECRET, BODY, at=NOW + skew)))


@pytest.mark.parametrize("skew", [timedelta(seconds=-299), timedelta(seconds=299)])
def test_timestamp_inside_tolerance_passes(skew):
    verify(request(BODY, headers=std_headers(SECRET, BODY, at=NOW + skew)))


def test_key_rotation_any_v1_signature_matches():
    headers = std_headers(SECRET, BODY)
    good = headers["webhook-signature"]
    headers["webhook-signature"] = f"v1,AAAA v1a,ed25519sig garbage v1,!!! {good}"
    verify(request(BODY, headers=headers))


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-id": "msg_other"},
        {"webhook-timestamp": "abc"},
        {"webhook-timestamp": "1.5"},
        {"webhook-signature": "v1"},
        {"webhook-signature": "v2,abc"},
        {"webhook-signature": ""},
    ],
)
def test_malformed_or_mismatched_headers_fail(change):
    headers = {**std_headers(SECRET, BODY), **change}
    with pytest.raises(BadSignature):
        verify(request(BODY, headers=headers))


def test_missing_header_fails():
    headers = std_headers(SECRET, BODY)
    del headers["webhook-id"]
    with pytest.raises(BadSignature):
        verify(request(BODY, headers=headers))


def test_wrong_bearer_with_a_valid_signature_passes():
    headers = {**std_headers(SECRET, BODY), "Authorization": "Bearer nope"}
    verify(request(BODY, headers=headers))


def test_secret_unusable_for_standard_webhooks_only_takes_bearer():
    tenant = creds(secret="abcde")  # not decodable the way the reference library decodes
    verify(request(BODY, headers={"Authorization": "Bearer abcde"}), tenant)
    headers = {"webhook-id": "m", "webhook-timestamp": str(int(NOW.timestamp()))}
    headers["webhook-signature"] = "v1,AAAA"
    with pytest.raises(BadSignature):
        verify(request(BODY, headers=headers), tenant)


def test_agrees_with_the_reference_library_verifier():
    now = datetime.now(UTC)
    headers = std_headers(SECRET, BODY, at=now)
    Webhook(SECRET).verify(BODY, headers)
    ADAPTER.verify(
        request(BODY, headers=headers, now=now), credentials=TENANT, platform=NO_PLATFORM
    )


# --- parse -------------------------------------------------------------------------------------
def test_parse_json_with_common_names():
    (lead,) = ADAPTER.parse(request(BODY))
    assert lead.source == "zapier"
    assert (lead.name, lead.phone, lead.email) == (
        "Sarah Johnson",
        "+15125550100",
        "sarah@example.com",
    )
    assert (lead.service, lead.postal_code, lead.state) == ("HVAC Emergency", "78701", "TX")
    assert lead.campaign_id == "google_ads_hvac"
    assert lead.message == "no heat since last night"
    assert lead.custom_fields == {"what_service_do_you_need": "furnace"}
    assert lead.natural_key is None
    assert lead.raw == LEAD


def test_parse_form_urlencoded():
    body = urlencode(
        {"First Name": "Ada", "Last-Name": "Lovelace", "Phone Number": "512 867 5309", "x": ""}
    )
    (lead,) = ADAPTER.parse(request(body, content_type="application/x-www-form-urlencoded"))
    assert (lead.first_name, lead.last_name, lead.phone) == ("Ada", "Lovelace", "512 867 5309")
    assert lead.custom_fields == {}


def test_wrapped_array_and_webhook_id_keys():
    body = json.dumps([{"phone": "1"}, {"phone": "2", "external_id": 42}]).encode()
    headers = std_headers(SECRET, body)
    first, second = ADAPTER.parse(request(body, headers=headers))
    assert first.natural_key == f"zapier:wh:{headers['webhook-id']}:0"
    assert second.natural_key == "zapier:ext:42"
    assert second.external_id == "42"


def test_explicit_custom_fields_and_urgency():
    body = {
        "phone": "+15125550100",
        "urgency": "Emergency",
        "custom_fields": {"budget": 5000},
        "budget": "ignored: explicit wins",
        "lead_source_detail": {"nested": True},
    }
    (lead,) = ADAPTER.parse(request(json.dumps(body)))
    assert lead.urgency == "emergency"
    assert lead.custom_fields == {"budget": 5000, "lead_source_detail": {"nested": True}}
    (lead,) = ADAPTER.parse(request('{"phone": "1", "urgency": "ASAP"}'))
    assert lead.urgency is None
    assert lead.custom_fields == {"urgency": "ASAP"}


def test_consent_object_and_checkbox():
    body = {
        "phone": "1",
        "consent": {
            "granted": True,
            "text": "By submitting, you agree ...",
            "timestamp": "2026-11-21T15:29:00Z",
            "ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0",
            "page_url": "https://example.com/quote",
            "trustedform_cert_url": "https://cert.trustedform.com/abc",
        },
    }
    (lead,) = ADAPTER.parse(request(json.dumps(body)))
    assert lead.consent is not None
    assert lead.consent.granted is True
    assert lead.consent.timestamp == datetime(2026, 11, 21, 15, 29, tzinfo=UTC)
    assert lead.consent.model_extra == {"trustedform_cert_url": "https://cert.trustedform.com/abc"}
    assert "consent" not in lead.custom_fields
    (lead,) = ADAPTER.parse(
        request(
            urlencode({"phone": "1", "consent": "on", "consent_text": "I agree"}),
            content_type="application/x-www-form-urlencoded",
        )
    )
    assert lead.consent is not None
    assert (lead.consent.granted, lead.consent.text) == (True, "I agree")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "1", "consent": {"timestamp": "2026-11-21T15:29:00"}}, "consent.timestamp"),
        ({"phone": "1", "consent": {"ip": "999.1.1.1"}}, "consent.ip"),
        ({"phone": "1", "consent": "maybe"}, "consent"),
        ({"phone": "1", "consent_timestamp": "yesterday"}, "consent.timestamp"),
        ({"phone": "1", "custom_fields": [1]}, "custom_fields"),
        ([{"phone": "1"}, {"consent": {"granted": "perhaps"}}], "[1].consent.granted"),
        ([{"phone": "1"}, "x"], "[1]"),
        ("just a string", "body"),
        ([{"phone": "1"}] * 101, "body"),
    ],
)
def test_wrong_fields_are_422(body, field):
    with pytest.raises(InvalidPayload) as caught:
        ADAPTER.parse(request(json.dumps(body)))
    assert caught.value.field == field


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
def test_unsupported_content_types(content_type):
    with pytest.raises(UnsupportedMediaType):
        ADAPTER.parse(request(BODY, content_type=content_type))


def test_no_tenant_hints_for_tenant_scoped_sources():
    assert ADAPTER.tenant_hints(request(BODY)) == []
    assert ADAPTER.app_level is False
