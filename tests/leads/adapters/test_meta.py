import json

import pytest
from pydantic import SecretStr

from leadwire.leads.adapters.credentials import PlatformSecrets
from leadwire.leads.adapters.meta import ADAPTER, meta_handshake
from leadwire.platform.errors import (
    BadRequest,
    BadSignature,
    Forbidden,
    InvalidPayload,
    UnsupportedMediaType,
)
from tests.leads.helpers import NO_PLATFORM, creds, flip_one_byte, meta_sign, request

APP_SECRET = "meta-app-secret-0123456789abcdef"
PLATFORM = PlatformSecrets(meta_app_secret=SecretStr(APP_SECRET))

# Meta's sample (integrations.md 1.4), ids as strings.
SAMPLE = {
    "object": "page",
    "entry": [
        {
            "id": "153125381133",
            "time": 1438292065,
            "changes": [
                {
                    "field": "leadgen",
                    "value": {
                        "leadgen_id": "123123123123",
                        "page_id": "123123123",
                        "form_id": "12312312312",
                        "adgroup_id": "12312312312",
                        "ad_id": "12312312312",
                        "created_time": 1440120384,
                    },
                }
            ],
        }
    ],
}
SAMPLE_BYTES = json.dumps(SAMPLE).encode()


def signed(body: bytes, secret: str = APP_SECRET):
    return request(body, headers={"X-Hub-Signature-256": meta_sign(secret, body)})


# --- handshake ---------------------------------------------------------------------------------
def test_handshake_echoes_the_challenge():
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "tok"}
    assert meta_handshake(params, "tok") == "1158201444"


@pytest.mark.parametrize(
    ("params", "token"),
    [
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"}, "tok"),
        ({"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": "tok"}, "tok"),
        ({"hub.challenge": "1", "hub.verify_token": "tok"}, "tok"),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, "tok"),
        ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "tok"}, None),
        ({"hub.mode": "subscribe", "hub.verify_token": "tok"}, "tok"),
        (
            {"hub.mode": "subscribe", "hub.challenge": "<b>x</b> y", "hub.verify_token": "tok"},
            "tok",
        ),
        # PHP-style mangled names are not Meta's names.
        ({"hub_mode": "subscribe", "hub_challenge": "1", "hub_verify_token": "tok"}, "tok"),
    ],
)
def test_handshake_refuses(params, token):
    with pytest.raises(Forbidden):
        meta_handshake(params, token)


# --- verify ------------------------------------------------------------------------------------
def test_verify_accepts_the_platform_app_signature():
    ADAPTER.verify(signed(SAMPLE_BYTES), credentials=None, platform=PLATFORM)


def test_verify_prefers_the_tenant_app_secret():
    tenant = creds(app_secret="tenant-own-secret")
    ADAPTER.verify(signed(SAMPLE_BYTES, "tenant-own-secret"), credentials=tenant, platform=PLATFORM)
    with pytest.raises(BadSignature):
        ADAPTER.verify(signed(SAMPLE_BYTES), credentials=tenant, platform=PLATFORM)


def test_one_changed_byte_fails():
    tampered = flip_one_byte(SAMPLE_BYTES)
    req = request(tampered, headers={"X-Hub-Signature-256": meta_sign(APP_SECRET, SAMPLE_BYTES)})
    with pytest.raises(BadSignature):
        ADAPTER.verify(req, credentials=None, platform=PLATFORM)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "deadbeef"},
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature": "sha1=" + "0" * 40},
    ],
)
def test_missing_or_malformed_signature_fails(headers):
    with pytest.raises(BadSignature):
        ADAPTER.verify(request(SAMPLE_BYTES, headers=headers), credentials=None, platform=PLATFORM)


def test_no_configured_secret_fails():
    with pytest.raises(BadSignature):
        ADAPTER.verify(signed(SAMPLE_BYTES), credentials=None, platform=NO_PLATFORM)


def test_signature_is_over_the_raw_bytes_not_reserialized_json():
    # Meta escapes non-ASCII as lowercase \u sequences; re-serializing would change the bytes.
    body = (
        b'{"object":"page","entry":[{"id":"1","changes":[{"field":"leadgen",'
        b'"value":{"leadgen_id":"9","page_id":"1","note":"\\u00e4\\u00f6\\u00e5"}}]}]}'
    )
    ADAPTER.verify(signed(body), credentials=None, platform=PLATFORM)
    reserialized = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert reserialized != body
    req = request(reserialized, headers={"X-Hub-Signature-256": meta_sign(APP_SECRET, body)})
    with pytest.raises(BadSignature):
        ADAPTER.verify(req, credentials=None, platform=PLATFORM)


def test_tenant_endpoint_refuses_pages_the_tenant_does_not_own():
    tenant = creds(page_ids=["999"])
    with pytest.raises(BadSignature):
        ADAPTER.verify(signed(SAMPLE_BYTES), credentials=tenant, platform=PLATFORM)
    ADAPTER.verify(signed(SAMPLE_BYTES), credentials=creds(page_ids=[123123123]), platform=PLATFORM)


# --- parse -------------------------------------------------------------------------------------
def test_parse_meta_sample():
    (lead,) = ADAPTER.parse(signed(SAMPLE_BYTES))
    assert lead.source == "meta"
    assert lead.natural_key == "meta:123123123123"
    assert lead.external_id == "123123123123"
    assert lead.needs_fetch is True
    assert lead.fetch_ref == {
        "leadgen_id": "123123123123",
        "page_id": "123123123",
        "form_id": "12312312312",
    }
    assert lead.tenant_hint == "123123123"
    assert lead.phone is None
    assert lead.raw["value"]["ad_id"] == "12312312312"


def test_numeric_ids_stay_exact_strings():
    big = 2**53 + 1  # a float would round it
    body = (
        '{"object":"page","entry":[{"id":153125381133,"time":1,"changes":[{"field":"leadgen",'
        f'"value":{{"leadgen_id":{big},"page_id":123123123,"form_id":12312312312}}}}]}}]}}'
    ).encode()
    (lead,) = ADAPTER.parse(request(body))
    assert lead.external_id == str(big) == "9007199254740993"
    assert lead.fetch_ref["page_id"] == "123123123"


def test_batches_across_pages_and_changes():
    payload = {
        "object": "page",
        "entry": [
            {
                "id": "111",
                "time": 1,
                "changes": [
                    {"field": "leadgen", "value": {"leadgen_id": "1", "page_id": "111"}},
                    {"field": "feed", "value": {"item": "status"}},
                    {"field": "leadgen", "value": {"leadgen_id": "2"}},  # page from entry.id
                ],
            },
            {"id": "222", "time": 1, "changes": [{"field": "leadgen", "value": {"leadgen_id": 3}}]},
        ],
    }
    req = signed(json.dumps(payload).encode())
    leads = ADAPTER.parse(req)
    assert [(lead.external_id, lead.tenant_hint) for lead in leads] == [
        ("1", "111"),
        ("2", "111"),
        ("3", "222"),
    ]
    assert ADAPTER.tenant_hints(req) == ["111", "222"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"object": "page"}, "entry"),
        ({"entry": {}}, "entry"),
        ({"entry": [1]}, "entry[0]"),
        ({"entry": [{"id": "1", "changes": {}}]}, "entry[0].changes"),
        ({"entry": [{"id": "1", "changes": [{"field": "leadgen"}]}]}, "entry[0].changes[0].value"),
        (
            {"entry": [{"id": "1", "changes": [{"field": "leadgen", "value": {"page_id": "1"}}]}]},
            "entry[0].changes[0].value.leadgen_id",
        ),
        (
            {
                "entry": [
                    {"id": "1", "changes": [{"field": "leadgen", "value": {"leadgen_id": 1.5}}]}
                ]
            },
            "entry[0].changes[0].value.leadgen_id",
        ),
        (
            {
                "entry": [
                    {"id": "1", "changes": [{"field": "leadgen", "value": {"leadgen_id": "../me"}}]}
                ]
            },
            "entry[0].changes[0].value.leadgen_id",
        ),
        ([1, 2], None),
    ],
)
def test_wrong_shapes_are_422_naming_the_field(payload, field):
    with pytest.raises(InvalidPayload) as caught:
        ADAPTER.parse(request(json.dumps(payload)))
    assert caught.value.status_code == 422
    if field is not None:
        assert caught.value.field == field


def test_unparseable_body_is_400_and_wrong_type_415():
    with pytest.raises(BadRequest):
        ADAPTER.parse(request(b"{not json"))
    with pytest.raises(BadRequest):
        ADAPTER.parse(request(b'{"entry": NaN}'))
    with pytest.raises(UnsupportedMediaType):
        ADAPTER.parse(request(SAMPLE_BYTES, content_type="text/plain"))


def test_hints_of_junk_are_empty():
    assert ADAPTER.tenant_hints(request(b"\xff\xfe")) == []
    assert ADAPTER.tenant_hints(request(b'{"entry": [{"changes": [{"field": "leadgen"}]}]}')) == []
