"""Shared secret checks: constant-time comparison, bearer secrets, Standard Webhooks.

Standard Webhooks (spec v1.0.0, integrations.md section 5.3) is implemented here rather than by
calling `standardwebhooks.Webhook.verify`, because that function reads the clock itself (no way to
pass `now`) and lets `ValueError`/`binascii.Error` escape on malformed headers. The algorithm is
the reference library's, byte for byte, and the tests check our verdicts against its signer:

* signed content: `{webhook-id}.{webhook-timestamp}.` followed by the raw body bytes;
* HMAC-SHA256, signature base64 (standard alphabet), header entries `v1,<base64>` separated by
  spaces (several during key rotation), any match accepts;
* key: the secret without its `whsec_` prefix, base64-decoded the way the library does it, so a
  sender using the library with the same secret string verifies here;
* timestamp: integer Unix seconds, accepted within 5 minutes either side of `now`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from leadwire.platform.errors import BadSignature

__all__ = [
    "STANDARD_WEBHOOKS_TOLERANCE_S",
    "attempts_authentication",
    "bearer_token",
    "equal",
    "has_standard_webhook_headers",
    "sign_standard_webhook",
    "standard_webhook_key",
    "verify_source_secret",
    "verify_standard_webhook",
]

STANDARD_WEBHOOKS_TOLERANCE_S = 300
_SECRET_PREFIX = "whsec_"  # noqa: S105 (the spec's prefix, not a secret)


def equal(left: str | bytes, right: str | bytes) -> bool:
    """Constant-time equality of two secrets (strings compared as UTF-8 bytes)."""
    a = left.encode() if isinstance(left, str) else left
    b = right.encode() if isinstance(right, str) else right
    return hmac.compare_digest(a, b)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The credentials of `Authorization: Bearer <token>` (scheme case-insensitive)."""
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def standard_webhook_key(secret: str) -> bytes | None:
    """The HMAC key for a Standard Webhooks secret, or None when it has none."""
    encoded = secret.removeprefix(_SECRET_PREFIX)
    try:
        # Same decoding as the reference library: extra padding tolerated, non-alphabet
        # characters discarded.
        key = base64.b64decode(encoded + "==")
    except (binascii.Error, ValueError):
        return None
    return key or None


def sign_standard_webhook(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, content, hashlib.sha256).digest()


def has_standard_webhook_headers(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in ("webhook-id", "webhook-timestamp", "webhook-signature"))


def verify_standard_webhook(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    now: datetime,
    tolerance_s: int = STANDARD_WEBHOOKS_TOLERANCE_S,
) -> None:
    """Raise `BadSignature` unless the Standard Webhooks headers sign `body` with `secret`."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise BadSignature("missing Standard Webhooks headers")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 15:
        raise BadSignature("malformed webhook-timestamp")
    sent_at = int(timestamp)
    if abs(now.timestamp() - sent_at) > tolerance_s:
        raise BadSignature("webhook-timestamp outside the tolerance window")
    key = standard_webhook_key(secret)
    if key is None:
        raise BadSignature("the source secret cannot sign Standard Webhooks")
    expected = sign_standard_webhook(key, msg_id, sent_at, body)
    for entry in signatures.split(" "):
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise BadSignature("no matching webhook-signature")


def verify_source_secret(
    headers: Mapping[str, str], body: bytes, *, secret: str, now: datetime
) -> None:
    """Zapier and server-side forms: `Authorization: Bearer <secret>` or a Standard Webhooks
    signature made with the same secret. Raise `BadSignature` unless one of them holds."""
    token = bearer_token(headers)
    signed = has_standard_webhook_headers(headers)
    if token is not None and equal(token, secret):
        return
    if signed:
        verify_standard_webhook(headers, body, secret=secret, now=now)
        return
    if token is not None:
        raise BadSignature("bearer secret does not match")
    raise BadSignature("missing bearer secret or Standard Webhooks signature")


def attempts_authentication(headers: Mapping[str, str]) -> bool:
    """Whether the request presents a bearer secret or Standard Webhooks headers."""
    return bearer_token(headers) is not None or has_standard_webhook_headers(headers)
