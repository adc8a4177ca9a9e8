"""Calling windows: is an instant allowed for every candidate, and when is the next one?

For each candidate (state, zone) and each of its *local* dates, three constraints must hold:

* the federal window (`DEFAULT` row, 08:00-21:00) — the floor for every state;
* the state's own row in force that date: weekday/Saturday/Sunday window, holiday closure or
  holiday-uses-Sunday-window, and for Mississippi the "standard time" reading as well;
* the tenant's `calling_hours` (start, end, days). **They are read in the callee's local time**,
  like the statutory windows: "08:00-20:00" means 08:00-20:00 where the phone rings, in every
  candidate zone. The tenant's own `timezone` setting is not used here (it only sets the tenant's
  calendar day for budgets and reports).

An optional safety margin (reference 3.4: start +5 min, end -10 min) shrinks every window so a
call placed near the end, plus ringing, does not cross it.

Each constraint becomes a UTC interval per local date, so `is_open` and `next_open` use the same
intervals and `next_open` always returns an instant that `is_open` accepts. Local times that do
not exist (spring forward) or happen twice (fall back) are resolved conservatively: a window opens
at the *later* of the two readings and closes at the *earlier* one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from leadwire.compliance.locate import Candidate
from leadwire.compliance.state_rules import (
    MINUTES_PER_DAY,
    Clock,
    DayKind,
    RuleBook,
    Window,
    format_clock,
    parse_clock,
)

UTC = dt.UTC
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HORIZON = dt.timedelta(days=14)


@dataclass(frozen=True, slots=True)
class CallingHours:
    """A tenant's own window, applied in the callee's local time (see module docstring)."""

    window: Window = field(default_factory=lambda: Window(0, MINUTES_PER_DAY))
    days: frozenset[int] = frozenset(range(7))  # 0 = Monday

    @classmethod
    def parse(cls, *, start: str, end: str, days: Iterable[str]) -> CallingHours:
        """From the settings shape: `start`/`end` as "HH:MM" (end may be "24:00"), day names."""
        day_numbers = set()
        for name in days:
            key = name.strip().lower()[:3]
            if key not in DAY_NAMES:
                raise ValueError(f"unknown day {name!r}")
            day_numbers.add(DAY_NAMES.index(key))
        return cls(Window(parse_clock(start), parse_clock(end)), frozenset(day_numbers))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> CallingHours:
        """`calling_hours` of the tenant settings; missing keys mean no restriction."""
        if not settings:
            return cls()
        return cls.parse(
            start=str(settings.get("start", "00:00")),
            end=str(settings.get("end", "24:00")),
            days=settings.get("days", DAY_NAMES),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "start": format_clock(self.window.start),
            "end": format_clock(self.window.end),
            "days": [DAY_NAMES[day] for day in sorted(self.days)],
        }


@dataclass(frozen=True, slots=True)
class Margin:
    """Minutes cut from the start and the end of every window."""

    after_open: int = 0
    before_close: int = 0


NO_MARGIN = Margin()
DEFAULT_MARGIN = Margin(after_open=5, before_close=10)


@dataclass(frozen=True, slots=True)
class Interval:
    """Half-open `[start, end)` in UTC."""

    start: dt.datetime
    end: dt.datetime

    def contains(self, instant: dt.datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class Constraint:
    source: str  # "federal" | "state" | "state_standard_clock" | "tenant"
    reason: str  # the reason code when this constraint is what closes the candidate
    window: Window | None  # None: closed all day
    standard_clock: bool = False


@dataclass(frozen=True, slots=True)
class CandidateVerdict:
    candidate: Candidate
    open: bool
    reason: str | None
    local_time: dt.datetime
    day_kind: DayKind
    holidays: tuple[str, ...]
    constraints: tuple[Constraint, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.candidate.state,
            "zone": self.candidate.zone,
            "local_time": self.local_time.isoformat(timespec="minutes"),
            "day_kind": self.day_kind.value,
            "holidays": list(self.holidays),
            "windows": {c.source: _describe(c) for c in self.constraints},
            "open": self.open,
            "reason": self.reason,
        }


def _describe(constraint: Constraint) -> str:
    if constraint.window is None:
        return "closed"
    if constraint.standard_clock:
        return f"{constraint.window} standard time"
    return str(constraint.window)


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    open: bool
    reason: str | None
    candidates: tuple[CandidateVerdict, ...]


def constraints_for(
    candidate: Candidate, day: dt.date, *, rules: RuleBook, hours: CallingHours
) -> tuple[tuple[Constraint, ...], DayKind, tuple[str, ...]]:
    """The constraints on `day` (a local date of the candidate's zone), before any margin."""
    federal_rule = rules.federal(day)
    federal_kind, _ = rules.day_kind(None, day)
    found = [Constraint("federal", "outside_window", federal_rule.window(federal_kind))]
    kind: DayKind = federal_kind
    holidays: tuple[str, ...] = ()
    rule = rules.rule(candidate.state, day)
    if rule is not None:
        kind, holidays = rules.day_kind(rule, day)
        code = rule.state.lower()
        window = rule.window(kind)
        if window is not None:
            reason = f"outside_window_{code}"
        elif kind is DayKind.HOLIDAY:
            reason = f"state_holiday_{code}"
        elif kind is DayKind.SUNDAY:
            reason = f"sunday_{code}"
        else:
            reason = f"closed_day_{code}"
        found.append(Constraint("state", reason, window))
        if rule.clock is Clock.LOCAL_AND_STANDARD and window is not None:
            found.append(Constraint("state_standard_clock", reason, window, standard_clock=True))
    tenant_window = hours.window if day.weekday() in hours.days else None
    found.append(Constraint("tenant", "outside_tenant_hours", tenant_window))
    return tuple(found), kind, holidays


def _wall_to_utc(day: dt.date, minute: int, zone: ZoneInfo, *, later: bool) -> dt.datetime:
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return max(first, second) if later else min(first, second)


def _dst_minutes(day: dt.date, zone: ZoneInfo) -> int:
    # Daylight saving changes at 02:00 local in the US, long before any window opens, so the
    # offset at local noon is the one in force during that day's window.
    offset = dt.datetime.combine(day, dt.time(12), tzinfo=zone).dst()
    return int(offset.total_seconds() // 60) if offset else 0


def _interval(
    constraint: Constraint, day: dt.date, zone: ZoneInfo, margin: Margin
) -> Interval | None:
    window = constraint.window
    if window is None:
        return None
    if constraint.standard_clock:
        # A window stated in standard time reads one DST offset later on the wall clock.
        window = window.shifted(_dst_minutes(day, zone))
        if window is None:
            return None
    start = window.start + margin.after_open
    end = window.end - margin.before_close
    if start >= end:
        return None
    opens = _wall_to_utc(day, start, zone, later=True)
    closes = _wall_to_utc(day, end, zone, later=False)
    return Interval(opens, closes) if opens < closes else None


def _day_interval(
    candidate: Candidate,
    day: dt.date,
    zone: ZoneInfo,
    *,
    rules: RuleBook,
    hours: CallingHours,
    margin: Margin,
) -> Interval | None:
    """The candidate's open interval on one local date: every constraint intersected."""
    constraints, _, _ = constraints_for(candidate, day, rules=rules, hours=hours)
    opens: dt.datetime | None = None
    closes: dt.datetime | None = None
    for constraint in constraints:
        interval = _interval(constraint, day, zone, margin)
        if interval is None:
            return None
        opens = interval.start if opens is None else max(opens, interval.start)
        closes = interval.end if closes is None else min(closes, interval.end)
    if opens is None or closes is None or opens >= closes:
        return None
    return Interval(opens, closes)


def evaluate_candidate(
    candidate: Candidate,
    at: dt.datetime,
    *,
    rules: RuleBook,
    hours: CallingHours,
    margin: Margin = DEFAULT_MARGIN,
) -> CandidateVerdict:
    _require_aware(at)
    zone = ZoneInfo(candidate.zone)
    local = at.astimezone(zone)
    day = local.date()
    constraints, kind, holidays = constraints_for(candidate, day, rules=rules, hours=hours)
    failing = [
        constraint
        for constraint in constraints
        if not ((interval := _interval(constraint, day, zone, margin)) and interval.contains(at))
    ]
    # A day closed outright (Sunday, holiday) explains more than "outside the hours".
    closed_all_day = [constraint for constraint in failing if constraint.window is None]
    culprits = closed_all_day or failing
    return CandidateVerdict(
        candidate=candidate,
        open=not failing,
        reason=culprits[0].reason if culprits else None,
        local_time=local,
        day_kind=kind,
        holidays=holidays,
        constraints=constraints,
    )


def evaluate_window(
    candidates: Sequence[Candidate],
    at: dt.datetime,
    *,
    rules: RuleBook,
    hours: CallingHours,
    margin: Margin = DEFAULT_MARGIN,
) -> WindowVerdict:
    """Open only when every candidate is open; the reason is the first closed candidate's."""
    verdicts = tuple(
        evaluate_candidate(candidate, at, rules=rules, hours=hours, margin=margin)
        for candidate in candidates
    )
    closed = [verdict for verdict in verdicts if not verdict.open]
    return WindowVerdict(
        open=bool(verdicts) and not closed,
        reason=closed[0].reason if closed else None,
        candidates=verdicts,
    )


def is_open(
    candidates: Sequence[Candidate],
    rules: RuleBook,
    tenant_hours: CallingHours,
    at: dt.datetime,
    *,
    margin: Margin = DEFAULT_MARGIN,
) -> bool:
    """True when a call may start at `at` for every candidate (False with no candidates)."""
    return evaluate_window(candidates, at, rules=rules, hours=tenant_hours, margin=margin).open


def next_open(
    candidates: Sequence[Candidate],
    rules: RuleBook,
    tenant_hours: CallingHours,
    after: dt.datetime,
    *,
    margin: Margin = DEFAULT_MARGIN,
    horizon: dt.timedelta = DEFAULT_HORIZON,
) -> dt.datetime | None:
    """The first instant at or after `after` (UTC) when every candidate is open.

    None when no such instant begins within `horizon` (contradictory rules or tenant hours
    that never open); the gate turns that into a `no_window_found` block.
    """
    _require_aware(after)
    if not candidates:
        return None
    after = after.astimezone(UTC)
    deadline = after + horizon
    common: list[Interval] | None = None
    for candidate in candidates:
        zone = ZoneInfo(candidate.zone)
        first_day = after.astimezone(zone).date() - dt.timedelta(days=1)
        last_day = deadline.astimezone(zone).date()
        intervals = []
        day = first_day
        while day <= last_day:
            interval = _day_interval(
                candidate, day, zone, rules=rules, hours=tenant_hours, margin=margin
            )
            if interval is not None and interval.end > after:
                intervals.append(interval)
            day += dt.timedelta(days=1)
        common = intervals if common is None else _intersect(common, intervals)
        if not common:
            return None
    assert common is not None
    for interval in common:
        start = max(interval.start, after)
        if start < interval.end and start <= deadline:
            return start
    return None


def _intersect(left: list[Interval], right: list[Interval]) -> list[Interval]:
    """Intersection of two sorted lists of disjoint intervals."""
    result: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i].start, right[j].start)
        end = min(left[i].end, right[j].end)
        if start < end:
            result.append(Interval(start, end))
        if left[i].end <= right[j].end:
            i += 1
        else:
            j += 1
    return result


def _require_aware(instant: dt.datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")
