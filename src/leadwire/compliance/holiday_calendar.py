"""Per-state restricted holidays, as data (`data/holidays.csv`).

Only the states that restrict calls on holidays have rows, and each row says which holiday,
how its date is computed and how it is observed when it falls on a weekend. A restricted day is
closed (or uses the Sunday window, for Nebraska) on the actual date **and** on the observed date:
the sources do not say which of the two the statutes mean, so both are treated as holidays.

Dates are evaluated on the called party's *local* date; this module only answers "is this local
date a restricted holiday in this state", the caller chooses the date.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leadwire.compliance._data import read_rows
from leadwire.compliance.errors import ComplianceDataError

_WEEKDAYS = {
    name: index for index, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
}


class Observed(enum.StrEnum):
    NONE = "none"
    SAT_FRI_SUN_MON = "sat_fri_sun_mon"
    SUN_MON = "sun_mon"


@dataclass(frozen=True, slots=True)
class FixedDate:
    month: int
    day: int

    def on(self, year: int) -> dt.date | None:
        try:
            return dt.date(year, self.month, self.day)
        except ValueError:  # Feb 29 in a common year
            return None


@dataclass(frozen=True, slots=True)
class NthWeekday:
    """The `nth` (1..4, or -1 for the last) `weekday` (0 = Monday) of `month`."""

    month: int
    nth: int
    weekday: int

    def on(self, year: int) -> dt.date | None:
        days = [
            day
            for day in range(1, calendar.monthrange(year, self.month)[1] + 1)
            if dt.date(year, self.month, day).weekday() == self.weekday
        ]
        return dt.date(year, self.month, days[self.nth if self.nth < 0 else self.nth - 1])


@dataclass(frozen=True, slots=True)
class OneOff:
    date: dt.date

    def on(self, year: int) -> dt.date | None:
        return self.date if self.date.year == year else None


DateRule = FixedDate | NthWeekday | OneOff


@dataclass(frozen=True, slots=True)
class HolidayRule:
    state: str
    name: str
    rule: DateRule
    observed: Observed
    effective_from: dt.date
    effective_until: dt.date | None
    verification: str
    note: str

    def dates(self, year: int) -> list[dt.date]:
        """The restricted dates this rule produces that fall in `year` (actual and observed)."""
        found: list[dt.date] = []
        # A Jan 1 that falls on a Saturday is observed on Dec 31 of the year before.
        for source_year in (year - 1, year, year + 1):
            actual = self.rule.on(source_year)
            if actual is None:
                continue
            for day in (actual, _observed(actual, self.observed)):
                if day is not None and day.year == year and self._in_force(day):
                    found.append(day)
        return found

    def _in_force(self, day: dt.date) -> bool:
        if day < self.effective_from:
            return False
        return self.effective_until is None or day <= self.effective_until


def _observed(actual: dt.date, observed: Observed) -> dt.date | None:
    weekday = actual.weekday()
    if observed is Observed.SAT_FRI_SUN_MON and weekday == 5:
        return actual - dt.timedelta(days=1)
    if observed in (Observed.SAT_FRI_SUN_MON, Observed.SUN_MON) and weekday == 6:
        return actual + dt.timedelta(days=1)
    return None


class HolidayCalendar:
    """Restricted holidays per state; lookups are cached per (state, year)."""

    def __init__(self, rules: Iterable[HolidayRule]) -> None:
        by_state: dict[str, list[HolidayRule]] = {}
        for rule in rules:
            by_state.setdefault(rule.state, []).append(rule)
        self._rules: Mapping[str, tuple[HolidayRule, ...]] = {
            state: tuple(items) for state, items in by_state.items()
        }
        self._year = functools.lru_cache(maxsize=1024)(self._compute_year)

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self._rules)

    def rules_for(self, state: str) -> tuple[HolidayRule, ...]:
        return self._rules.get(state, ())

    def holidays_on(self, state: str | None, day: dt.date) -> tuple[str, ...]:
        """Names of the restricted holidays of `state` on the local date `day` (empty if none)."""
        if state is None or state not in self._rules:
            return ()
        return self._year(state, day.year).get(day, ())

    def dates(self, state: str, year: int) -> Mapping[dt.date, tuple[str, ...]]:
        return self._year(state, year)

    def _compute_year(self, state: str, year: int) -> Mapping[dt.date, tuple[str, ...]]:
        names: dict[dt.date, list[str]] = {}
        for rule in self._rules.get(state, ()):
            for day in rule.dates(year):
                names.setdefault(day, []).append(rule.name)
        return {day: tuple(sorted(set(items))) for day, items in names.items()}


def parse_date_rule(text: str) -> DateRule:
    kind, _, spec = text.partition(":")
    try:
        if kind == "fixed":
            month, day = spec.split("-")
            dt.date(2000, int(month), int(day))  # validates, 2000 being a leap year
            return FixedDate(int(month), int(day))
        if kind == "nth":
            month, nth, weekday = spec.split(":")
            position = -1 if nth == "last" else int(nth)
            if position not in (-1, 1, 2, 3, 4) or not 1 <= int(month) <= 12:
                raise ValueError(text)
            return NthWeekday(int(month), position, _WEEKDAYS[weekday])
        if kind == "date":
            return OneOff(dt.date.fromisoformat(spec))
    except (ValueError, KeyError) as exc:
        raise ValueError(f"bad holiday rule {text!r}") from exc
    raise ValueError(f"bad holiday rule {text!r}")


def load_holiday_rules(name: str = "holidays.csv") -> tuple[HolidayRule, ...]:
    rules: list[HolidayRule] = []
    for line, row in read_rows(name):
        try:
            rules.append(
                HolidayRule(
                    state=row["state"].upper(),
                    name=row["holiday"],
                    rule=parse_date_rule(row["rule"]),
                    observed=Observed(row["observed"] or "none"),
                    effective_from=dt.date.fromisoformat(row["effective_from"]),
                    effective_until=(
                        dt.date.fromisoformat(row["effective_until"])
                        if row["effective_until"]
                        else None
                    ),
                    verification=row["ver"],
                    note=row["note"],
                )
            )
        except (KeyError, ValueError) as exc:
            raise ComplianceDataError(f"{name} line {line}: {exc}") from exc
    return tuple(rules)
