"""Shared builders for the compliance tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from leadwire.compliance.consent import ConsentEvidence
from leadwire.compliance.facts import Budget, GateFacts, TenantPolicy
from leadwire.compliance.holiday_calendar import HolidayCalendar, HolidayRule
from leadwire.compliance.locate import PhoneFacts, phone_facts
from leadwire.compliance.state_rules import (
    Clock,
    HolidayPolicy,
    RecordedMessageRule,
    RuleBook,
    StateRule,
    Verification,
    Window,
)

UTC = dt.UTC
GOOD_TEXT = (
    "By clicking Submit, I agree that Acme HVAC LLC may call me at the number above about my "
    "request, including calls made with an artificial or prerecorded voice or an AI voice. "
    "Consent is not a condition of purchase."
)
CONSENTED_AT = dt.datetime(2025, 12, 1, 12, 0, tzinfo=UTC)
# Wednesday 10 June 2026, 10:00 in Austin (CDT): every default window is open.
WEDNESDAY_10AM_AUSTIN = dt.datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> dt.datetime:
    """An aware local time in `zone`, e.g. local("America/Chicago", 2026, 6, 10, 9, 0)."""
    return dt.datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def good_consent(**overrides: object) -> ConsentEvidence:
    fields: dict[str, object] = {
        "granted": True,
        "text": GOOD_TEXT,
        "timestamp": CONSENTED_AT,
    }
    fields.update(overrides)
    return ConsentEvidence(**fields)  # type: ignore[arg-type]


def make_facts(
    *,
    phone: str | PhoneFacts = "+15125550100",
    now: dt.datetime = WEDNESDAY_10AM_AUSTIN,
    tenant: TenantPolicy | None = None,
    budget: Budget | None = None,
    **overrides: object,
) -> GateFacts:
    """Facts that answer `call` at WEDNESDAY_10AM_AUSTIN unless overridden."""
    fields: dict[str, object] = {
        "phone": phone_facts(phone) if isinstance(phone, str) else phone,
        "tenant": tenant or TenantPolicy(business_name="Acme HVAC"),
        "budget": budget or Budget(resets_at=now + dt.timedelta(hours=10)),
        "consent": good_consent(),
    }
    fields.update(overrides)
    return GateFacts(**fields)  # type: ignore[arg-type]


def rule(
    state: str,
    weekday: str = "08:00-21:00",
    saturday: str | None = None,
    sunday: str | None = None,
    *,
    effective_from: dt.date = dt.date(1992, 12, 20),
    holidays: HolidayPolicy = HolidayPolicy.NONE,
    cap: int | None = None,
    clock: Clock = Clock.LOCAL,
    recorded: RecordedMessageRule = RecordedMessageRule.OK,
) -> StateRule:
    return StateRule(
        state=state,
        effective_from=effective_from,
        weekday=Window.parse(weekday),
        saturday=Window.parse(saturday if saturday is not None else weekday),
        sunday=Window.parse(sunday if sunday is not None else weekday),
        holidays=holidays,
        cap_24h=cap,
        state_dnc=False,
        clock=clock,
        recorded_message=recorded,
        verification=Verification.PRIMARY,
        note="test",
    )


def book(*rules: StateRule, holidays: Iterable[HolidayRule] = ()) -> RuleBook:
    """A rule book with a federal 08:00-21:00 row unless one is given."""
    rows = list(rules)
    if not any(row.state == "DEFAULT" for row in rows):
        rows.append(rule("DEFAULT"))
    return RuleBook(rows, HolidayCalendar(holidays))
