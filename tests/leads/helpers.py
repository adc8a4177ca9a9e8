"""Builders shared by the leads tests: requests as providers send them, and the providers'
signing algorithms written independently of the production code (from integrations.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from leadwire.leads.adapters.base import InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials

NOW = datetime(2026, 11, 21, 15, 30, 0, tzinfo=UTC)
NO_PLATFORM = PlatformSecrets()


def request(
    body: bytes | str,
    *,
    headers: Mapping[str, str] | None = None,
    url: str = "https://leadwire.example.com/v1/webhooks/test",
    method: str = "POST",
    content_type: str | None = "application/json",
    client_ip: str | None = "203.0.113.7",
    now: datetime = NOW,
) -> InboundRequest:
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers.setdefault("Content-Type", content_type)
    return InboundRequest(
        method=method,
        url=url,
        headers=all_headers,
        body=body.encode() if isinstance(body, str) else body,
        now=now,
        client_ip=client_ip,
    )


def creds(**settings: object) -> SourceCredentials:
    return SourceCredentials.model_validate(settings)


def flip_one_byte(body: bytes, *, at: int | None = None) -> bytes:
    """The same body with one byte changed (a digit or letter, so it stays parseable)."""
    index = len(body) // 2 if at is None else at
    for offset in range(len(body)):
        i = (index + offset) % len(body)
        char = chr(body[i])
        if char.isdigit():
            return body[:i] + (b"7" if char != "7" else b"8") + body[i + 1 :]
        if char.isalpha():
            return body[:i] + (b"x" if char != "x" else b"y") + body[i + 1 :]
    raise AssertionError("no byte to flip")


# --- Meta (integrations.md 1.3) ----------------------------------------------------------------
def meta_sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


# --- HubSpot (integrations.md 2.1) -------------------------------------------------------------
_HS_V3_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def hs_v3_uri(uri: str) -> str:
    for enc, dec in _HS_V3_DECODE.items():
        uri = uri.replace(enc, dec).replace(enc.lower(), dec)
    return uri


def hs_v1(secret: str, body: str) -> str:
    return hashlib.sha256((secret + body).encode()).hexdigest()


def hs_v2(secret: str, method: str, uri: str, body: str) -> str:
    return hashlib.sha256((secret + method + uri + body).encode()).hexdigest()


def hs_v3(secret: str, method: str, uri: str, body: str, timestamp_ms: str) -> str:
    msg = (method + hs_v3_uri(uri) + body + timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))
