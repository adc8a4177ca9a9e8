import json
from datetime import timedelta

import pytest
from pydantic import SecretStr

from leadwire.leads.adapters.credentials import PlatformSecrets
from leadwire.leads.adapters.hubspot import (
    ADAPTER,
    hubspot_v1,
    hubspot_v2,
    hubspot_v3,
    hubspot_v3_uri,
)
from leadwire.platform.errors import BadSignature, InvalidPayload
from tests.leads.helpers import (
    NO_PLATFORM,
    NOW,
    creds,
    flip_one_byte,
    hs_v1,
    hs_v2,
    hs_v3,
    ms,
    request,
)

# HubSpot's documentation test vectors (integrations.md 2.1).
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_BODY = (
    '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    '"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
DOC_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
DOC_V2_URI = "https://www.example.com/webhook_uri"
DOC_V2 = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"

PLATFORM = PlatformSecrets(hubspot_client_secret=SecretStr(DOC_SECRET))
URL = "https://leadwire.example.com/v1/webhooks/hubspot"

# The Webhooks API example (integrations.md 2.2).
EVENTS = [
    {
        "objectId": 1246965,
        "propertyName": "lifecyclestage",
        "propertyValue": "subscriber",
        "changeSource": "ACADEMY",
        "eventId": 3816279340,
        "subscriptionId": 25,
        "portalId": 33,
        "appId": 1160452,
        "occurredAt": 1462216307945,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
    },
    {
        "objectId": 1246978,
        "changeSource": "IMPORT",
        "eventId": 3816279480,
        "subscriptionId": 22,
        "portalId": 33,
        "appId": 1160452,
        "occurredAt": 1462216307945,
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
    },
]


def v3_request(body: str, *, url: str = URL, secret: str = DOC_SECRET, at=NOW, now=NOW):
    timestamp = ms(at)
    return request(
        body,
        url=url,
        now=now,
        headers={
            "X-HubSpot-Signature-v3": hs_v3(secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
        },
    )


# --- the documented algorithms -----------------------------------------------------------------
def test_doc_vectors():
    assert hubspot_v1(DOC_SECRET, DOC_BODY.encode()) == DOC_V1 == hs_v1(DOC_SECRET, DOC_BODY)
    assert hubspot_v2(DOC_SECRET, "GET", DOC_V2_URI, b"") == DOC_V2
    assert hs_v2(DOC_SECRET, "GET", DOC_V2_URI, "") == DOC_V2


def test_v3_matches_the_reference_algorithm():
    uri = "https://example.com/hook%3Fa%3Db?x=%2F%40%21%24%27%28%29%2a%2c%3b%3a&y=%20"
    assert hubspot_v3(DOC_SECRET, "POST", uri, b"[]", "1") == hs_v3(
        DOC_SECRET, "POST", uri, "[]", "1"
    )


@pytest.mark.parametrize(
    ("uri", "signed_as"),
    [
        ("https://h/p?a=%3A%2F%3F%40", "https://h/p?a=:/?@"),
        ("https://h/p?a=%21%24%27%28%29%2A%2C%3B", "https://h/p?a=!$'()*,;"),
        ("https://h/p?a=%2a%2c%3b", "https://h/p?a=*,;"),
        # Only the twelve escapes: space, %, & and + stay encoded.
        ("https://h/p?a=%20%25%26%2B", "https://h/p?a=%20%25%26%2B"),
        # No double decoding: %253A is "%3A" escaped once, it stays.
        ("https://h/p?a=%253A", "https://h/p?a=%253A"),
    ],
)
def test_v3_uri_decoding_table(uri, signed_as):
    assert hubspot_v3_uri(uri) == signed_as


# --- verify: v1, v2 ----------------------------------------------------------------------------
def test_v1_doc_vector_verifies():
    req = request(
        DOC_BODY,
        url=URL,
        headers={"X-HubSpot-Signature": DOC_V1, "X-HubSpot-Signature-Version": "v1"},
    )
    ADAPTER.verify(req, credentials=None, platform=PLATFORM)
    tampered = request(
        flip_one_byte(DOC_BODY.encode()),
        url=URL,
        headers={"X-HubSpot-Signature": DOC_V1, "X-HubSpot-Signature-Version": "v1"},
    )
    with pytest.raises(BadSignature):
        ADAPTER.verify(tampered, credentials=None, platform=PLATFORM)


def test_v2_doc_vector_verifies():
    req = request(
        b"",
        method="GET",
        url=DOC_V2_URI,
        content_type=None,
        headers={"X-HubSpot-Signature": DOC_V2, "X-HubSpot-Signature-Version": "v2"},
    )
    ADAPTER.verify(req, credentials=None, platform=PLATFORM)
    other_uri = request(
        b"",
        method="GET",
        url=DOC_V2_URI + "?x=1",
        content_type=None,
        headers={"X-HubSpot-Signature": DOC_V2, "X-HubSpot-Signature-Version": "v2"},
    )
    with pytest.raises(BadSignature):
        ADAPTER.verify(other_uri, credentials=None, platform=PLATFORM)


def test_v2_one_changed_byte_fails():
    body = json.dumps({"phone": "+15125550100", "hs_object_id": "77"})
    headers = {
        "X-HubSpot-Signature": hs_v2(DOC_SECRET, "POST", URL, body),
        "X-HubSpot-Signature-Version": "v2",
    }
    ADAPTER.verify(request(body, url=URL, headers=headers), credentials=None, platform=PLATFORM)
    with pytest.raises(BadSignature):
        ADAPTER.verify(
            request(flip_one_byte(body.encode()), url=URL, headers=headers),
            credentials=None,
            platform=PLATFORM,
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-HubSpot-Signature": DOC_V1},  # no version: ambiguous
        {"X-HubSpot-Signature": DOC_V1, "X-HubSpot-Signature-Version": "v9"},
        {"X-HubSpot-Signature-Version": "v1"},
        {"X-HubSpot-Signature": DOC_V1, "X-HubSpot-Signature-Version": "v2"},
    ],
)
def test_missing_or_mismatched_versions_fail(headers):
    with pytest.raises(BadSignature):
        ADAPTER.verify(
            request(DOC_BODY, url=URL, headers=headers), credentials=None, platform=PLATFORM
        )


# --- verify: v3 --------------------------------------------------------------------------------
def test_v3_verifies_and_tenant_secret_wins():
    ADAPTER.verify(v3_request(DOC_BODY), credentials=None, platform=PLATFORM)
    tenant = creds(client_secret="tenant-secret")
    ADAPTER.verify(
        v3_request(DOC_BODY, secret="tenant-secret"), credentials=tenant, platform=PLATFORM
    )
    with pytest.raises(BadSignature):
        ADAPTER.verify(v3_request(DOC_BODY), credentials=tenant, platform=PLATFORM)


def test_v3_signs_the_url_with_hubspot_escapes_decoded():
    url = URL + "?portal=33&next=%2Fleads%3Fa%3Db"
    ADAPTER.verify(v3_request(DOC_BODY, url=url), credentials=None, platform=PLATFORM)


def test_v3_one_changed_byte_fails():
    good = v3_request(DOC_BODY)
    tampered = request(flip_one_byte(DOC_BODY.encode()), url=URL, headers=dict(good.headers))
    with pytest.raises(BadSignature):
        ADAPTER.verify(tampered, credentials=None, platform=PLATFORM)


@pytest.mark.parametrize("skew", [timedelta(seconds=-301), timedelta(seconds=301)])
def test_v3_outside_five_minutes_fails(skew):
    with pytest.raises(BadSignature):
        ADAPTER.verify(v3_request(DOC_BODY, at=NOW + skew), credentials=None, platform=PLATFORM)


@pytest.mark.parametrize("skew", [timedelta(seconds=-299), timedelta(seconds=299)])
def test_v3_inside_five_minutes_passes(skew):
    ADAPTER.verify(v3_request(DOC_BODY, at=NOW + skew), credentials=None, platform=PLATFORM)


def test_v3_uses_the_now_argument():
    old = v3_request(DOC_BODY, at=NOW - timedelta(hours=1), now=NOW)
    ADAPTER.verify(old, credentials=None, platform=PLATFORM, now=NOW - timedelta(hours=1))
    with pytest.raises(BadSignature):
        ADAPTER.verify(old, credentials=None, platform=PLATFORM)


def test_v3_failure_is_not_rescued_by_a_valid_v1():
    good = v3_request(DOC_BODY)
    headers = {
        "X-HubSpot-Request-Timestamp": good.headers["x-hubspot-request-timestamp"],
        "X-HubSpot-Signature-v3": "AAAA" + good.headers["x-hubspot-signature-v3"][4:],
        "X-HubSpot-Signature": DOC_V1,
        "X-HubSpot-Signature-Version": "v1",
    }
    with pytest.raises(BadSignature):
        ADAPTER.verify(
            request(DOC_BODY, url=URL, headers=headers), credentials=None, platform=PLATFORM
        )


@pytest.mark.parametrize("timestamp", [None, "", "abc", "1.5e12", "-1", "9" * 40])
def test_v3_malformed_timestamp_fails(timestamp):
    headers = {"X-HubSpot-Signature-v3": "x"}
    if timestamp is not None:
        headers["X-HubSpot-Request-Timestamp"] = timestamp
    with pytest.raises(BadSignature):
        ADAPTER.verify(
            request(DOC_BODY, url=URL, headers=headers), credentials=None, platform=PLATFORM
        )


def test_no_secret_configured_fails():
    with pytest.raises(BadSignature):
        ADAPTER.verify(v3_request(DOC_BODY), credentials=None, platform=NO_PLATFORM)


def test_tenant_endpoint_refuses_other_portals():
    with pytest.raises(BadSignature):
        ADAPTER.verify(v3_request(DOC_BODY), credentials=creds(portal_id=1), platform=PLATFORM)
    ADAPTER.verify(v3_request(DOC_BODY), credentials=creds(portal_id=62515), platform=PLATFORM)


# --- parse: Webhooks API events ----------------------------------------------------------------
def test_doc_body_is_one_contact_to_fetch():
    (lead,) = ADAPTER.parse(request(DOC_BODY))
    assert lead.source == "hubspot"
    assert lead.natural_key == "hubspot:123"
    assert lead.needs_fetch is True
    assert lead.fetch_ref == {"object_id": "123", "portal_id": "62515"}
    assert lead.tenant_hint == "62515"
    assert lead.raw["eventId"] == 1


def test_only_creation_events_make_leads():
    req = request(json.dumps(EVENTS))
    (lead,) = ADAPTER.parse(req)
    assert lead.external_id == "1246978"
    assert ADAPTER.tenant_hints(req) == ["33"]


def test_event_type_spelling_is_read_too():
    (lead,) = ADAPTER.parse(request('[{"eventType":"contact.creation","objectId":"5"}]'))
    assert lead.natural_key == "hubspot:5"
    assert lead.tenant_hint is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[1]", "[0]"),
        ('[{"subscriptionType":"contact.creation"}]', "[0].objectId"),
        ('[{"subscriptionType":"contact.creation","objectId":true}]', "[0].objectId"),
        ('[{"subscriptionType":"contact.creation","objectId":1,"portalId":"x"}]', "[0].portalId"),
        ('"text"', "body"),
        ('{"properties": []}', "properties"),
    ],
)
def test_wrong_event_shapes_are_422(body, field):
    with pytest.raises(InvalidPayload) as caught:
        ADAPTER.parse(request(body))
    assert caught.value.field == field


# --- parse: workflow webhooks ------------------------------------------------------------------
def test_workflow_customized_flat_body():
    body = {
        "hs_object_id": "512",
        "firstname": "Ada",
        "lastname": "Lovelace",
        "phone": "(512) 867-5309",
        "mobilephone": "+15125550100",
        "email": "ADA@example.com",
        "zip": "78701",
        "state": "Texas",
        "what_service_do_you_need": "AC repair",
        "portalId": 62515,
    }
    (lead,) = ADAPTER.parse(request(json.dumps(body)))
    assert lead.natural_key == "hubspot:512"
    assert (lead.first_name, lead.last_name, lead.phone) == ("Ada", "Lovelace", "(512) 867-5309")
    assert lead.postal_code == "78701"
    assert lead.state == "Texas"
    assert lead.needs_fetch is False
    assert lead.tenant_hint == "62515"
    assert lead.custom_fields == {
        "mobilephone": "+15125550100",
        "what_service_do_you_need": "AC repair",
    }


def test_workflow_properties_as_name_value():
    body = {"id": "77", "properties": {"phone": "+15125550100", "firstname": "Ada", "zip": None}}
    (lead,) = ADAPTER.parse(request(json.dumps(body)))
    assert (lead.natural_key, lead.phone, lead.first_name) == ("hubspot:77", "+15125550100", "Ada")


def test_workflow_legacy_contact_layout():
    body = {
        "vid": 3234574,
        "portal-id": 62515,
        "properties": {
            "phone": {"value": "+15125550100", "versions": [{"value": "+15125550100"}]},
            "firstname": {"value": "Grace", "versions": []},
            "lifecyclestage": {"value": "lead", "versions": []},
        },
    }
    (lead,) = ADAPTER.parse(request(json.dumps(body)))
    assert (lead.natural_key, lead.phone, lead.first_name) == (
        "hubspot:3234574",
        "+15125550100",
        "Grace",
    )
    assert lead.tenant_hint == "62515"
    assert lead.custom_fields == {"lifecyclestage": "lead"}


def test_workflow_without_phone_is_fetched():
    (lead,) = ADAPTER.parse(request('{"hs_object_id": 901, "email": "a@b.co", "id": "abc"}'))
    assert lead.needs_fetch is True
    assert lead.fetch_ref == {"object_id": "901"}


def test_workflow_explicit_urgency():
    (lead,) = ADAPTER.parse(request('{"phone": "+15125550100", "urgency": "HIGH"}'))
    assert lead.urgency == "high"
    (lead,) = ADAPTER.parse(request('{"phone": "+15125550100", "urgency": "asap"}'))
    assert lead.urgency is None
    assert lead.custom_fields["urgency"] == "asap"
    assert lead.natural_key is None
