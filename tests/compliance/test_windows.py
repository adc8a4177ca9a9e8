"""Calling windows per state, across weekends, holidays and DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadwire.compliance.holiday_calendar import FixedDate, HolidayRule, Observed
from leadwire.compliance.locate import Candidate, location_tables
from leadwire.compliance.state_rules import Clock, HolidayPolicy, default_rule_book
from leadwire.compliance.windows import (
    DEFAULT_MARGIN,
    NO_MARGIN,
    CallingHours,
    Margin,
    evaluate_window,
    is_open,
    next_open,
)
from tests.compliance.helpers import book, local, rule

BOOK = default_rule_book()
ALWAYS = CallingHours()
MINUTE = dt.timedelta(minutes=1)

ZONE = {
    "AL": "America/Chicago", "CA": "America/Los_Angeles", "CT": "America/New_York",
    "FL": "America/New_York", "GA": "America/New_York", "IL": "America/Chicago",
    "IN": "America/Indiana/Indianapolis", "KY": "America/New_York", "LA": "America/Chicago",
    "ME": "America/New_York", "MD": "America/New_York", "MA": "America/New_York",
    "MI": "America/Detroit", "MN": "America/Chicago", "MS": "America/Chicago",
    "NE": "America/Chicago", "NV": "America/Los_Angeles", "NM": "America/Denver",
    "OK": "America/Chicago", "PA": "America/New_York", "RI": "America/New_York",
    "SD": "America/Chicago", "TN": "America/Chicago", "TX": "America/Chicago",
    "UT": "America/Denver", "WA": "America/Los_Angeles", "WY": "America/Denver",
    "CO": "America/Denver", "MO": "America/Chicago", "NY": "America/New_York",
    "AZ": "America/Phoenix", "HI": "Pacific/Honolulu",
}  # fmt: skip

# Effective local windows (federal floor applied, no margin) in a June week, DST in effect:
# Wednesday 10, Saturday 13, Sunday 14 June 2026. None = no calls that day.
JUNE = {
    "AL": ("08:00-20:00", "08:00-20:00", None),
    "CA": ("09:00-21:00", "09:00-21:00", "09:00-21:00"),
    "CT": ("09:00-20:00", "09:00-20:00", "09:00-20:00"),
    "FL": ("08:00-20:00", "08:00-20:00", "08:00-20:00"),
    "GA": ("08:00-21:00", "08:00-21:00", "08:00-21:00"),
    "IL": ("09:00-21:00", "09:00-21:00", "09:00-21:00"),
    "IN": ("09:00-20:00", "09:00-20:00", "09:00-20:00"),
    "KY": ("10:00-21:00", "10:00-21:00", "10:00-21:00"),
    "LA": ("08:00-20:00", "08:00-20:00", None),
    "ME": ("09:00-17:00", "09:00-17:00", "09:00-17:00"),
    "MD": ("08:00-20:00", "08:00-20:00", "08:00-20:00"),
    "MA": ("08:00-20:00", "08:00-20:00", "08:00-20:00"),
    "MI": ("09:00-21:00", "09:00-21:00", "09:00-21:00"),
    "MN": ("09:00-21:00", "09:00-21:00", "09:00-21:00"),
    "MS": ("09:00-20:00", "09:00-20:00", None),  # "Central Standard Time" read during DST
    "NE": ("08:00-21:00", "08:00-21:00", "13:00-21:00"),
    "NV": ("09:00-20:00", "09:00-20:00", "09:00-20:00"),
    "NM": ("09:00-21:00", "09:00-21:00", "09:00-21:00"),
    "OK": ("08:00-20:00", "08:00-20:00", "08:00-20:00"),
    "PA": ("08:00-21:00", "08:00-21:00", "13:30-21:00"),
    "RI": ("09:00-18:00", "10:00-17:00", None),
    "SD": ("08:00-21:00", "08:00-21:00", None),
    "TN": ("08:00-21:00", "08:00-21:00", "08:00-21:00"),
    "TX": ("09:00-21:00", "09:00-21:00", "12:00-21:00"),
    "UT": ("08:00-21:00", "08:00-21:00", None),
    "WA": ("08:00-20:00", "08:00-20:00", "08:00-20:00"),
    "WY": ("08:00-20:00", "08:00-20:00", "08:00-20:00"),
    "CO": ("08:00-21:00", "08:00-21:00", "08:00-21:00"),
    "MO": ("08:00-21:00", "08:00-21:00", "08:00-21:00"),
    "NY": ("08:00-21:00", "08:00-21:00", "08:00-21:00"),  # not listed: federal only
    "AZ": ("08:00-21:00", "08:00-21:00", "08:00-21:00"),
    "HI": ("08:00-21:00", "08:00-21:00", "08:00-21:00"),
}
JUNE_DAYS = (dt.date(2026, 6, 10), dt.date(2026, 6, 13), dt.date(2026, 6, 14))
CASES = [
    (state, day, windows[index])
    for state, windows in JUNE.items()
    for index, day in enumerate(JUNE_DAYS)
]


def _at(state: str, day: dt.date, hhmm: str) -> dt.datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return local(ZONE[state], day.year, day.month, day.day, hours, minutes)


def _open(state: str, instant: dt.datetime, *, margin: Margin = NO_MARGIN) -> bool:
    return is_open([Candidate(state, ZONE[state])], BOOK, ALWAYS, instant, margin=margin)


@pytest.mark.parametrize(("state", "day", "window"), CASES)
def test_each_state_allows_inside_and_refuses_outside_its_window(
    state: str, day: dt.date, window: str | None
) -> None:
    if window is None:
        for hhmm in ("08:00", "12:00", "14:00", "20:59"):
            assert not _open(state, _at(state, day, hhmm)), hhmm
        return
    start, end = window.split("-")
    assert _open(state, _at(state, day, start))
    assert _open(state, _at(state, day, end) - MINUTE)
    assert not _open(state, _at(state, day, start) - MINUTE)
    assert not _open(state, _at(state, day, end))


# Friday 25 December 2026: holiday-closed states, Nebraska's Sunday window, others as weekdays.
CHRISTMAS = dt.date(2026, 12, 25)
CHRISTMAS_CASES = [
    *[(state, None) for state in ("AL", "LA", "MS", "PA", "RI", "UT")],
    ("NE", "13:00-21:00"),
    ("TX", "09:00-21:00"),
    ("FL", "08:00-20:00"),
    ("SD", "08:00-21:00"),
    ("NY", "08:00-21:00"),
]


@pytest.mark.parametrize(("state", "window"), CHRISTMAS_CASES)
def test_christmas(state: str, window: str | None) -> None:
    if window is None:
        for hhmm in ("08:00", "12:00", "19:00"):
            assert not _open(state, _at(state, CHRISTMAS, hhmm))
        verdict = evaluate_window(
            [Candidate(state, ZONE[state])],
            _at(state, CHRISTMAS, "12:00"),
            rules=BOOK,
            hours=ALWAYS,
        )
        assert verdict.reason == f"state_holiday_{state.lower()}"
        assert verdict.candidates[0].holidays == ("christmas_day",)
        return
    start, end = window.split("-")
    assert _open(state, _at(state, CHRISTMAS, start))
    assert not _open(state, _at(state, CHRISTMAS, start) - MINUTE)
    assert not _open(state, _at(state, CHRISTMAS, end))


def test_mississippi_standard_time_wording() -> None:
    # January: no DST, 08:00-20:00. June: DST, 09:00-20:00 (intersection of both readings).
    assert _open("MS", local(ZONE["MS"], 2026, 1, 14, 8, 0))
    assert not _open("MS", local(ZONE["MS"], 2026, 1, 14, 20, 0))
    assert not _open("MS", local(ZONE["MS"], 2026, 6, 10, 8, 59))
    verdict = evaluate_window(
        [Candidate("MS", ZONE["MS"])],
        local(ZONE["MS"], 2026, 6, 10, 8, 30),
        rules=BOOK,
        hours=ALWAYS,
    )
    assert verdict.reason == "outside_window_ms"


def test_reasons_name_what_closed_the_candidate() -> None:
    def reason(state: str, *args: int, hours: CallingHours = ALWAYS) -> str | None:
        return evaluate_window(
            [Candidate(state, ZONE[state])], local(ZONE[state], *args), rules=BOOK, hours=hours
        ).reason

    assert reason("TX", 2026, 6, 10, 22, 0) == "outside_window"  # federal
    assert reason("TX", 2026, 6, 10, 8, 30) == "outside_window_tx"
    assert reason("AL", 2026, 6, 14, 22, 0) == "sunday_al"  # a closed day beats the hours
    weekdays = CallingHours.parse(start="10:00", end="16:00", days=["mon", "tue", "wed"])
    assert reason("NY", 2026, 6, 10, 9, 0, hours=weekdays) == "outside_tenant_hours"
    assert reason("NY", 2026, 6, 13, 12, 0, hours=weekdays) == "outside_tenant_hours"
    assert reason("NY", 2026, 6, 10, 12, 0, hours=weekdays) is None


def test_closed_day_reason_for_a_weekday_closure() -> None:
    closed_saturdays = book(rule("XX", "09:00-17:00", saturday="-"))
    verdict = evaluate_window(
        [Candidate("XX", "America/New_York")],
        local("America/New_York", 2026, 6, 13, 12, 0),
        rules=closed_saturdays,
        hours=ALWAYS,
    )
    assert verdict.reason == "closed_day_xx"


def _open_at(state: str | None, zone: str, instant: dt.datetime) -> bool:
    return is_open([Candidate(state, zone)], BOOK, ALWAYS, instant, margin=NO_MARGIN)


def test_federal_floor_applies_to_a_wider_state_row_and_to_unknown_states() -> None:
    wide = book(rule("XX", "06:00-23:00"))
    zone = "America/New_York"
    assert not is_open([Candidate("XX", zone)], wide, ALWAYS, local(zone, 2026, 6, 10, 7, 30))
    assert not is_open([Candidate("XX", zone)], wide, ALWAYS, local(zone, 2026, 6, 10, 21, 30))
    assert not _open_at(None, zone, local(zone, 2026, 6, 10, 7, 59))
    assert _open_at(None, zone, local(zone, 2026, 6, 10, 8, 0))


def test_tenant_hours_apply_in_the_callee_local_time() -> None:
    hours = CallingHours.parse(start="09:00", end="17:00", days=["mon", "tue", "wed", "thu", "fri"])
    la = Candidate("CA", "America/Los_Angeles")
    assert is_open(
        [la], BOOK, hours, local("America/Los_Angeles", 2026, 6, 10, 16, 59), margin=NO_MARGIN
    )
    assert not is_open(
        [la], BOOK, hours, local("America/Los_Angeles", 2026, 6, 10, 17, 0), margin=NO_MARGIN
    )
    # The same instant is 19:59 in New York: irrelevant, the callee is in Los Angeles.


def test_margin_shrinks_every_window() -> None:
    tx = [Candidate("TX", ZONE["TX"])]
    assert not is_open(tx, BOOK, ALWAYS, local(ZONE["TX"], 2026, 6, 10, 9, 4))
    assert is_open(tx, BOOK, ALWAYS, local(ZONE["TX"], 2026, 6, 10, 9, 5))
    assert is_open(tx, BOOK, ALWAYS, local(ZONE["TX"], 2026, 6, 10, 20, 49))
    assert not is_open(tx, BOOK, ALWAYS, local(ZONE["TX"], 2026, 6, 10, 20, 50))
    assert Margin(after_open=5, before_close=10) == DEFAULT_MARGIN


def test_no_candidates_is_never_open() -> None:
    assert not is_open([], BOOK, ALWAYS, local("America/New_York", 2026, 6, 10, 12, 0))
    assert next_open([], BOOK, ALWAYS, local("America/New_York", 2026, 6, 10, 12, 0)) is None


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_open([Candidate("TX", ZONE["TX"])], BOOK, ALWAYS, dt.datetime(2026, 6, 10, 12))


# --- several candidates: the strictest combination ------------------------------------------


def test_split_zone_candidates_intersect() -> None:
    # 850 (Florida panhandle): Eastern and Central. FL 08:00-20:00 in both zones means
    # 09:00-20:00 Eastern = 08:00-19:00 Central.
    both = [Candidate("FL", "America/Chicago"), Candidate("FL", "America/New_York")]
    assert not is_open(
        both, BOOK, ALWAYS, local("America/New_York", 2026, 6, 10, 8, 30), margin=NO_MARGIN
    )
    assert is_open(
        both, BOOK, ALWAYS, local("America/New_York", 2026, 6, 10, 9, 0), margin=NO_MARGIN
    )
    assert not is_open(
        both, BOOK, ALWAYS, local("America/Chicago", 2026, 6, 10, 19, 0), margin=NO_MARGIN
    )
    after = local("America/Chicago", 2026, 6, 10, 19, 30)
    assert next_open(both, BOOK, ALWAYS, after, margin=NO_MARGIN) == local(
        "America/New_York", 2026, 6, 11, 9, 0
    )


def test_any_candidate_sunday_ban_closes_the_day() -> None:
    # A TX number whose lead says Alabama: Sunday is closed (AL), Monday opens at 09:00 (TX).
    candidates = [Candidate("AL", "America/Chicago"), Candidate("TX", "America/Chicago")]
    saturday_night = local("America/Chicago", 2026, 6, 13, 21, 30)
    assert next_open(candidates, BOOK, ALWAYS, saturday_night, margin=NO_MARGIN) == local(
        "America/Chicago", 2026, 6, 15, 9, 0
    )


# --- next_open across midnight, weekends, holidays ------------------------------------------


@pytest.mark.parametrize(
    ("state", "after", "expected"),
    [
        # same day, before opening
        ("TX", (2026, 6, 10, 6, 0), (2026, 6, 10, 9, 0)),
        # already open: the instant itself
        ("TX", (2026, 6, 10, 12, 34), (2026, 6, 10, 12, 34)),
        # across midnight
        ("FL", (2026, 6, 10, 20, 0), (2026, 6, 11, 8, 0)),
        # Saturday night to the Sunday window
        ("TX", (2026, 6, 13, 22, 0), (2026, 6, 14, 12, 0)),
        ("PA", (2026, 6, 13, 22, 0), (2026, 6, 14, 13, 30)),
        # over a closed Sunday
        ("UT", (2026, 6, 13, 22, 0), (2026, 6, 15, 8, 0)),
        ("RI", (2026, 6, 13, 17, 0), (2026, 6, 15, 9, 0)),
        # Christmas Friday, then a closed Sunday
        ("AL", (2026, 12, 24, 20, 0), (2026, 12, 26, 8, 0)),
        ("LA", (2026, 12, 24, 20, 0), (2026, 12, 28, 8, 0)),  # 25th, 26th (conservative), Sun
        ("NE", (2026, 12, 25, 9, 0), (2026, 12, 25, 13, 0)),
        # AL observes a Saturday Christmas on Friday 24 Dec 2027 too
        ("AL", (2027, 12, 23, 21, 0), (2027, 12, 27, 8, 0)),
    ],
)
def test_next_open(state: str, after: tuple[int, ...], expected: tuple[int, ...]) -> None:
    zone = ZONE[state]
    got = next_open([Candidate(state, zone)], BOOK, ALWAYS, local(zone, *after), margin=NO_MARGIN)
    assert got == local(zone, *expected)
    assert got is not None
    assert got.tzinfo is dt.UTC
    assert _open(state, got)


def test_next_open_with_tenant_days() -> None:
    weekdays = CallingHours.parse(
        start="10:00", end="18:00", days=["mon", "tue", "wed", "thu", "fri"]
    )
    zone = ZONE["NY"]
    friday_evening = local(zone, 2026, 6, 12, 18, 0)
    got = next_open([Candidate("NY", zone)], BOOK, weekdays, friday_evening)
    assert got == local(zone, 2026, 6, 15, 10, 5)  # Monday, with the 5-minute margin


def test_next_open_gives_up_after_the_horizon() -> None:
    never = CallingHours.parse(start="10:00", end="18:00", days=[])
    zone = ZONE["NY"]
    assert next_open([Candidate("NY", zone)], BOOK, never, local(zone, 2026, 6, 10, 9, 0)) is None
    sundays_only = CallingHours.parse(start="10:00", end="18:00", days=["sun"])
    assert (
        next_open([Candidate("UT", ZONE["UT"])], BOOK, sundays_only, local(zone, 2026, 6, 10))
        is None
    )


# --- DST transitions ---------------------------------------------------------------------------


def test_march_spring_forward() -> None:
    # DST starts Sunday 8 March 2026 at 02:00 local. The Sunday window opens at 08:00 EDT,
    # which is 12:00 UTC (it would be 13:00 UTC the Sunday before).
    ny = [Candidate("NY", "America/New_York")]
    saturday = local("America/New_York", 2026, 3, 7, 21, 30)
    got = next_open(ny, BOOK, ALWAYS, saturday, margin=NO_MARGIN)
    assert got == dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC)
    assert not is_open(ny, BOOK, ALWAYS, got - MINUTE, margin=NO_MARGIN)
    texas = [Candidate("TX", "America/Chicago")]
    got = next_open(
        texas, BOOK, ALWAYS, local("America/Chicago", 2026, 3, 7, 23, 0), margin=NO_MARGIN
    )
    assert got == dt.datetime(2026, 3, 8, 17, 0, tzinfo=dt.UTC)  # 12:00 CDT


def test_november_fall_back() -> None:
    # DST ends Sunday 1 November 2026 at 02:00 local: 08:00 EST = 13:00 UTC.
    ny = [Candidate("NY", "America/New_York")]
    saturday = local("America/New_York", 2026, 10, 31, 22, 0)
    got = next_open(ny, BOOK, ALWAYS, saturday, margin=NO_MARGIN)
    assert got == dt.datetime(2026, 11, 1, 13, 0, tzinfo=dt.UTC)
    assert is_open(
        ny, BOOK, ALWAYS, dt.datetime(2026, 11, 1, 13, 0, tzinfo=dt.UTC), margin=NO_MARGIN
    )
    assert not is_open(
        ny, BOOK, ALWAYS, dt.datetime(2026, 11, 1, 12, 59, tzinfo=dt.UTC), margin=NO_MARGIN
    )
    # 20:59 EST that evening is still open, 21:00 EST (02:00 UTC) is not.
    assert is_open(
        ny, BOOK, ALWAYS, dt.datetime(2026, 11, 2, 1, 59, tzinfo=dt.UTC), margin=NO_MARGIN
    )
    assert not is_open(
        ny, BOOK, ALWAYS, dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC), margin=NO_MARGIN
    )


def test_mississippi_switches_reading_with_dst() -> None:
    ms = [Candidate("MS", "America/Chicago")]
    # Saturday 7 March (CST): opens 08:00. Monday 9 March (CDT): opens 09:00.
    assert is_open(ms, BOOK, ALWAYS, local("America/Chicago", 2026, 3, 7, 8, 0), margin=NO_MARGIN)
    got = next_open(ms, BOOK, ALWAYS, local("America/Chicago", 2026, 3, 7, 21, 0), margin=NO_MARGIN)
    assert got == local("America/Chicago", 2026, 3, 9, 9, 0)
    # Back to standard time: Monday 2 November opens at 08:00 CST again.
    got = next_open(
        ms, BOOK, ALWAYS, local("America/Chicago", 2026, 10, 31, 21, 0), margin=NO_MARGIN
    )
    assert got == local("America/Chicago", 2026, 11, 2, 8, 0)


def test_nonexistent_local_times_open_late() -> None:
    # A (synthetic) 02:30-05:00 window on the spring-forward day: 02:30 never happens, the
    # window is taken to open at the later reading (03:30 EDT) — never before the wall clock
    # has passed 02:30.
    night = book(rule("DEFAULT", "02:30-05:00"))
    ny = [Candidate(None, "America/New_York")]
    start = local("America/New_York", 2026, 3, 8, 0, 0)
    got = next_open(ny, night, ALWAYS, start, margin=NO_MARGIN)
    assert got == dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC)
    assert is_open(ny, night, ALWAYS, got, margin=NO_MARGIN)
    assert not is_open(ny, night, ALWAYS, got - MINUTE, margin=NO_MARGIN)


def test_ambiguous_local_times_open_at_the_second_and_close_at_the_first() -> None:
    # 01:30 happens twice on 1 Nov 2026 (05:30 UTC in EDT, 06:30 UTC in EST).
    night = book(rule("DEFAULT", "01:30-05:00"))
    ny = [Candidate(None, "America/New_York")]
    got = next_open(
        ny, night, ALWAYS, local("America/New_York", 2026, 11, 1, 0, 0), margin=NO_MARGIN
    )
    assert got == dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)
    closing = book(rule("DEFAULT", "00:30-01:30"))
    assert is_open(
        ny, closing, ALWAYS, dt.datetime(2026, 11, 1, 5, 29, tzinfo=dt.UTC), margin=NO_MARGIN
    )
    assert not is_open(
        ny, closing, ALWAYS, dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC), margin=NO_MARGIN
    )
    assert not is_open(
        ny, closing, ALWAYS, dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC), margin=NO_MARGIN
    )


def test_holiday_closed_state_with_custom_calendar_and_sunday_window_policy() -> None:
    jan5 = HolidayRule(
        state="XX", name="test_day", rule=FixedDate(1, 5), observed=Observed.NONE,
        effective_from=dt.date(2000, 1, 1), effective_until=None, verification="U", note="",
    )  # fmt: skip
    zone = "America/New_York"
    closed = book(rule("XX", holidays=HolidayPolicy.CLOSED), holidays=[jan5])
    sunday_window = book(
        rule("XX", sunday="14:00-21:00", holidays=HolidayPolicy.SUNDAY_WINDOW), holidays=[jan5]
    )
    noon = local(zone, 2026, 1, 5, 12, 0)
    assert not is_open([Candidate("XX", zone)], closed, ALWAYS, noon, margin=NO_MARGIN)
    assert not is_open([Candidate("XX", zone)], sunday_window, ALWAYS, noon, margin=NO_MARGIN)
    assert is_open(
        [Candidate("XX", zone)],
        sunday_window,
        ALWAYS,
        local(zone, 2026, 1, 5, 14, 0),
        margin=NO_MARGIN,
    )


def test_standard_clock_rule_in_a_custom_book() -> None:
    cst = book(rule("XX", "08:00-20:00", clock=Clock.LOCAL_AND_STANDARD))
    zone = "America/Denver"
    assert not is_open(
        [Candidate("XX", zone)], cst, ALWAYS, local(zone, 2026, 7, 1, 8, 30), margin=NO_MARGIN
    )
    assert is_open(
        [Candidate("XX", zone)], cst, ALWAYS, local(zone, 2026, 7, 1, 9, 0), margin=NO_MARGIN
    )


# --- properties ---------------------------------------------------------------------------

PAIRS = sorted(
    {
        (state, zone)
        for entry in location_tables().area_codes.values()
        for state in entry.states
        for zone in entry.zones
    }
)
instants = st.datetimes(
    min_value=dt.datetime(2024, 1, 1),
    max_value=dt.datetime(2030, 12, 31),
    timezones=st.just(dt.UTC),
)
tenant_hours = st.one_of(
    st.just(ALWAYS),
    st.builds(
        lambda start, length, days: CallingHours.parse(
            start=f"{start // 60:02d}:{start % 60:02d}",
            end=f"{(start + length) // 60:02d}:{(start + length) % 60:02d}",
            days=days,
        ),
        st.integers(0, 20 * 60).map(lambda minute: minute - minute % 15),
        st.integers(60, 4 * 60),
        st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1),
    ).filter(lambda hours: hours.window.end <= 1440),
)
margins = st.sampled_from([NO_MARGIN, DEFAULT_MARGIN])


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(st.sampled_from(PAIRS), min_size=1, max_size=3, unique=True),
    after=instants,
    hours=tenant_hours,
    margin=margins,
)
def test_next_open_is_open_and_is_the_first(
    pairs: list[tuple[str, str]], after: dt.datetime, hours: CallingHours, margin: Margin
) -> None:
    candidates = [Candidate(state, zone) for state, zone in pairs]
    got = next_open(candidates, BOOK, hours, after, margin=margin)
    if got is None:
        return
    assert got >= after
    assert is_open(candidates, BOOK, hours, got, margin=margin)
    if got - after >= MINUTE:
        assert not is_open(candidates, BOOK, hours, got - MINUTE, margin=margin)


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.sampled_from(PAIRS), min_size=1, max_size=3, unique=True), at=instants)
def test_open_only_inside_eight_to_nine_everywhere(
    pairs: list[tuple[str, str]], at: dt.datetime
) -> None:
    candidates = [Candidate(state, zone) for state, zone in pairs]
    if is_open(candidates, BOOK, ALWAYS, at, margin=NO_MARGIN):
        for _, zone in pairs:
            local_time = at.astimezone(ZoneInfo(zone)).time()
            assert dt.time(8, 0) <= local_time < dt.time(21, 0)
