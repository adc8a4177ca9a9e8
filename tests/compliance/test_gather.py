"""Turning stored facts into the gate's facts: consent and revocations, the tenant's day."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from leadwire.compliance.gather import consent_evidence, next_midnight
from tests.compliance.helpers import CONSENTED_AT, GOOD_TEXT

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
CONSENT = {"granted": True, "text": GOOD_TEXT, "timestamp": CONSENTED_AT.isoformat()}


@pytest.mark.parametrize(
    ("revoked_at", "expected"),
    [
        (None, None),
        (CONSENTED_AT - dt.timedelta(days=1), None),  # consent given again after it
        (CONSENTED_AT, CONSENTED_AT),
        (CONSENTED_AT + dt.timedelta(days=1), CONSENTED_AT + dt.timedelta(days=1)),
        # Recorded "later" than the instant decided for: in force all the same.
        (NOW + dt.timedelta(days=30), NOW),
    ],
)
def test_a_revocation_revokes_consent_given_before_it(
    revoked_at: dt.datetime | None, expected: dt.datetime | None
) -> None:
    evidence = consent_evidence(CONSENT, revoked_at=revoked_at, now=NOW)
    assert evidence is not None
    assert evidence.revoked_at == expected


def test_a_revocation_revokes_a_consent_without_a_date() -> None:
    undated = {"granted": True, "text": GOOD_TEXT}
    evidence = consent_evidence(undated, revoked_at=CONSENTED_AT, now=NOW)
    assert evidence is not None
    assert evidence.revoked_at == CONSENTED_AT


@pytest.mark.parametrize("payload", [None, "yes", ["granted"], 1])
def test_no_consent_object_is_no_consent(payload: Any) -> None:
    assert consent_evidence(payload, revoked_at=None, now=NOW) is None


def test_ad_platform_keys_are_read() -> None:
    evidence = consent_evidence(
        {"granted": "1", "disclaimer_text": "Call me, AI voice ok", "seller": "Acme HVAC"},
        revoked_at=None,
        now=NOW,
    )
    assert evidence is not None
    assert evidence.granted is True
    assert evidence.text == "Call me, AI voice ok"
    assert evidence.seller_names == ("Acme HVAC",)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        # 10:00 CDT -> Thursday 00:00 CDT
        (NOW, "America/Chicago", dt.datetime(2026, 6, 11, 5, 0, tzinfo=UTC)),
        # 23:59 in New York is still Wednesday there
        (
            dt.datetime(2026, 6, 11, 3, 59, tzinfo=UTC),
            "America/New_York",
            dt.datetime(2026, 6, 11, 4, 0, tzinfo=UTC),
        ),
        # the day clocks go forward: midnight is still EST
        (
            dt.datetime(2026, 3, 7, 17, 0, tzinfo=UTC),
            "America/New_York",
            dt.datetime(2026, 3, 8, 5, 0, tzinfo=UTC),
        ),
        # and the day after, EDT
        (
            dt.datetime(2026, 3, 8, 17, 0, tzinfo=UTC),
            "America/New_York",
            dt.datetime(2026, 3, 9, 4, 0, tzinfo=UTC),
        ),
    ],
)
def test_daily_counters_reset_at_the_tenants_midnight(
    now: dt.datetime, zone: str, expected: dt.datetime
) -> None:
    assert next_midnight(now, ZoneInfo(zone)) == expected
