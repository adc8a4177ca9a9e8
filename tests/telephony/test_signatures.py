import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.telephony.errors import BadTwilioSignature
from leadwire.telephony.signatures import (
    is_valid,
    sign,
    verify_form_request,
    verify_websocket_handshake,
)
from leadwire.telephony.urls import STATUS_PATH, public_url

TOKEN = "12345678901234567890123456789012"
BASE = "https://leadwire.example"
URL = f"{BASE}{STATUS_PATH}"
FORM = {
    "CallSid": "CA" + "a" * 32,
    "AccountSid": "AC" + "b" * 32,
    "CallStatus": "ringing",
    "SequenceNumber": "1",
    "To": "+15125550100",
}


def _reference_signature(token: str, url: str, params: dict[str, str]) -> str:
    """reference/integrations.md §6.3's own formula, written out independently."""
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _verify(signature: str | None, *, query: str = "", base: str = BASE) -> None:
    verify_form_request(
        auth_tokens=[TOKEN],
        public_base_url=base,
        path=STATUS_PATH,
        query=query,
        params=FORM,
        signature=signature,
    )


def test_the_signer_computes_what_twilio_computes() -> None:
    assert sign(auth_token=TOKEN, url=URL, params=FORM) == _reference_signature(TOKEN, URL, FORM)


def test_a_signed_request_validates() -> None:
    signature = sign(auth_token=TOKEN, url=URL, params=FORM)
    _verify(signature)


@pytest.mark.parametrize(
    ("url", "params", "token"),
    [
        (URL, {**FORM, "CallStatus": "completed"}, TOKEN),  # a changed parameter
        (URL, {**FORM, "Extra": ""}, TOKEN),  # an added parameter, even empty
        (URL, {k: v for k, v in FORM.items() if k != "To"}, TOKEN),  # a dropped one
        (URL + "/", FORM, TOKEN),  # a trailing slash
        (URL.replace("leadwire.example", "internal:8000"), FORM, TOKEN),  # the proxy's view
        (URL + "?x=1", FORM, TOKEN),  # a query string
        (URL, FORM, "0" * 32),  # another token
    ],
)
def test_anything_changed_is_rejected(url: str, params: dict[str, str], token: str) -> None:
    signature = sign(auth_token=TOKEN, url=URL, params=FORM)
    assert not is_valid(auth_tokens=[token], url=url, params=params, signature=signature)
    assert is_valid(auth_tokens=[TOKEN], url=URL, params=FORM, signature=signature)


@given(
    params=st.dictionaries(
        st.text(alphabet="ABCDEFGHabc", min_size=1, max_size=8), st.text(max_size=12), max_size=6
    ),
    changed=st.text(min_size=1, max_size=4),
)
def test_round_trip_and_tamper_for_any_form(params: dict[str, str], changed: str) -> None:
    signature = sign(auth_token=TOKEN, url=URL, params=params)
    assert is_valid(auth_tokens=[TOKEN], url=URL, params=params, signature=signature)
    tampered = {**params, "Tampered": changed}
    assert not is_valid(auth_tokens=[TOKEN], url=URL, params=tampered, signature=signature)


def test_repeated_keys_are_signed_whole() -> None:
    pairs = [("StatusCallbackEvent", "initiated"), ("StatusCallbackEvent", "completed")]
    signature = sign(auth_token=TOKEN, url=URL, params=pairs)
    assert is_valid(auth_tokens=[TOKEN], url=URL, params=pairs, signature=signature)
    one = [("StatusCallbackEvent", "initiated")]
    assert not is_valid(auth_tokens=[TOKEN], url=URL, params=one, signature=signature)


def test_the_query_string_is_part_of_the_signed_url() -> None:
    signature = sign(auth_token=TOKEN, url=f"{URL}?attempt=42", params=FORM)
    _verify(signature, query="attempt=42")
    with pytest.raises(BadTwilioSignature):
        _verify(signature, query="attempt=43")


def test_the_public_base_may_carry_a_prefix_and_a_trailing_slash() -> None:
    base = "https://edge.example/leadwire/"
    signature = sign(
        auth_token=TOKEN, url="https://edge.example/leadwire" + STATUS_PATH, params=FORM
    )
    assert public_url(base, STATUS_PATH) == "https://edge.example/leadwire" + STATUS_PATH
    _verify(signature, base=base)


def test_twilio_signing_with_an_explicit_port_is_accepted() -> None:
    signature = sign(
        auth_token=TOKEN, url="https://leadwire.example:443" + STATUS_PATH, params=FORM
    )
    assert is_valid(auth_tokens=[TOKEN], url=URL, params=FORM, signature=signature)


def test_old_and_new_tokens_around_a_rotation() -> None:
    new = "n" * 32
    signature = sign(auth_token=TOKEN, url=URL, params=FORM)
    assert is_valid(auth_tokens=[new, TOKEN], url=URL, params=FORM, signature=signature)
    assert not is_valid(auth_tokens=[new], url=URL, params=FORM, signature=signature)
    assert not is_valid(auth_tokens=["", new], url=URL, params=FORM, signature=signature)


@pytest.mark.parametrize("signature", [None, ""])
def test_a_missing_signature_is_refused(signature: str | None) -> None:
    with pytest.raises(BadTwilioSignature) as caught:
        _verify(signature)
    assert caught.value.status_code == 403
    assert caught.value.code == "bad_signature"


RELAY = "/v1/telephony/twilio/relay/42"


@pytest.mark.parametrize(
    "signed_url", [f"wss://leadwire.example{RELAY}", f"https://leadwire.example{RELAY}"]
)
def test_the_websocket_handshake_accepts_both_url_forms(signed_url: str) -> None:
    signature = sign(auth_token=TOKEN, url=signed_url)
    verify_websocket_handshake(
        auth_tokens=[TOKEN], public_base_url=BASE, path=RELAY, query="", signature=signature
    )


def test_the_websocket_handshake_rejects_another_call_or_token() -> None:
    signature = sign(auth_token=TOKEN, url=f"wss://leadwire.example{RELAY}")
    for path, token in ((RELAY.replace("42", "43"), TOKEN), (RELAY, "0" * 32)):
        with pytest.raises(BadTwilioSignature):
            verify_websocket_handshake(
                auth_tokens=[token], public_base_url=BASE, path=path, query="", signature=signature
            )


def test_a_local_http_base_turns_into_ws() -> None:
    signature = sign(auth_token=TOKEN, url=f"ws://127.0.0.1:8000{RELAY}")
    verify_websocket_handshake(
        auth_tokens=[TOKEN],
        public_base_url="http://127.0.0.1:8000",
        path=RELAY,
        query="",
        signature=signature,
    )
