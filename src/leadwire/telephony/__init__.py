"""telephony area."""
