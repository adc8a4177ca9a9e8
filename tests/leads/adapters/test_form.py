import json
from urllib.parse import urlencode

import pytest

from leadwire.leads.adapters.form import ADAPTER, HONEYPOT_FIELD, HoneypotFilled, normalize_origin
from leadwire.platform.errors import BadRequest, BadSignature
from tests.leads.adapters.stdwebhooks import std_headers
from tests.leads.helpers import NO_PLATFORM, NOW, creds, flip_one_byte, request

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PUBLIC = creds(secret=SECRET, public=True, allowed_origins=["https://example.com/"])
PRIVATE = creds(secret=SECRET)
FORM = "application/x-www-form-urlencoded"
FIELDS = {
    "full_name": "Sarah Johnson",
    "tel": "(512) 867-5309",
    "email": "sarah@example.com",
    "zipcode": "78701",
    "message": "AC is leaking",
    HONEYPOT_FIELD: "",
    "g-recaptcha-response": "03AGdBq2...",
}
BODY = urlencode(FIELDS)
BROWSER = {
    "Origin": "https://example.com",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "Referer": "https://example.com/quote?utm=1",
}


def browser_post(body=BODY, headers=BROWSER, content_type=FORM):
    return request(body, headers=headers, content_type=content_type)


def verify(req, tenant=PUBLIC):
    ADAPTER.verify(req, credentials=tenant, platform=NO_PLATFORM)


# --- public forms ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "origin", ["https://example.com", "https://EXAMPLE.com", "https://example.com:443"]
)
def test_public_post_from_an_allowed_origin(origin):
    verify(browser_post(headers={**BROWSER, "Origin": origin}))


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "null",
        "https://evil.example",
        "http://example.com",
        "https://example.com:8443",
        "https://example.com.evil.example",
        "example.com",
    ],
)
def test_public_post_from_elsewhere_fails(origin):
    headers = {k: v for k, v in BROWSER.items() if k != "Origin"}
    if origin is not None:
        headers["Origin"] = origin
    with pytest.raises(BadSignature):
        verify(browser_post(headers=headers))


@pytest.mark.parametrize("value", ["http://spam.example", " x ", ["", "filled"]])
def test_filled_honeypot_fails(value):
    fields = {**FIELDS, HONEYPOT_FIELD: value}
    body = urlencode(fields, doseq=True)
    with pytest.raises(HoneypotFilled) as caught:
        verify(browser_post(body))
    assert caught.value.status_code == 401
    assert isinstance(caught.value, BadSignature)


def test_honeypot_in_json_posts():
    body = json.dumps({"phone": "1", HONEYPOT_FIELD: "bot"})
    with pytest.raises(HoneypotFilled):
        verify(browser_post(body, content_type="application/json"))
    verify(browser_post(json.dumps({"phone": "1"}), content_type="application/json"))


def test_unsigned_post_to_a_private_form_fails():
    with pytest.raises(BadSignature):
        verify(browser_post(), PRIVATE)


def test_a_failed_signature_attempt_is_not_rescued_by_public():
    headers = {**BROWSER, "Authorization": "Bearer wrong"}
    with pytest.raises(BadSignature):
        verify(browser_post(headers=headers))
    signed = std_headers(SECRET, BODY.encode())
    tampered = flip_one_byte(BODY.encode())
    with pytest.raises(BadSignature):
        verify(browser_post(tampered, headers={**BROWSER, **signed}))


def test_unreadable_public_body_is_a_400_not_a_401():
    with pytest.raises(BadRequest):
        verify(browser_post(b"\xff\xfe\xfa"))


# --- server-side forms -------------------------------------------------------------------------
def test_server_side_bearer_and_standard_webhooks():
    verify(request(BODY, content_type=FORM, headers={"Authorization": f"Bearer {SECRET}"}), PRIVATE)
    verify(request(BODY, content_type=FORM, headers=std_headers(SECRET, BODY.encode())), PRIVATE)
    stale = std_headers(SECRET, BODY.encode(), at=NOW.replace(year=2025))
    with pytest.raises(BadSignature):
        verify(request(BODY, content_type=FORM, headers=stale), PRIVATE)


def test_unconfigured_form_fails():
    with pytest.raises(BadSignature):
        verify(browser_post(), None)


# --- parse -------------------------------------------------------------------------------------
def test_parse_drops_honeypot_and_captcha_and_maps_names():
    (lead,) = ADAPTER.parse(browser_post())
    assert lead.source == "form"
    assert (lead.name, lead.phone, lead.postal_code) == (
        "Sarah Johnson",
        "(512) 867-5309",
        "78701",
    )
    assert lead.message == "AC is leaking"
    assert lead.custom_fields == {}
    assert HONEYPOT_FIELD not in lead.raw
    assert "g-recaptcha-response" not in lead.raw
    assert lead.consent is None


def test_consent_checkbox_is_completed_from_the_request():
    body = urlencode({**FIELDS, "consent": "on", "consent_text": "I agree to AI calls"})
    (lead,) = ADAPTER.parse(browser_post(body))
    consent = lead.consent
    assert consent is not None
    assert consent.granted is True
    assert consent.text == "I agree to AI calls"
    assert consent.ip == "203.0.113.7"
    assert consent.user_agent == BROWSER["User-Agent"]
    assert consent.page_url == BROWSER["Referer"]
    assert consent.timestamp == NOW


def test_multipart_form():
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts = [
        ("name", "Ada Lovelace"),
        ("phone", "+15125550100"),
        ("services", "heating"),
        ("services", "cooling"),
        ("_hp", ""),
    ]
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in parts
    ]
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n\x89PNG\r\n"
    )
    body = ("".join(chunks) + f"--{boundary}--\r\n").encode()
    req = browser_post(body, content_type=f"multipart/form-data; boundary={boundary}")
    verify(req)
    (lead,) = ADAPTER.parse(req)
    assert (lead.name, lead.phone) == ("Ada Lovelace", "+15125550100")
    assert lead.service == "heating"
    assert lead.custom_fields == {}
    assert lead.raw["services"] == ["heating", "cooling"]
    assert "photo" not in lead.raw


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=nothere"]
)
def test_broken_multipart_is_400(content_type):
    with pytest.raises(BadRequest):
        ADAPTER.parse(request(b"garbage", content_type=content_type))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Example.com/", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("https://example.com:8443/x", "https://example.com:8443"),
        ("ftp://example.com", None),
        ("null", None),
        ("https://example.com:99999", None),
        ("", None),
    ],
)
def test_normalize_origin(value, expected):
    assert normalize_origin(value) == expected
