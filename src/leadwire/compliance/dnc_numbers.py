"""Parsing Do-Not-Call files into numbers, one line at a time (no storage, no I/O).

Accepted line shapes (reference 2.4, parsed defensively because the registry's exact current
layout is unverified):

* one number a line: `5125550100`, `15125550100`, `+15125550100`, `(512) 555-0100`;
* CSV (comma, tab, semicolon or pipe), the number in the first column, quotes allowed;
* the registry's area-code files: `512,5550100` (area code, then the 7-digit number), possibly
  followed by more fields as in change lists;
* blank lines and `#` comments are skipped, not rejected.

Only North American numbers of a valid shape (area code and exchange not starting with 0 or 1)
are accepted. Each is yielded as the int of its E.164 digits (`15125550100`), which fits an
int64 column. Rejected lines are counted and their line numbers (never their content: they may
hold phone numbers) sampled in the stats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

_NANP_BASE = 10_000_000_000  # "1" followed by ten digits
_FIRST_DIGITS = frozenset("23456789")
_REJECTED_SAMPLE = 20


@dataclass(slots=True)
class DncParseStats:
    """Counts filled in while the generator runs; final once it is exhausted."""

    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0  # blank lines and comments
    rejected_lines: list[int] = field(default_factory=list)  # first few, 1-based


def iter_dnc_numbers(lines: Iterable[str], *, stats: DncParseStats | None = None) -> Iterator[int]:
    """Yield the E.164 digits (as int) of every acceptable line of a DNC file."""
    stats = stats if stats is not None else DncParseStats()
    line_number = 0
    for raw in lines:
        line_number += 1
        text = raw.strip()
        # Fast path: the common one-ten-digit-number-a-line file.
        if len(text) == 10 and text.isdigit() and text.isascii():
            if text[0] in _FIRST_DIGITS and text[3] in _FIRST_DIGITS:
                stats.accepted += 1
                yield _NANP_BASE + int(text)
                continue
            _reject(stats, line_number)
            continue
        number = _parse_slow(text.lstrip("\ufeff"))
        if number is None:
            if not text or text.startswith("#"):
                stats.skipped += 1
            else:
                _reject(stats, line_number)
            continue
        stats.accepted += 1
        yield number
    stats.lines = line_number


def parse_dnc_number(text: str) -> int | None:
    """One number in any accepted shape -> E.164 digits as int, or None."""
    return _parse_slow(text.strip().lstrip("\ufeff"))


# Optional +1/1, area code (maybe in parentheses), then the exchange — after a separator, or a
# comma for the registry's `NPA,NXXXXXX` — and the line number; quotes and further CSV fields
# allowed. ASCII digits only.
_LINE = re.compile(
    r"""['"]?(?:\+1|1)?[\s.-]*\(?([2-9]\d\d)\)?(?:\s*,\s*['"]?|[\s.-]*)"""
    r"""([2-9]\d\d)[\s.-]*(\d{4})['"]?\s*(?:[,;\t|].*)?""",
    re.ASCII,
)


def _parse_slow(text: str) -> int | None:
    if not text or text.startswith("#"):
        return None
    match = _LINE.fullmatch(text)
    if match is None:
        return None
    area, exchange, line = match.groups()
    return _NANP_BASE + int(area) * 10_000_000 + int(exchange) * 10_000 + int(line)


def _reject(stats: DncParseStats, line_number: int) -> None:
    stats.rejected += 1
    if len(stats.rejected_lines) < _REJECTED_SAMPLE:
        stats.rejected_lines.append(line_number)
