"""Rule tables: which of the lead's words point to which intent, urgency, service, value.

Each table maps a label to phrases (a trailing ``*`` marks a stem). Overlapping matches are
resolved longest-first, so negated phrases ("not urgent", "no rush") are listed as phrases of
their own and hide the bare word. The tables are the local enricher's whole knowledge and also
the consistency check the grounding step applies to a model's quotes.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Generic, Literal, TypeVar

from leadwire.leads.enrichment.base import Intent, ServiceCategory, Urgency, ValueSignal
from leadwire.leads.enrichment.text import PhraseMatch, find_matches, normalize, phrase_pattern

L = TypeVar("L", bound=enum.StrEnum)


class RuleTable(Generic[L]):
    """Labelled phrases and how to pick one label when several match.

    ``pick="first"``: the first label in ``precedence`` (default: table order) that matched at
    all wins; used for urgency, so a single "flooding" is never outvoted by "quote" and
    "estimate". ``pick="most"``: the label with the most matched phrases wins, ties going to
    precedence order.
    """

    def __init__(
        self,
        rules: Mapping[L, Sequence[str]],
        *,
        pick: Literal["first", "most"],
        precedence: Sequence[L] | None = None,
    ) -> None:
        self.rules = rules
        self.pick = pick
        self._compiled = [
            (label.value, phrase_pattern(phrase), phrase)
            for label, phrases in rules.items()
            for phrase in phrases
        ]
        self._labels = {label.value: label for label in rules}
        ordered = list(precedence) if precedence is not None else list(rules)
        self._rank = {label.value: i for i, label in enumerate(ordered)}

    def matches(self, text: str) -> list[PhraseMatch]:
        return find_matches(normalize(text), self._compiled)

    def labels_in(self, text: str) -> set[L]:
        """Every label some phrase of `text` supports."""
        return {self._labels[m.label] for m in self.matches(text)}

    def classify(self, text: str) -> tuple[L | None, tuple[str, ...]]:
        """The winning label and the lead's phrases that support it (``None`` if nothing)."""
        found = self.matches(text)
        if not found:
            return None, ()
        if self.pick == "first":
            winner = min({m.label for m in found}, key=self._rank.__getitem__)
        else:
            counts = Counter(m.label for m in found)
            winner = min(counts, key=lambda label: (-counts[label], self._rank[label]))
        normalized = normalize(text)
        evidence = tuple(
            dict.fromkeys(normalized[m.start : m.end] for m in found if m.label == winner)
        )
        return self._labels[winner], evidence


URGENCY = RuleTable[Urgency](
    rules={
        Urgency.LOW: (
            "not urgent",
            "non urgent",
            "not an emergency",
            "no emergency",
            "not in a hurry",
            "no rush",
            "no hurry",
            "whenever",
            "next month",
            "next year",
            "sometime",
            "planning",
            "thinking about",
            "just looking",
            "just curious",
            "in the future",
            "quote",
            "estimate",
            "price*",
        ),
        Urgency.EMERGENCY: (
            "emergency",
            "emergencies",
            "flood*",
            "burst*",
            "gas leak*",
            "smell gas",
            "smells like gas",
            "gas smell",
            "carbon monoxide",
            "co alarm",
            "spark*",
            "burning smell",
            "smell burning",
            "on fire",
            "fire",
            "sewage",
            "no heat",
            "no power",
            "water everywhere",
            "collaps*",
        ),
        Urgency.HIGH: (
            "urgent*",
            "asap",
            "as soon as possible",
            "right away",
            "immediately",
            "today",
            "tonight",
            "same day",
            "not working",
            "stopped working",
            "broken",
            "broke",
            "leak*",
            "no ac",
            "no a c",
            "no air",
            "no hot water",
            "no cooling",
            "not cooling",
            "not heating",
            "clogged",
            "backed up",
            "backing up",
            "locked out",
        ),
        Urgency.MEDIUM: (
            "this week",
            "soon",
            "next few days",
            "in a few days",
            "tomorrow",
            "next week",
            "repair*",
            "fix*",
        ),
    },
    pick="first",
    # The most severe urgency mentioned wins; negations ("not urgent") are LOW phrases that
    # hide the bare word because the longer match wins.
    precedence=(Urgency.EMERGENCY, Urgency.HIGH, Urgency.MEDIUM, Urgency.LOW),
)

SERVICE = RuleTable[ServiceCategory](
    rules={
        ServiceCategory.HVAC: (
            "hvac",
            "ac",
            "a c",
            "air condition*",
            "furnace*",
            "heat pump*",
            "heating",
            "heater",
            "thermostat*",
            "duct*",
            "boiler*",
            "no heat",
            "cooling",
            "mini split*",
        ),
        ServiceCategory.PLUMBING: (
            "plumb*",
            "pipe*",
            "drain*",
            "toilet*",
            "faucet*",
            "sewer*",
            "sewage",
            "water heater*",
            "hot water",
            "clog*",
            "sink*",
            "shower*",
            "garbage disposal*",
            "sump pump*",
            "water line",
        ),
        ServiceCategory.ELECTRICAL: (
            "electric*",
            "outlet*",
            "breaker*",
            "wiring",
            "rewir*",
            "electrical panel",
            "circuit*",
            "light fixture*",
            "generator*",
            "ev charger*",
        ),
        ServiceCategory.ROOFING: ("roof*", "shingle*", "gutter*", "skylight*"),
        ServiceCategory.PEST_CONTROL: (
            "pest*",
            "termite*",
            "roach*",
            "cockroach*",
            "rodent*",
            "mice",
            "rat",
            "rats",
            "bed bug*",
            "ants",
            "wasp*",
            "exterminat*",
        ),
        ServiceCategory.LANDSCAPING: (
            "landscap*",
            "lawn*",
            "tree*",
            "yard*",
            "mowing",
            "irrigation",
            "sprinkler*",
        ),
        ServiceCategory.CLEANING: ("clean*", "maid*", "janitorial"),
        ServiceCategory.APPLIANCE_REPAIR: (
            "appliance*",
            "washer",
            "washing machine",
            "dryer",
            "dishwasher*",
            "refrigerator*",
            "fridge*",
            "oven*",
            "stove*",
        ),
        ServiceCategory.GARAGE_DOOR: ("garage door*",),
        ServiceCategory.LOCKSMITH: ("locksmith*", "locked out", "lockout", "rekey*"),
        ServiceCategory.SOLAR: ("solar",),
        ServiceCategory.REMODELING: ("remodel*", "renovat*", "home addition"),
        ServiceCategory.LEGAL: ("lawyer*", "attorney*", "legal", "lawsuit*", "personal injury"),
        ServiceCategory.INSURANCE: ("insurance", "insure*", "coverage"),
        ServiceCategory.REAL_ESTATE: (
            "realtor*",
            "real estate",
            "sell my house",
            "sell my home",
            "buy a house",
            "buy a home",
        ),
        ServiceCategory.AUTO: (
            "car",
            "vehicle*",
            "auto repair",
            "mechanic*",
            "brake*",
            "tire*",
            "transmission*",
        ),
        ServiceCategory.MEDICAL: ("dentist*", "dental", "doctor*", "clinic*", "teeth", "implant*"),
    },
    pick="most",
)

INTENT = RuleTable[Intent](
    rules={
        Intent.SUPPORT: (
            "warranty",
            "existing customer",
            "already a customer",
            "follow up",
            "my appointment",
            "reschedul*",
            "invoice*",
            "billing",
            "my bill",
            "complaint*",
            "last visit",
        ),
        Intent.BUY: (
            "need",
            "needs",
            "fix*",
            "repair*",
            "install*",
            "replace*",
            "book*",
            "schedul*",
            "come out",
            "send someone",
            "asap",
            "hire",
            "not working",
            "broken",
        ),
        Intent.QUOTE: (
            "quote*",
            "estimate*",
            "price*",
            "pricing",
            "cost*",
            "how much",
            "compare",
            "bid*",
        ),
        Intent.INFO: (
            "question*",
            "info",
            "information",
            "wondering",
            "curious",
            "learn more",
            "details",
        ),
    },
    pick="most",
)

VALUE = RuleTable[ValueSignal](
    rules={
        ValueSignal.LOW: (
            "tune up",
            "check up",
            "inspection",
            "maintenance",
            "cheap*",
            "diy",
            "small job",
            "minor",
        ),
        ValueSignal.HIGH: (
            "commercial",
            "replace*",
            "new system",
            "new unit",
            "new roof",
            "install*",
            "whole house",
            "whole home",
            "entire house",
            "entire home",
            "multiple units",
            "apartment building",
            "office building",
            "property manag*",
            "remodel*",
            "renovat*",
        ),
        ValueSignal.MEDIUM: ("repair*", "fix*", "service", "leak*", "not working", "broken"),
    },
    pick="most",
)

# Dollar amounts the lead mentions ("budget $8,000"): a plain number is not a budget.
_MONEY = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?\s?(k\b)?", re.IGNORECASE)
HIGH_VALUE_USD = 5000
LOW_VALUE_USD = 300


def money_signal(text: str) -> tuple[ValueSignal | None, tuple[str, ...]]:
    """A value signal from the largest dollar amount in `text`, with that amount's text."""
    best: tuple[float, str] | None = None
    for m in _MONEY.finditer(text):
        amount = float(m.group(1).replace(",", "")) * (1000 if m.group(2) else 1)
        if best is None or amount > best[0]:
            best = (amount, m.group(0).strip())
    if best is None:
        return None, ()
    if best[0] >= HIGH_VALUE_USD:
        return ValueSignal.HIGH, (best[1],)
    if best[0] <= LOW_VALUE_USD:
        return ValueSignal.LOW, (best[1],)
    return ValueSignal.MEDIUM, (best[1],)
