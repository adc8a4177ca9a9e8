"""Telephony's own errors (subclasses of the shared tree)."""

from __future__ import annotations

from leadwire.platform.errors import Forbidden


class BadTwilioSignature(Forbidden):
    """`X-Twilio-Signature` missing or wrong: 403, as CONTRACT.md §4 (Telephony) says."""

    code = "bad_signature"
