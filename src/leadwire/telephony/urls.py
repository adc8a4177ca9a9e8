"""Every URL Twilio is given, built in one place from `LEADWIRE_PUBLIC_URL`.

Signatures are validated against the same builders (`signatures.py`): a URL that differs by a
trailing slash or a host alias fails Twilio's signature, so nothing else may build these.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

VOICE_PATH = "/v1/telephony/twilio/voice/{call_id}"
STATUS_PATH = "/v1/telephony/twilio/status"
AMD_PATH = "/v1/telephony/twilio/amd"
RELAY_PATH = "/v1/telephony/twilio/relay/{call_id}"
# Not in CONTRACT.md yet: Twilio requests <Connect action> when the ConversationRelay session
# ends, and the TwiML answered there decides the rest of the call (transfer or hang up).
RELAY_ENDED_PATH = "/v1/telephony/twilio/relay-ended/{call_id}"


def public_url(public_base_url: str, path: str, query: str = "") -> str:
    """`public_base_url` (which may carry a path prefix) + `path` + the raw query string."""
    base = public_base_url.rstrip("/")
    return f"{base}{path}?{query}" if query else f"{base}{path}"


def websocket_url(public_base_url: str, path: str, query: str = "") -> str:
    """The same URL with its scheme turned to ``wss`` (https) or ``ws`` (http)."""
    parts = urlsplit(public_url(public_base_url, path, query))
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit(parts._replace(scheme=scheme))


def voice_url(public_base_url: str, call_id: str) -> str:
    return public_url(public_base_url, VOICE_PATH.format(call_id=call_id))


def status_callback_url(public_base_url: str) -> str:
    return public_url(public_base_url, STATUS_PATH)


def amd_callback_url(public_base_url: str) -> str:
    return public_url(public_base_url, AMD_PATH)


def relay_url(public_base_url: str, call_id: str) -> str:
    return websocket_url(public_base_url, RELAY_PATH.format(call_id=call_id))


def relay_ended_url(public_base_url: str, call_id: str) -> str:
    return public_url(public_base_url, RELAY_ENDED_PATH.format(call_id=call_id))
