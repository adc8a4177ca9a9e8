"""The shipped state table and holiday calendar, checked against reference sections 4.2 and 7."""

from __future__ import annotations

import datetime as dt

import holidays as holidays_lib
import pytest

from leadwire.compliance.holiday_calendar import (
    FixedDate,
    NthWeekday,
    OneOff,
    load_holiday_rules,
    parse_date_rule,
)
from leadwire.compliance.state_rules import (
    FEDERAL,
    Clock,
    DayKind,
    HolidayPolicy,
    RecordedMessageRule,
    Window,
    default_rule_book,
    parse_clock,
)
from tests.compliance.helpers import book, rule

BOOK = default_rule_book()
TODAY = dt.date(2026, 6, 10)

# Section 7 transcribed independently of the CSV: state, Mon-Fri, Sat, Sun, hol, cap, dnc.
SECTION_7 = [
    ("DEFAULT", "08:00-21:00", "08:00-21:00", "08:00-21:00", "0", None, False),
    ("AL", "08:00-20:00", "08:00-20:00", None, "1", None, False),
    ("CA", "09:00-21:00", "09:00-21:00", "09:00-21:00", "0", None, False),
    ("CT", "09:00-20:00", "09:00-20:00", "09:00-20:00", "0", None, False),
    ("FL", "08:00-20:00", "08:00-20:00", "08:00-20:00", "0", 3, True),
    ("GA", "08:00-21:00", "08:00-21:00", "08:00-21:00", "0", None, False),
    ("IL", "09:00-21:00", "09:00-21:00", "09:00-21:00", "0", None, False),
    ("IN", "09:00-20:00", "09:00-20:00", "09:00-20:00", "0", None, True),
    ("KY", "10:00-21:00", "10:00-21:00", "10:00-21:00", "0", None, False),
    ("LA", "08:00-20:00", "08:00-20:00", None, "1", None, True),
    ("ME", "09:00-17:00", "09:00-17:00", "09:00-17:00", "0", None, False),
    ("MD", "08:00-20:00", "08:00-20:00", "08:00-20:00", "0", 3, False),
    ("MA", "08:00-20:00", "08:00-20:00", "08:00-20:00", "0", None, True),
    ("MI", "09:00-21:00", "09:00-21:00", "09:00-21:00", "0", None, False),
    ("MN", "09:00-21:00", "09:00-21:00", "09:00-21:00", "0", None, False),
    ("MS", "08:00-20:00", "08:00-20:00", None, "1", None, True),
    ("NE", "08:00-21:00", "08:00-21:00", "13:00-21:00", "sun", None, False),
    ("NV", "09:00-20:00", "09:00-20:00", "09:00-20:00", "0", None, False),
    ("NM", "09:00-21:00", "09:00-21:00", "09:00-21:00", "0", None, False),
    ("OK", "08:00-20:00", "08:00-20:00", "08:00-20:00", "0", 3, True),
    ("PA", "08:00-21:00", "08:00-21:00", "13:30-21:00", "1", None, True),
    ("RI", "09:00-18:00", "10:00-17:00", None, "1", None, False),
    ("SD", "08:00-21:00", "08:00-21:00", None, "0", None, False),
    ("TN", "08:00-21:00", "08:00-21:00", "08:00-21:00", "0", None, True),
    ("TX", "09:00-21:00", "09:00-21:00", "12:00-21:00", "0", None, True),
    ("UT", "08:00-21:00", "08:00-21:00", None, "1", None, False),
    ("WA", "08:00-20:00", "08:00-20:00", "08:00-20:00", "0", None, False),
    ("WY", "08:00-20:00", "08:00-20:00", "08:00-20:00", "0", None, True),
    ("CO", "08:00-21:00", "08:00-21:00", "08:00-21:00", "0", None, True),
    ("MO", "08:00-21:00", "08:00-21:00", "08:00-21:00", "0", None, True),
]


@pytest.mark.parametrize(("state", "mon_fri", "sat", "sun", "hol", "cap", "dnc"), SECTION_7)
def test_rows_in_force_today_match_section_7(
    state: str, mon_fri: str, sat: str, sun: str | None, hol: str, cap: int | None, dnc: bool
) -> None:
    row = BOOK.federal(TODAY) if state == FEDERAL else BOOK.rule(state, TODAY)
    assert row is not None
    assert str(row.weekday) == mon_fri
    assert str(row.saturday) == sat
    assert (str(row.sunday) if row.sunday else None) == sun
    assert row.holidays is HolidayPolicy(hol)
    assert row.cap_24h == cap
    assert row.state_dnc is dnc


def test_every_section_7_state_has_a_row_and_nothing_else_does() -> None:
    assert {state for state, *_ in SECTION_7} - {FEDERAL} == BOOK.states


def test_special_rows() -> None:
    ms = BOOK.rule("MS", TODAY)
    assert ms is not None
    assert ms.clock is Clock.LOCAL_AND_STANDARD
    recorded = {
        state: row.recorded_message
        for state in BOOK.states
        if (row := BOOK.rule(state, TODAY)) and row.recorded_message is not RecordedMessageRule.OK
    }
    assert recorded == {
        "MA": RecordedMessageRule.BAN,
        "MI": RecordedMessageRule.BAN,
        "CA": RecordedMessageRule.NEEDS_CONSENT,
        "NM": RecordedMessageRule.NEEDS_EBR,
        "MS": RecordedMessageRule.NEEDS_EBR,
        "NV": RecordedMessageRule.NEEDS_EBR_NO_RECALL,
    }


def test_rows_are_versioned_by_effective_date() -> None:
    before = BOOK.rule("CT", dt.date(2023, 9, 30))
    after = BOOK.rule("CT", dt.date(2023, 10, 1))
    assert before is not None
    assert str(before.weekday) == "09:00-21:00"
    assert after is not None
    assert str(after.weekday) == "09:00-20:00"
    # A state whose first row starts later has only the federal rule before that date.
    assert BOOK.rule("FL", dt.date(2021, 6, 30)) is None
    assert BOOK.rule("FL", dt.date(2021, 7, 1)) is not None


def test_unlisted_state_and_unknown_state_have_no_own_rule() -> None:
    assert BOOK.rule("NY", TODAY) is None
    assert BOOK.rule(None, TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("08:00-21:00", Window(480, 1260)), ("00:00-24:00", Window(0, 1440)), ("-", None)],
)
def test_window_parse(text: str, expected: Window | None) -> None:
    assert Window.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["8-21", "21:00-08:00", "08:00-08:00", "25:00-26:00", "08:60-09:00"]
)
def test_window_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad"):
        Window.parse(text)


def test_parse_clock_accepts_end_of_day() -> None:
    assert parse_clock("24:00") == 1440
    with pytest.raises(ValueError, match="HH:MM"):
        parse_clock("24:01")


def test_book_requires_a_federal_row() -> None:
    from leadwire.compliance.errors import ComplianceDataError
    from leadwire.compliance.holiday_calendar import HolidayCalendar
    from leadwire.compliance.state_rules import RuleBook

    with pytest.raises(ComplianceDataError):
        RuleBook([rule("TX")], HolidayCalendar([]))


# --- holidays (section 4.2) -----------------------------------------------------------------

CHRISTMAS_STATES = {"AL", "LA", "MS", "PA", "RI", "UT", "NE"}


@pytest.mark.parametrize(
    ("state", "day", "is_holiday"),
    [
        # New Year's Day: AL, LA, MS, RI, UT (PA as a conservative assumption)
        *[(st, dt.date(2026, 1, 1), True) for st in ("AL", "LA", "MS", "RI", "UT", "PA")],
        ("TX", dt.date(2026, 1, 1), False),
        # MLK Day 2026 = third Monday of January = Jan 19
        *[(st, dt.date(2026, 1, 19), True) for st in ("AL", "LA", "MS", "RI", "UT")],
        ("PA", dt.date(2026, 1, 19), False),
        ("AL", dt.date(2026, 1, 12), False),
        # Louisiana's own days
        ("LA", dt.date(2026, 1, 8), True),
        ("LA", dt.date(2027, 1, 19), True),  # Robert E. Lee Day (MLK 2027 is Jan 18)
        ("LA", dt.date(2027, 1, 18), True),
        ("AL", dt.date(2027, 1, 19), False),
        ("LA", dt.date(2026, 12, 26), True),
        ("AL", dt.date(2026, 1, 8), False),
        # Christmas
        *[(st, dt.date(2026, 12, 25), True) for st in sorted(CHRISTMAS_STATES)],
        ("CA", dt.date(2026, 12, 25), False),
        # Observed dates: Christmas 2027 is a Saturday -> AL also Friday 24th; LA/MS not.
        ("AL", dt.date(2027, 12, 24), True),
        ("AL", dt.date(2027, 12, 25), True),
        ("MS", dt.date(2027, 12, 24), False),
        ("LA", dt.date(2027, 12, 24), False),
        # New Year's Day 2028 is a Saturday -> AL observes Friday 31 Dec 2027.
        ("AL", dt.date(2027, 12, 31), True),
        ("MS", dt.date(2027, 12, 31), False),
        # Christmas 2022 was a Sunday -> AL and MS also Monday 26th.
        ("AL", dt.date(2022, 12, 26), True),
        ("MS", dt.date(2022, 12, 26), True),
        ("RI", dt.date(2022, 12, 26), False),
        # New Year's Day 2023 was a Sunday -> MS observes Monday Jan 2.
        ("MS", dt.date(2023, 1, 2), True),
        # PA's holiday ban started 2019-12-03.
        ("PA", dt.date(2018, 12, 25), False),
        ("PA", dt.date(2019, 12, 25), True),
    ],
)
def test_state_holidays(state: str, day: dt.date, is_holiday: bool) -> None:
    assert bool(BOOK.calendar.holidays_on(state, day)) is is_holiday


def test_nebraska_uses_the_federal_list_and_matches_the_holidays_library() -> None:
    ours = set()
    for year in range(2024, 2031):
        ours |= set(BOOK.calendar.dates("NE", year))
    federal = {
        day
        for day in holidays_lib.US(years=range(2024, 2031), observed=True)
        if 2024 <= day.year <= 2030
    }
    assert ours == federal


def test_mlk_rule_matches_the_holidays_library() -> None:
    for year in range(2000, 2040):
        mlk = [
            day
            for day, name in holidays_lib.US(years=year).items()
            if name.startswith("Martin Luther King")
        ]
        assert BOOK.calendar.dates("UT", year).keys() >= set(mlk)


def test_day_kind_follows_the_holiday_policy() -> None:
    christmas = dt.date(2026, 12, 25)  # a Friday
    assert BOOK.day_kind(BOOK.rule("AL", christmas), christmas)[0] is DayKind.HOLIDAY
    assert BOOK.day_kind(BOOK.rule("TX", christmas), christmas)[0] is DayKind.WEEKDAY
    assert BOOK.day_kind(None, christmas)[0] is DayKind.WEEKDAY
    ne = BOOK.rule("NE", christmas)
    assert ne is not None
    assert ne.window(DayKind.HOLIDAY) == Window.parse("13:00-21:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fixed:12-25", FixedDate(12, 25)),
        ("nth:01:3:mon", NthWeekday(1, 3, 0)),
        ("nth:05:last:mon", NthWeekday(5, -1, 0)),
        ("date:2026-12-26", OneOff(dt.date(2026, 12, 26))),
    ],
)
def test_parse_date_rule(text: str, expected: object) -> None:
    assert parse_date_rule(text) == expected


@pytest.mark.parametrize(
    "text", ["fixed:13-01", "nth:01:5:mon", "nth:01:1:xyz", "easter", "date:x"]
)
def test_parse_date_rule_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="bad holiday rule"):
        parse_date_rule(text)


def test_memorial_day_is_the_last_monday_of_may() -> None:
    assert NthWeekday(5, -1, 0).on(2026) == dt.date(2026, 5, 25)
    assert NthWeekday(5, -1, 0).on(2027) == dt.date(2027, 5, 31)


def test_one_off_dates_and_custom_calendars() -> None:
    from leadwire.compliance.holiday_calendar import HolidayCalendar, HolidayRule, Observed

    proclaimed = HolidayRule(
        state="LA",
        name="proclaimed",
        rule=OneOff(dt.date(2030, 11, 29)),
        observed=Observed.NONE,
        effective_from=dt.date(2030, 1, 1),
        effective_until=dt.date(2030, 12, 31),
        verification="U",
        note="",
    )
    calendar = HolidayCalendar([proclaimed])
    assert calendar.holidays_on("LA", dt.date(2030, 11, 29)) == ("proclaimed",)
    assert calendar.holidays_on("LA", dt.date(2031, 11, 29)) == ()
    assert book(rule("LA"), holidays=[proclaimed]).calendar.states == {"LA"}


def test_shipped_holiday_rules_load() -> None:
    states = {row.state for row in load_holiday_rules()}
    assert states == {"AL", "LA", "MS", "PA", "RI", "UT", "NE"}
