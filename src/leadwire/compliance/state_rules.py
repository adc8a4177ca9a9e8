"""State calling rules as versioned data (`data/state_rules.csv`, reference section 7).

A `RuleBook` answers, for a state and a local date, which row is in force (the row with the
latest `effective_from` on or before that date). `DEFAULT` is the federal rule: it is the floor
applied to *every* candidate, listed state or not, so a data row can only narrow the federal
08:00-21:00 window, never widen it.

Windows are half-open `[start, end)` in local wall-clock minutes after midnight.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leadwire.compliance._data import read_rows
from leadwire.compliance.errors import ComplianceDataError
from leadwire.compliance.holiday_calendar import HolidayCalendar, load_holiday_rules

FEDERAL = "DEFAULT"
MINUTES_PER_DAY = 24 * 60


class HolidayPolicy(enum.StrEnum):
    NONE = "0"
    CLOSED = "1"
    SUNDAY_WINDOW = "sun"  # Nebraska: prerecorded calls on holidays follow the Sunday window


class Clock(enum.StrEnum):
    LOCAL = "local"
    # Mississippi states its window in "Central Standard Time": both the local reading and the
    # standard-time reading must allow the call (09:00-20:00 local while DST is in effect).
    LOCAL_AND_STANDARD = "local+standard"


class RecordedMessageRule(enum.StrEnum):
    """What a state says about sales calls made with a recorded/artificial (AI) voice (4.3)."""

    OK = "ok"
    BAN = "ban"
    NEEDS_CONSENT = "needs_consent"
    NEEDS_EBR = "needs_ebr"
    NEEDS_EBR_NO_RECALL = "needs_ebr_no_recall"


class Verification(enum.StrEnum):
    PRIMARY = "P"
    SECONDARY = "S"
    UNVERIFIED = "U"


class DayKind(enum.StrEnum):
    WEEKDAY = "weekday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"
    HOLIDAY = "holiday"


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """Half-open local window `[start, end)` in minutes after midnight (end 1440 = midnight)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"bad window {self.start}-{self.end}")

    @classmethod
    def parse(cls, text: str) -> Window | None:
        """`"08:00-21:00"` -> Window; `"-"` -> None (closed all day)."""
        if text.strip() == "-":
            return None
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"bad window {text!r}")
        return cls(parse_clock(start), parse_clock(end))

    def intersect(self, other: Window) -> Window | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return Window(start, end) if start < end else None

    def shifted(self, minutes: int) -> Window | None:
        """The window moved by `minutes`, clipped to the day (None when nothing is left)."""
        start = max(0, self.start + minutes)
        end = min(MINUTES_PER_DAY, self.end + minutes)
        return Window(start, end) if start < end else None

    def contains(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return f"{format_clock(self.start)}-{format_clock(self.end)}"


def parse_clock(text: str) -> int:
    """`"HH:MM"` -> minutes after midnight; `"24:00"` is accepted as the end of the day."""
    hours, sep, minutes = text.strip().partition(":")
    if not sep or len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(f"bad time {text!r}, expected HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY:
        raise ValueError(f"bad time {text!r}, expected HH:MM")
    return value


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class StateRule:
    state: str
    effective_from: dt.date
    weekday: Window | None
    saturday: Window | None
    sunday: Window | None
    holidays: HolidayPolicy
    cap_24h: int | None
    state_dnc: bool
    clock: Clock
    recorded_message: RecordedMessageRule
    verification: Verification
    note: str

    def window(self, kind: DayKind) -> Window | None:
        """The window for a day of this kind; a holiday follows the row's holiday policy."""
        if kind is DayKind.HOLIDAY:
            if self.holidays is HolidayPolicy.CLOSED:
                return None
            if self.holidays is HolidayPolicy.SUNDAY_WINDOW:
                return self.sunday
            raise ValueError(f"{self.state} has no holiday rule")  # callers classify first
        if kind is DayKind.SATURDAY:
            return self.saturday
        if kind is DayKind.SUNDAY:
            return self.sunday
        return self.weekday


class RuleBook:
    """The state rule rows plus the holiday calendar, queried by state and local date."""

    def __init__(self, rules: Iterable[StateRule], calendar: HolidayCalendar) -> None:
        by_state: dict[str, list[StateRule]] = {}
        for rule in rules:
            by_state.setdefault(rule.state, []).append(rule)
        if FEDERAL not in by_state:
            raise ComplianceDataError("state rules lack the DEFAULT (federal) row")
        self._rows: Mapping[str, tuple[StateRule, ...]] = {
            state: tuple(sorted(rows, key=lambda rule: rule.effective_from))
            for state, rows in by_state.items()
        }
        self.calendar = calendar

    @property
    def states(self) -> frozenset[str]:
        """States with their own rows (DEFAULT excluded)."""
        return frozenset(self._rows) - {FEDERAL}

    def rows(self, state: str) -> tuple[StateRule, ...]:
        return self._rows.get(state, ())

    def federal(self, on: dt.date) -> StateRule:
        rule = self._in_force(FEDERAL, on)
        if rule is None:
            raise ComplianceDataError(f"no federal rule in force on {on}")
        return rule

    def rule(self, state: str | None, on: dt.date) -> StateRule | None:
        """The state's own row in force on `on`, or None when only the federal rule applies."""
        if state is None or state == FEDERAL:
            return None
        return self._in_force(state, on)

    def day_kind(self, rule: StateRule | None, day: dt.date) -> tuple[DayKind, tuple[str, ...]]:
        """How `day` counts for `rule`: a holiday only where the row has a holiday policy."""
        if rule is not None and rule.holidays is not HolidayPolicy.NONE:
            names = self.calendar.holidays_on(rule.state, day)
            if names:
                return DayKind.HOLIDAY, names
        weekday = day.weekday()
        if weekday == 5:
            return DayKind.SATURDAY, ()
        if weekday == 6:
            return DayKind.SUNDAY, ()
        return DayKind.WEEKDAY, ()

    def _in_force(self, state: str, on: dt.date) -> StateRule | None:
        current = None
        for row in self._rows.get(state, ()):
            if row.effective_from > on:
                break
            current = row
        return current


def load_state_rules(name: str = "state_rules.csv") -> tuple[StateRule, ...]:
    rules: list[StateRule] = []
    for line, row in read_rows(name):
        try:
            rules.append(
                StateRule(
                    state=row["state"].upper(),
                    effective_from=dt.date.fromisoformat(row["effective_from"]),
                    weekday=Window.parse(row["mon_fri"]),
                    saturday=Window.parse(row["sat"]),
                    sunday=Window.parse(row["sun"]),
                    holidays=HolidayPolicy(row["hol"] or "0"),
                    cap_24h=int(row["cap_24h"]) if row["cap_24h"] else None,
                    state_dnc=row["dnc"] == "1",
                    clock=Clock(row["clock"] or "local"),
                    recorded_message=RecordedMessageRule(row["recorded_msg"] or "ok"),
                    verification=Verification(row["ver"]),
                    note=row["note"],
                )
            )
        except (KeyError, ValueError) as exc:
            raise ComplianceDataError(f"{name} line {line}: {exc}") from exc
    return tuple(rules)


@functools.cache
def default_rule_book() -> RuleBook:
    """The shipped tables, loaded once per process."""
    return RuleBook(load_state_rules(), HolidayCalendar(load_holiday_rules()))
