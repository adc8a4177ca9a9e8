import pytest

from leadwire.telephony.urls import (
    amd_callback_url,
    public_url,
    relay_ended_url,
    relay_url,
    status_callback_url,
    voice_url,
    websocket_url,
)


@pytest.mark.parametrize("base", ["https://leadwire.example", "https://leadwire.example/"])
def test_every_twilio_url_from_the_public_base(base: str) -> None:
    assert voice_url(base, "42") == "https://leadwire.example/v1/telephony/twilio/voice/42"
    assert status_callback_url(base) == "https://leadwire.example/v1/telephony/twilio/status"
    assert amd_callback_url(base) == "https://leadwire.example/v1/telephony/twilio/amd"
    assert relay_url(base, "42") == "wss://leadwire.example/v1/telephony/twilio/relay/42"
    assert (
        relay_ended_url(base, "42") == "https://leadwire.example/v1/telephony/twilio/relay-ended/42"
    )


def test_query_strings_are_kept_verbatim() -> None:
    assert public_url("https://a.example", "/p", "b=%2B1&a=2") == "https://a.example/p?b=%2B1&a=2"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://a.example", "wss://a.example/ws"),
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
        ("https://a.example/prefix/", "wss://a.example/prefix/ws"),
    ],
)
def test_websocket_scheme(base: str, expected: str) -> None:
    assert websocket_url(base, "/ws") == expected
