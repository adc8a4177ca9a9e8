"""Deterministic urgency from the lead's own words: the floor under AI enrichment.

Phrases are matched case-insensitively on word boundaries (so "no ac" does not fire inside
"no access", nor "leak" inside "bleak"). Negated phrases ("not urgent", "no rush", "not an
emergency") are matched first and blanked out, so the words they contain do not fire again.
The most urgent signal wins (a lead that asks for a quote because the basement is flooding is an
emergency); with no signal the level is `medium`. An urgency given explicitly in the payload wins
over detection, and the signals are still reported as evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import JsonValue

from leadwire.leads.canonical import Urgency

__all__ = [
    "DEFAULT_URGENCY",
    "LeadWords",
    "UrgencyResult",
    "UrgencySignal",
    "detect_urgency",
    "lead_texts",
    "urgency_of",
]

DEFAULT_URGENCY = Urgency.MEDIUM
_MAX_TEXT = 10_000

_NEGATED: tuple[str, ...] = (
    r"not\s+(?:really\s+)?urgent",
    r"not\s+an?\s+emergency",
    r"non[\s-]?emergency",
    r"no\s+emergency",
    r"no\s+rush",
    r"no\s+hurry",
    r"not\s+in\s+a\s+(?:rush|hurry)",
    r"not\s+(?:a\s+)?priority",
)

_RULES: tuple[tuple[Urgency, tuple[str, ...]], ...] = (
    (
        Urgency.EMERGENCY,
        (
            r"emergenc(?:y|ies)",
            r"no\s+(?:heat|heating|heater)",
            r"no\s+(?:ac|a/c|a\.c\.?|air(?:\s+conditioning)?|cooling|cold\s+air)",
            r"no\s+hot\s+water",
            r"no\s+(?:power|electricity)",
            r"leak(?:s|ing|ed|y)?",
            r"flood(?:s|ing|ed)?",
            r"burst(?:s|ing)?",
            r"gas\s+(?:smell|leak|odou?r)",
            r"smell(?:s|ing)?\s+(?:of\s+|like\s+)?gas",
            r"carbon\s+monoxide",
            r"co\s+(?:alarm|detector)\s+(?:is\s+)?(?:going\s+off|beeping)",
            r"sewage\s+back(?:ing)?[\s-]?up|sewer\s+back[\s-]?up",
            r"frozen\s+pipes?",
            r"sparking|electrical\s+fire|burning\s+smell",
            r"water\s+everywhere",
        ),
    ),
    (
        Urgency.HIGH,
        (
            r"asap",
            r"a\.s\.a\.p\.?",
            r"urgent(?:ly)?",
            r"today",
            r"tonight",
            r"right\s+(?:away|now)",
            r"immediately",
            r"as\s+soon\s+as\s+possible",
            r"same[\s-]day",
            r"this\s+(?:morning|afternoon|evening)",
            r"(?:not|stopped)\s+working",
        ),
    ),
    (
        Urgency.MEDIUM,
        (
            r"tomorrow",
            r"this\s+week(?:end)?",
            r"within\s+(?:a|the|one)\s+week",
            r"next\s+(?:few|couple(?:\s+of)?)\s+days",
            r"soon",
            r"schedul(?:e|ed|ing)",
            r"appointment",
        ),
    ),
    (
        Urgency.LOW,
        (
            r"just\s+(?:browsing|looking)",
            r"quotes?",
            r"estimates?",
            r"pric(?:e|es|ing)",
            r"how\s+much",
            r"whenever",
            r"next\s+(?:month|year)",
            r"in\s+the\s+future",
            r"someday|some\s+day",
            r"researching|comparing",
        ),
    ),
)


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    joined = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(rf"(?<!\w)(?:{joined})(?!\w)", re.IGNORECASE)


_NEGATED_RE = _compile(_NEGATED)
_RULE_RES = tuple((level, _compile(patterns)) for level, patterns in _RULES)


@dataclass(frozen=True, slots=True)
class UrgencySignal:
    """One phrase that fired: what it said (lower-cased), its level, and where."""

    phrase: str
    level: Urgency
    field: str


@dataclass(frozen=True, slots=True)
class UrgencyResult:
    level: Urgency
    source: Literal["explicit", "detected", "default"]
    signals: tuple[UrgencySignal, ...]


def _scan(field: str, text: str) -> list[UrgencySignal]:
    text = text[:_MAX_TEXT]
    signals: list[UrgencySignal] = []

    def take(level: Urgency, pattern: re.Pattern[str], current: str) -> str:
        for match in pattern.finditer(current):
            phrase = " ".join(match.group(0).lower().split())
            signals.append(UrgencySignal(phrase=phrase, level=level, field=field))
        # Blank what matched (same length keeps offsets) so no later rule reads it again.
        return pattern.sub(lambda m: " " * len(m.group(0)), current)

    remaining = take(Urgency.LOW, _NEGATED_RE, text)
    for level, pattern in _RULE_RES:
        remaining = take(level, pattern, remaining)
    return signals


def detect_urgency(
    texts: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    explicit: Urgency | None = None,
) -> UrgencyResult:
    """Urgency from `(field, text)` pairs; `explicit` (from the payload) wins when given."""
    pairs = texts.items() if isinstance(texts, Mapping) else texts
    signals: list[UrgencySignal] = []
    seen: set[tuple[str, str]] = set()
    for field, text in pairs:
        for signal in _scan(field, text):
            if (signal.field, signal.phrase) not in seen:
                seen.add((signal.field, signal.phrase))
                signals.append(signal)
    if explicit is not None:
        return UrgencyResult(level=explicit, source="explicit", signals=tuple(signals))
    if not signals:
        return UrgencyResult(level=DEFAULT_URGENCY, source="default", signals=())
    level = max((signal.level for signal in signals), key=lambda u: u.rank)
    return UrgencyResult(level=level, source="detected", signals=tuple(signals))


def _strings(value: JsonValue) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item


def lead_texts(
    *,
    service: str | None,
    message: str | None,
    custom_fields: Mapping[str, JsonValue],
) -> list[tuple[str, str]]:
    """The lead's own words: service, message, and every text custom field (form answers)."""
    pairs: list[tuple[str, str]] = []
    if service:
        pairs.append(("service", service))
    if message:
        pairs.append(("message", message))
    for key, value in custom_fields.items():
        pairs.extend((f"custom_fields.{key}", text) for text in _strings(value))
    return pairs


class LeadWords(Protocol):
    """What urgency reads from a lead: `InboundLead` and `NormalizedLead` both have it."""

    @property
    def service(self) -> str | None: ...

    @property
    def message(self) -> str | None: ...

    @property
    def custom_fields(self) -> Mapping[str, JsonValue]: ...

    @property
    def urgency(self) -> Urgency | None: ...


def urgency_of(lead: LeadWords) -> UrgencyResult:
    """`detect_urgency` over a lead's own words, its explicit urgency winning."""
    texts = lead_texts(service=lead.service, message=lead.message, custom_fields=lead.custom_fields)
    return detect_urgency(texts, explicit=lead.urgency)
