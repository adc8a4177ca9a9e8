"""Hypothesis: whatever arrives, adapters answer with a LeadwireError or a result, never with
KeyError/TypeError/ValueError and friends; signatures round-trip and break on any change."""

import contextlib
import json
from datetime import timedelta
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from leadwire.leads.adapters.base import InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets
from leadwire.leads.adapters.direct import parse_direct
from leadwire.leads.adapters.registry import ADAPTERS
from leadwire.leads.normalize import normalize
from leadwire.platform.errors import BadSignature, LeadwireError
from tests.leads.adapters.stdwebhooks import std_headers
from tests.leads.helpers import NOW, creds, hs_v3, meta_sign, ms

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PLATFORM = PlatformSecrets(
    meta_app_secret=SecretStr("meta-secret"),
    meta_verify_token=SecretStr("verify"),
    hubspot_client_secret=SecretStr("hubspot-secret"),
)
EVERYTHING = creds(
    page_ids=["1"],
    app_secret="meta-secret",
    portal_id=1,
    client_secret="hubspot-secret",
    organization_id="00D000000000001",
    allowed_networks=["0.0.0.0/0"],
    google_key="key",
    secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    public=True,
    allowed_origins=["https://example.com"],
)

KEYS = [
    "object", "entry", "id", "time", "changes", "field", "value", "leadgen_id", "page_id",
    "form_id", "subscriptionType", "eventType", "objectId", "portalId", "portal-id",
    "properties", "vid", "hs_object_id", "lead_id", "user_column_data", "column_id",
    "string_value", "google_key", "is_test", "campaign_id", "phone", "name", "email",
    "consent", "granted", "timestamp", "ip", "custom_fields", "urgency", "external_id", "_hp",
    "consent_timestamp", "zip", "state",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["leadgen", "contact.creation", "page", "key", "1", "on", "high"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/json; charset=no-such-codec",
        "application/vnd.api+json",
        "text/xml",
        "application/xml; charset=utf-16",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=b",
        "multipart/form-data",
        "text/plain",
        "",
        ";;;",
    ]
)
HEADER_NAMES = [
    "X-Hub-Signature-256", "X-HubSpot-Signature", "X-HubSpot-Signature-Version",
    "X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp", "webhook-id", "webhook-timestamp",
    "webhook-signature", "Authorization", "Origin", "Idempotency-Key", "User-Agent", "Referer",
]  # fmt: skip
HEADERS = st.dictionaries(
    st.sampled_from(HEADER_NAMES),
    st.text(max_size=40)
    | st.sampled_from(["v1", "v2", "v3", "sha256=00", "Bearer key", "https://example.com"])
    | st.integers(min_value=0, max_value=2**45).map(str),
    max_size=6,
)


def _xml_notification(org: str, fields: dict[str, str]) -> bytes:
    children = "".join(f"<sf:{k}>{escape(v)}</sf:{k}>" for k, v in fields.items())
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{escape(org)}</OrganizationId><Notification><Id>04l1</Id>"
        '<sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{children}</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


XML = st.builds(
    _xml_notification,
    st.text(max_size=20) | st.just("00D000000000001") | st.just("00D000000000001EAA"),
    st.dictionaries(
        st.sampled_from(["Phone", "MobilePhone", "Email", "Name", "FirstName", "State", "Id"]),
        st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30),
        max_size=5,
    ),
)
# Provider-shaped JSON: the right skeleton with arbitrary leaves, to reach deep into parsers.
RECORD = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=8)
IDS = st.integers(min_value=-5, max_value=2**70) | st.from_regex(r"\A[0-9]{1,40}\Z") | JSON
META_VALUE = st.fixed_dictionaries(
    {"leadgen_id": IDS}, optional={"page_id": IDS, "form_id": IDS, "junk": JSON}
)
COLUMN = st.fixed_dictionaries(
    {
        "column_id": st.sampled_from(["FULL_NAME", "PHONE_NUMBER", "EMAIL", "REGION"]) | JSON,
        "string_value": st.text(max_size=30) | JSON,
    }
)
DIGITS = st.integers(min_value=0, max_value=2**70) | st.from_regex(r"\A[0-9]{1,30}\Z")
META_VALID = st.builds(
    lambda entries: {"object": "page", "entry": entries},
    st.lists(
        st.fixed_dictionaries(
            {
                "id": DIGITS,
                "time": JSON,
                "changes": st.lists(
                    st.fixed_dictionaries(
                        {
                            "field": st.just("leadgen"),
                            "value": st.fixed_dictionaries(
                                {"leadgen_id": DIGITS},
                                optional={"page_id": DIGITS, "form_id": DIGITS, "ad_id": JSON},
                            ),
                        }
                    ),
                    min_size=1,
                    max_size=3,
                ),
            }
        ),
        min_size=1,
        max_size=3,
    ),
)
SHAPED = st.one_of(
    META_VALID,
    st.builds(
        lambda entries: {"object": "page", "entry": entries},
        st.lists(
            st.fixed_dictionaries(
                {
                    "id": JSON,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {"field": st.just("leadgen") | JSON, "value": RECORD}
                        ),
                        max_size=3,
                    ),
                },
            ),
            max_size=3,
        ),
    ),
    st.lists(
        st.fixed_dictionaries(
            {"subscriptionType": st.just("contact.creation") | JSON},
            optional={"objectId": IDS, "portalId": IDS},
        ),
        max_size=3,
    ),
    st.fixed_dictionaries({"properties": RECORD | JSON}, optional={"vid": JSON, "portal-id": JSON}),
    st.fixed_dictionaries(
        {"lead_id": st.text(min_size=1, max_size=20) | JSON, "google_key": st.just("key") | JSON},
        optional={
            "user_column_data": st.lists(COLUMN | RECORD, max_size=4) | JSON,
            "is_test": JSON,
            "campaign_id": JSON,
        },
    ),
    st.lists(RECORD, max_size=3),
    RECORD,
)
BODIES = (
    st.binary(max_size=600)
    | JSON.map(lambda v: json.dumps(v).encode())
    | SHAPED.map(lambda v: json.dumps(v).encode())
    | XML
    | st.dictionaries(st.sampled_from(KEYS), st.text(max_size=10), max_size=5).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode()
    )
)
REQUESTS = st.builds(
    lambda body, content_type, headers, ip: InboundRequest(
        method="POST",
        url="https://leadwire.example.com/v1/webhooks/x?a=%3A",
        headers={**headers, **({"Content-Type": content_type} if content_type else {})},
        body=body,
        now=NOW,
        client_ip=ip,
    ),
    BODIES,
    CONTENT_TYPES,
    HEADERS,
    st.none() | st.just("203.0.113.7") | st.text(max_size=10),
)


def _exercise(adapter, req):
    hints = adapter.tenant_hints(req)  # must never raise
    assert isinstance(hints, list)
    for credentials in (None, EVERYTHING):
        with contextlib.suppress(LeadwireError):
            adapter.verify(req, credentials=credentials, platform=PLATFORM)
    try:
        leads = adapter.parse(req)
    except LeadwireError:
        return
    for lead in leads:
        assert lead.source == adapter.source
        lead.model_dump_json()  # storable as JSON
        normalize(lead, default_region="US")


@pytest.mark.parametrize("source", sorted(ADAPTERS))
@FUZZ
@given(req=REQUESTS)
def test_only_leadwire_errors_escape(source, req):
    _exercise(ADAPTERS[source], req)


@FUZZ
@given(req=REQUESTS)
def test_direct_only_leadwire_errors_escape(req):
    try:
        leads = parse_direct(req)
    except LeadwireError:
        return
    for lead in leads:
        normalize(lead, default_region="US").model_dump_json()


# --- signatures round-trip and break on any change --------------------------------------------
def _flip(body: bytes, index: int, bit: int) -> bytes:
    i = index % len(body)
    return body[:i] + bytes([body[i] ^ (1 << bit)]) + body[i + 1 :]


@FUZZ
@given(body=st.binary(min_size=1, max_size=300), index=st.integers(0), bit=st.integers(0, 7))
def test_meta_signature_round_trip(body, index, bit):
    adapter = ADAPTERS["meta"]
    header = {"X-Hub-Signature-256": meta_sign("meta-secret", body)}
    good = InboundRequest(method="POST", url="https://x/", headers=header, body=body, now=NOW)
    adapter.verify(good, credentials=None, platform=PLATFORM)
    bad = InboundRequest(
        method="POST", url="https://x/", headers=header, body=_flip(body, index, bit), now=NOW
    )
    with pytest.raises(BadSignature):
        adapter.verify(bad, credentials=None, platform=PLATFORM)


@FUZZ
@given(
    body=st.text(min_size=1, max_size=200),
    query=st.text(alphabet="ab:/?@!$'()*,;%3AF2", max_size=20),
    skew=st.integers(-299, 299),
    index=st.integers(0),
    bit=st.integers(0, 7),
)
def test_hubspot_v3_round_trip(body, query, skew, index, bit):
    adapter = ADAPTERS["hubspot"]
    url = f"https://leadwire.example.com/v1/webhooks/hubspot?q={query}"
    timestamp = ms(NOW + timedelta(seconds=skew))
    headers = {
        "X-HubSpot-Signature-v3": hs_v3("hubspot-secret", "POST", url, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }
    raw = body.encode()
    good = InboundRequest(method="POST", url=url, headers=headers, body=raw, now=NOW)
    adapter.verify(good, credentials=None, platform=PLATFORM)
    bad = InboundRequest(
        method="POST", url=url, headers=headers, body=_flip(raw, index, bit), now=NOW
    )
    with pytest.raises(BadSignature):
        adapter.verify(bad, credentials=None, platform=PLATFORM)


@FUZZ
@given(
    body=st.text(max_size=200),
    msg_id=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
    skew=st.integers(-299, 299),
    index=st.integers(0),
    bit=st.integers(0, 7),
)
def test_standard_webhooks_round_trip(body, msg_id, skew, index, bit):
    adapter = ADAPTERS["zapier"]
    raw = body.encode()
    headers = std_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        raw,
        msg_id=msg_id,
        at=NOW + timedelta(seconds=skew),
    )
    good = InboundRequest(method="POST", url="https://x/", headers=headers, body=raw, now=NOW)
    adapter.verify(good, credentials=EVERYTHING, platform=PLATFORM)
    assume(raw)
    bad = InboundRequest(
        method="POST", url="https://x/", headers=headers, body=_flip(raw, index, bit), now=NOW
    )
    with pytest.raises(BadSignature):
        adapter.verify(bad, credentials=EVERYTHING, platform=PLATFORM)
