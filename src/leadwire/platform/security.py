"""Secrets and tokens: API key generation and hashing, constant-time comparison, encryption
of tenant secrets at rest with a key derived from LEADWIRE_SECRET_KEY."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

API_KEY_PREFIX = "lw_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 hex of a high-entropy token (API keys, admin tokens): no salt needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class SecretBox:
    """Encrypts a JSON document of secrets (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, data: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(data, separators=(",", ":")).encode())

    def open(self, token: bytes | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            value = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise ValueError("tenant secrets cannot be decrypted with LEADWIRE_SECRET_KEY") from exc
        if not isinstance(value, dict):
            raise ValueError("tenant secrets are not a JSON object")
        return value
