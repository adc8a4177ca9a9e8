"""The lookup forms of the keys that route app-level webhooks to a tenant.

Stored in `tenant_source_keys` when settings change and computed again by the lead adapters
from each delivery; one definition serves both.
"""

from __future__ import annotations

import hashlib


def organization_key(organization_id: str) -> str:
    """A Salesforce org id's case-sensitive first 15 characters (an 18-character id is the 15
    plus a checksum of their case)."""
    return organization_id.strip()[:15]


def google_key_fingerprint(google_key: str) -> str:
    """The non-secret lookup form of a Google Ads `google_key` (SHA-256 hex of its bytes)."""
    return hashlib.sha256(google_key.encode()).hexdigest()
